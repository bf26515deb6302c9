"""Call history pages (per extension, per hotline), their CSV export (streamed, or prepared in
the background and downloaded from the exports page), the live status poll and the wallboard."""

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import parse_etags
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.views import View

from core.mixins import TenantAdminRequiredMixin, TenantMemberRequiredMixin
from hotlines.selectors import hotline_get

from .call_exports import (
    TooManyExports,
    call_csv_rows,
    call_export_create,
    call_export_get,
    call_export_list,
    call_filters,
    export_path,
    filtered_calls,
    fits_inline,
)
from .call_records import call_records_import
from .call_tables import call_filter_fields, call_rows
from .choices import ExportStatus
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


def _export(request, queryset, name: str, *, hotline=None, extension=None) -> HttpResponseBase:
    """The CSV of the page's calls: streamed now when it is small (CALL_EXPORT_INLINE_ROWS),
    otherwise queued for the worker, and the user sent to the exports page (sip.call_exports)."""
    call_records_import()
    rows = filtered_calls(queryset, request.GET)
    if fits_inline(rows):
        response = StreamingHttpResponse(call_csv_rows(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{get_valid_filename(name)}"'
        response["Cache-Control"] = "no-store"
        return response
    try:
        job = call_export_create(
            user=request.user,
            filters=call_filters(request.GET),
            filename=get_valid_filename(name),
            hotline=hotline,
            extension=extension,
        )
    except TooManyExports:
        messages.warning(
            request,
            _("You already have %(count)s exports in progress. Wait for one of them to finish.")
            % {"count": settings.CALL_EXPORT_MAX_ACTIVE},
        )
        return redirect("calls:export_list")
    messages.info(
        request,
        _(
            "More than %(rows)s calls: the file is being prepared in the background. "
            "It will be ready to download here; you may leave this page."
        )
        % {"rows": formats.number_format(settings.CALL_EXPORT_INLINE_ROWS, force_grouping=True)},
    )
    return redirect(f"{reverse('calls:export_list')}#export-{job.pk}")


class ExtensionCallsExportView(TenantMemberRequiredMixin, View):
    def get(self, request, pk):
        extension = call_extension_get(user=request.user, pk=pk)
        return _export(
            request,
            call_list(user=request.user, extension=extension),
            f"calls-{extension.number}.csv",
            extension=extension,
        )


class HotlineCallsExportView(TenantAdminRequiredMixin, View):
    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        return _export(
            request,
            call_list(user=request.user, hotline=hotline),
            f"calls-{hotline.number}.csv",
            hotline=hotline,
        )


class CallExportListView(TenantMemberRequiredMixin, View):
    """Exports prepared in the background (Xuất dữ liệu): a tenant admin sees the tenant's, an
    agent their own. While one is queued or running the page reloads itself every few seconds."""

    def get(self, request):
        exports = list(call_export_list(user=request.user)[:100])
        return render(
            request,
            "calls/export_list.html",
            {
                "exports": [(job, _filter_labels(job.filters)) for job in exports],
                "refresh": any(job.active for job in exports),
                "retention_hours": round(settings.CALL_EXPORT_RETENTION_HOURS),
            },
        )


def _filter_labels(filters: dict) -> list[tuple[str, str]]:
    """A job's filters as the history page names them ("Result: Busy")."""
    labels = []
    for name, value in filters.items():
        field = CallFilterSet.base_filters.get(name)
        choices = dict(getattr(field, "extra", {}).get("choices", ())) if field is not None else {}
        labels.append((str(field.label) if field is not None else name, str(choices.get(value, value))))
    return labels


class CallExportDownloadView(TenantMemberRequiredMixin, View):
    def get(self, request, pk):
        return export_download(call_export_get(user=request.user, pk=pk))


def export_download(job) -> FileResponse:
    """A finished export's file, as an attachment nobody keeps (the page's and the API's)."""
    if job.status != ExportStatus.DONE:
        raise Http404
    try:
        handle = open(export_path(job), "rb")  # noqa: SIM115 — FileResponse closes it
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle, as_attachment=True, filename=job.filename, content_type="text/csv; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    return response


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
