"""Call history pages (per extension, per hotline), their CSV export, the live status poll
and the wallboard."""

import csv
from collections.abc import Iterator

from django.http import HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.http import parse_etags
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.views import View

from core.mixins import TenantAdminRequiredMixin, TenantMemberRequiredMixin
from hotlines.selectors import hotline_get

from .call_records import call_records_import
from .call_tables import call_filter_fields, call_rows
from .choices import CallDirection, Disposition
from .filtersets import CallFilterSet
from .history import CALL_COLUMNS, call_extension_get, call_list, keyset_page
from .live import cached_status_snapshot, presence_sync, status_snapshot

PAGE_SIZE = 50


def _history(request, queryset, context: dict):
    call_records_import()
    filterset = CallFilterSet(request.GET, queryset=queryset)
    rows = filterset.qs if filterset.is_valid() else queryset
    page = keyset_page(rows, cursor=request.GET.get("after", ""), size=PAGE_SIZE, columns=CALL_COLUMNS)
    query = request.GET.copy()
    query.pop("after", None)
    return render(
        request,
        "calls/call_list.html",
        {
            **context,
            "filterset": filterset,
            "page": page,
            "rows": call_rows(page.object_list),
            "filter_fields": call_filter_fields(filterset.form),
            "query": query.urlencode(),
            "tab": "calls",
        },
    )


class ExtensionCallsView(TenantMemberRequiredMixin, View):
    """An extension's calls (made and received): its agent, its supervisor's agent, admins."""

    def get(self, request, pk):
        extension = call_extension_get(user=request.user, pk=pk)
        return _history(
            request,
            call_list(user=request.user, extension=extension),
            {"extension": extension, "export_url_kwargs": {"pk": extension.pk}},
        )


class HotlineCallsView(TenantAdminRequiredMixin, View):
    """A hotline's calls."""

    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        return _history(request, call_list(user=request.user, hotline=hotline), {"hotline": hotline})


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(queryset) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # Excel opens UTF-8 (Vietnamese names) only with a BOM
    yield writer.writerow(
        [
            _("Started at"),
            _("Caller"),
            _("Callee"),
            _("Direction"),
            _("Caller ID"),
            _("Result"),
            _("Reason"),
            _("Answered at"),
            _("Ended at"),
            _("Duration (seconds)"),
        ]
    )
    tz = timezone.get_current_timezone()
    directions = {value: str(label) for value, label in CallDirection.choices}
    results = {value: str(label) for value, label in Disposition.choices}

    def when(value):
        return value.astimezone(tz).isoformat(timespec="seconds") if value else ""

    # Tuples, labels looked up once: a model instance and two get_…_display() a row were most
    # of the export's time (docs/performance.md, "Call history").
    columns = ("started_at", "caller", "callee", "direction", "caller_id", "disposition", "reason")
    rows = queryset.values_list(*columns, "answered_at", "ended_at", "duration")
    for (
        started,
        caller,
        callee,
        direction,
        caller_id,
        disposition,
        reason,
        answered,
        ended,
        duration,
    ) in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                when(started),
                caller,
                callee,
                directions.get(direction, direction),
                caller_id,
                results.get(disposition, disposition),
                reason,
                when(answered),
                when(ended),
                duration,
            ]
        )


def _export(request, queryset, name: str) -> StreamingHttpResponse:
    call_records_import()
    filterset = CallFilterSet(request.GET, queryset=queryset)
    rows = filterset.qs if filterset.is_valid() else queryset
    response = StreamingHttpResponse(_csv_rows(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{get_valid_filename(name)}"'
    response["Cache-Control"] = "no-store"
    return response


class ExtensionCallsExportView(TenantMemberRequiredMixin, View):
    def get(self, request, pk):
        extension = call_extension_get(user=request.user, pk=pk)
        return _export(
            request, call_list(user=request.user, extension=extension), f"calls-{extension.number}.csv"
        )


class HotlineCallsExportView(TenantAdminRequiredMixin, View):
    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        return _export(request, call_list(user=request.user, hotline=hotline), f"calls-{hotline.number}.csv")


class HotlineStatusView(TenantAdminRequiredMixin, View):
    """What open pages poll every second (static/js/live.js): each extension's registration,
    call in progress and offline alert; 304 when the page's copy (If-None-Match) is current.
    The snapshot is shared by the hotline's open pages for a moment (sip/live.py: its cost)."""

    def get(self, request, hotline_pk):
        snapshot = cached_status_snapshot(hotline_pk=hotline_pk)
        if snapshot is None or snapshot.tenant_id != self.tenant_id:
            snapshot = status_snapshot(hotline=hotline_get(user=request.user, pk=hotline_pk, counts=False))
        # The browser keeps the answer but asks again each time (no-cache), with its ETag.
        headers = {"ETag": snapshot.etag, "Cache-Control": "private, no-cache"}
        known = {tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))}
        if snapshot.etag in known:
            return HttpResponseNotModified(headers=headers)
        return HttpResponse(snapshot.body, content_type="application/json", headers=headers)


class WallboardView(TenantAdminRequiredMixin, View):
    """A hotline's wallboard: who is online, who is on a call, since when; live."""

    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        statuses = presence_sync(hotline=hotline)
        aliases = dict(hotline.extensions.values_list("pk", "alias"))
        rows = sorted(statuses, key=lambda s: (len(s.number), s.number))
        return render(
            request,
            "calls/wallboard.html",
            {
                "hotline": hotline,
                "rows": [(s, aliases.get(s.extension_id, "")) for s in rows],
                "tab": "wallboard",
                "now": formats.date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT"),
            },
        )
