"""Bulk pages of "Quản lý máy lẻ": a range of extensions, CSV import/export, bulk edit and
bulk password regeneration. Each parses input, calls a service of `extensions.services.bulk` /
`extensions.imports`, and shows what will change before anything does."""

import logging
import re
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.debug import sensitive_variables

from core.guard import RevealRefused
from core.mixins import TenantAdminRequiredMixin
from core.views import guard_refused_redirect
from hotlines.selectors import hotline_choices, hotline_get, number_group_choices

from . import imports, provisioning
from .bulk_forms import BulkEditForm, ImportUploadForm, RangeCreateForm, SelectionForm
from .provisioning_views import setup_context
from .selectors import import_job_get, import_job_list
from .services import bulk

logger = logging.getLogger(__name__)

PROGRESS_TOKEN_RE = re.compile(r"[0-9a-f]{32}")
IMPORT_ROWS_PER_PAGE = 500  # of the preview: every row is listed, 500 to a page
PROGRESS_SECONDS = 15 * 60


def _list_url(hotline) -> str:
    return reverse("extensions:extension_list", kwargs={"hotline_pk": hotline.pk})


def _split_errors(form, exc: ValidationError) -> list[tuple[str, list[str]]]:
    """Errors about the form's fields go on the form; errors per extension number are
    returned for a table of their own."""
    per_number = []
    for key, errors in exc.message_dict.items():
        if key in form.fields:
            form.add_error(key, errors)
        elif key == NON_FIELD_ERRORS or not key.isdigit():
            form.add_error(None, errors)
        else:
            per_number.append((key, errors))
    return per_number


# --- progress of a long request, polled by static/js/bulk.js ------------------------------------


def progress_reporter(*, user, token: str):
    """A callback that records a long request's progress under `token` (a random value the
    form carried) for this user only, or None without a valid token."""
    if not PROGRESS_TOKEN_RE.fullmatch(token or ""):
        return None
    key = f"import-progress:{user.pk}:{token}"

    def report(phase: str, done: int, total: int) -> None:
        # Only a progress bar: without Redis the import goes on and the bar stays still.
        try:
            cache.set(key, {"phase": phase, "done": done, "total": total}, PROGRESS_SECONDS)
        except Exception as error:  # noqa: BLE001 - whatever the cache's failure
            logger.warning("Import progress not recorded (%s).", error)

    return report


def _progress_reporter(request):
    return progress_reporter(user=request.user, token=request.POST.get("progress", ""))


class ImportProgressView(TenantAdminRequiredMixin, View):
    """GET ?token=…: JSON for the progress bar, {phase, label, done, total, percent}; 404
    while nothing was reported under that token by this user, 503 while the cache is down."""

    def get(self, request):
        token = request.GET.get("token", "")
        state = None
        if PROGRESS_TOKEN_RE.fullmatch(token):
            try:
                state = cache.get(f"import-progress:{request.user.pk}:{token}")
            except Exception as error:  # noqa: BLE001
                logger.warning("Import progress not read (%s).", error)
                return JsonResponse({"detail": _("No progress to show right now.")}, status=503)
        if state is None:
            return JsonResponse({"detail": _("No progress to show yet.")}, status=404)
        labels = {"checking": _("Checking rows…"), "writing": _("Writing…")}
        total = state["total"]
        percent = round(100 * state["done"] / total) if total else 0
        response = JsonResponse({**state, "label": labels.get(state["phase"], ""), "percent": percent})
        response["Cache-Control"] = "no-store"
        return response


# --- range create -------------------------------------------------------------------------------


class ExtensionRangeCreateView(TenantAdminRequiredMixin, View):
    """ "Tạo dải máy lẻ": e.g. 100–199 as sale100…sale199, one transaction."""

    template_name = "extensions/bulk/range_form.html"

    def form(self, hotline, data=None) -> RangeCreateForm:
        return RangeCreateForm(
            data,
            hotline=hotline,
            hotlines=hotline_choices(tenant_id=hotline.tenant_id),
            groups=number_group_choices(tenant_id=hotline.tenant_id),
        )

    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        return render(request, self.template_name, {"form": self.form(hotline), "hotline": hotline})

    def post(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        form = self.form(hotline, request.POST)
        per_number = []
        if form.is_valid():
            try:
                created = bulk.extension_range_create(hotline=hotline, **form.cleaned_data)
            except ValidationError as exc:
                per_number = _split_errors(form, exc)
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(count)d extension was created (%(first)s–%(last)s).",
                        "%(count)d extensions were created (%(first)s–%(last)s).",
                        len(created),
                    )
                    % {"count": len(created), "first": created[0].number, "last": created[-1].number},
                )
                return redirect(_list_url(hotline))
        return render(
            request,
            self.template_name,
            {"form": form, "hotline": hotline, "per_number": per_number},
            status=400,
        )


# --- bulk edit and bulk password regeneration ----------------------------------------------------


class ExtensionBulkEditView(TenantAdminRequiredMixin, View):
    """POST only, in three steps: the ticked extensions → what to change → the confirmation
    page listing every change → applied in one transaction."""

    template_name = "extensions/bulk/bulk_edit.html"
    http_method_names = ["post"]

    def post(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        step = request.POST.get("step", "")
        groups = number_group_choices(tenant_id=hotline.tenant_id)
        if step not in ("preview", "apply"):  # coming from the list page: ask what to change
            selection = SelectionForm(request.POST, hotline=hotline)
            if not selection.is_valid():
                messages.error(request, " ".join(selection.errors.get("pk", [])))
                return redirect(_list_url(hotline))
            form = BulkEditForm(initial={"pk": selection.cleaned_data["pk"]}, hotline=hotline, groups=groups)
            return render(
                request,
                self.template_name,
                {"form": form, "hotline": hotline, "selected": selection.cleaned_data["pk"]},
            )
        form = BulkEditForm(request.POST, hotline=hotline, groups=groups)
        context = {"form": form, "hotline": hotline}
        if not form.is_valid():
            if "pk" in form.errors:
                messages.error(request, " ".join(form.errors["pk"]))
                return redirect(_list_url(hotline))
            context["selected"] = form.cleaned_data.get("pk", [])
            return render(request, self.template_name, context, status=400)
        selected = form.cleaned_data["pk"]
        context["selected"] = selected
        try:
            if step == "preview":
                context["plan"] = bulk.preview_bulk_update(extensions=selected, data=form.changes())
                return render(request, "extensions/bulk/bulk_edit_confirm.html", context)
            changed = bulk.extension_bulk_update(extensions=selected, data=form.changes())
        except ValidationError as exc:
            context["per_number"] = _split_errors(form, exc)
            return render(request, self.template_name, context, status=400)
        messages.success(
            request,
            ngettext("%(count)d extension was changed.", "%(count)d extensions were changed.", len(changed))
            % {"count": len(changed)},
        )
        return redirect(_list_url(hotline))


class ExtensionBulkRegenerateView(TenantAdminRequiredMixin, View):
    """POST only: the ticked extensions → confirmation page → new passwords for all of them.
    The passwords are not shown here; the login-info pages and the export with passwords
    (both behind the reveal guard) show them."""

    template_name = "extensions/bulk/regenerate_confirm.html"
    http_method_names = ["post"]

    @method_decorator(sensitive_variables())
    def post(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        selection = SelectionForm(request.POST, hotline=hotline)
        if not selection.is_valid():
            messages.error(request, " ".join(selection.errors.get("pk", [])))
            return redirect(_list_url(hotline))
        selected = selection.cleaned_data["pk"]
        if request.POST.get("step") != "apply":
            return render(
                request, self.template_name, {"form": selection, "hotline": hotline, "selected": selected}
            )
        try:
            done = bulk.extension_bulk_regenerate_passwords(extensions=selected)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(_list_url(hotline))
        messages.success(
            request,
            ngettext(
                "%(count)d extension has a new password; its phone must sign in with it.",
                "%(count)d extensions have new passwords; their phones must sign in with them.",
                len(done),
            )
            % {"count": len(done)},
        )
        return redirect(_list_url(hotline))


class ExtensionOnboardingView(TenantAdminRequiredMixin, View):
    """ "Gửi thông tin đăng nhập": the ticked extensions → confirmation → a printable sheet of
    one card per extension with a fresh one-time phone-setup link and its QR code. One bulk
    operation of the guard (a sign-in within 5 minutes, the bulk budget), audited with its
    count; the links are made in one transaction (extensions.provisioning)."""

    http_method_names = ["post"]

    def post(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        selection = SelectionForm(request.POST, hotline=hotline)
        if not selection.is_valid():
            messages.error(request, " ".join(map(str, selection.errors.get("pk", []))))
            return redirect(_list_url(hotline))
        selected = selection.cleaned_data["pk"]
        disabled = [e for e in selected if not e.enabled]
        context = {
            "form": selection,
            "hotline": hotline,
            "selected": selected,
            "disabled": disabled,
            "provisioning_hours": settings.PROVISIONING_LINK_HOURS,
        }
        if request.POST.get("step") != "apply":
            return render(request, "extensions/bulk/onboarding_confirm.html", context)
        try:
            issued = provisioning.provisioning_links_create_many(
                hotline=hotline, extensions=selected, user=request.user, session=request.session
            )
        except RevealRefused as exc:
            return guard_refused_redirect(request, exc, back=_list_url(hotline))
        context["cards"] = [
            {"extension": i.link.extension, **setup_context(request, i.link.extension, i)} for i in issued
        ]
        response = render(request, "extensions/bulk/onboarding_sheet.html", context)
        response["Cache-Control"] = "no-store"
        return response


# --- CSV export and import ----------------------------------------------------------------------


def _export_language(request) -> str | None:
    """`language=vi` (or `en`): headers and values as the dashboard shows them in that language;
    absent: the column codes (what scripts and the API read)."""
    language = request.GET.get("language") or request.POST.get("language") or ""
    return language if language in dict(settings.LANGUAGES) else None


def _csv_response(
    rows, *, hotline, with_passwords: bool, language: str | None = None
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        imports.iter_export_csv(rows, with_passwords=with_passwords, language=language),
        content_type="text/csv; charset=utf-8",
    )
    suffix = "-with-passwords" if with_passwords else ""
    filename = get_valid_filename(f"extensions-{hotline.number}{suffix}.csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


class ExtensionExportView(TenantAdminRequiredMixin, View):
    """GET: every extension of the hotline as CSV, without passwords. POST: with passwords,
    through the reveal guard (recent sign-in, rate limit) and audited per extension."""

    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        return _csv_response(
            imports.export_rows(hotline=hotline),
            hotline=hotline,
            with_passwords=False,
            language=_export_language(request),
        )

    @method_decorator(sensitive_variables())
    def post(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        try:
            rows = imports.export_rows_with_passwords(
                hotline=hotline, user=request.user, session=request.session
            )
        except RevealRefused as exc:
            return guard_refused_redirect(
                request, exc, back=reverse("extensions:extension_import", kwargs={"hotline_pk": hotline.pk})
            )
        return _csv_response(rows, hotline=hotline, with_passwords=True, language=_export_language(request))


class ExtensionImportView(TenantAdminRequiredMixin, View):
    """ "Nhập máy lẻ từ CSV": upload → every row checked (dry run) → preview page."""

    template_name = "extensions/bulk/import_form.html"

    def context(self, request, hotline, form) -> dict:
        return {
            "form": form,
            "hotline": hotline,
            "columns": [(c, imports.csvio.column_label(c)) for c in imports.csvio.KNOWN_COLUMNS],
            "labels": {c: imports.csvio.column_label(c) for c in imports.csvio.KNOWN_COLUMNS},
            "permission_names": imports.csvio.call_permission_names(),
            "max_rows": imports.csvio.MAX_ROWS,
            "max_mb": imports.csvio.MAX_BYTES // 1024 // 1024,
            "jobs": import_job_list(user=request.user, hotline=hotline)[:10],
            "progress_token": uuid.uuid4().hex,
        }

    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        return render(request, self.template_name, self.context(request, hotline, ImportUploadForm()))

    @method_decorator(sensitive_variables())
    def post(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = imports.import_job_create(
                    hotline=hotline,
                    user=request.user,
                    filename=upload.name,
                    data=upload.read(),
                    progress=_progress_reporter(request),
                )
            except ValidationError as exc:
                form.add_error("file", exc.message_dict.get("file", exc.messages))
            else:
                return redirect("extensions:import_job", pk=job.pk)
        return render(request, self.template_name, self.context(request, hotline, form), status=400)


class ImportJobView(TenantAdminRequiredMixin, View):
    """The preview of an upload (every row and what applying does), or what it did."""

    template_name = "extensions/bulk/import_job.html"

    def get(self, request, pk):
        job = import_job_get(user=request.user, pk=pk)
        result = imports.ImportResult.from_dict(job.summary)
        only = request.GET.get("only", "")
        rows = [row for row in result.rows if not only or row.action == only]
        query = request.GET.copy()
        query.pop("page", None)
        page = Paginator(rows, IMPORT_ROWS_PER_PAGE).get_page(request.GET.get("page"))
        for row in page:  # columns and values as the page's language names them
            row.changes = imports.csvio.shown_changes(row.changes)
        return render(
            request,
            self.template_name,
            {
                "job": job,
                "hotline": job.hotline,
                "result": result,
                "counts": result.counts,
                "page": page,
                "query": query.urlencode(),
                "only": only,
                "progress_token": uuid.uuid4().hex,
            },
        )


class ImportJobApplyView(TenantAdminRequiredMixin, View):
    """POST: apply the checked upload, all or nothing."""

    http_method_names = ["post"]

    @method_decorator(sensitive_variables())
    def post(self, request, pk):
        job = import_job_get(user=request.user, pk=pk)
        try:
            result = imports.import_job_apply(
                job=job, progress=_progress_reporter(request), user=request.user, session=request.session
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("extensions:import_job", pk=job.pk)
        except RevealRefused as exc:
            return guard_refused_redirect(
                request, exc, back=reverse("extensions:import_job", kwargs={"pk": job.pk})
            )
        if result.applied:
            counts = result.counts
            messages.success(
                request,
                _("Imported: %(create)d created, %(update)d updated, %(unchanged)d unchanged.") % counts,
            )
        else:
            messages.error(
                request,
                _(
                    "Nothing was imported: the file no longer passes the "
                    "checks (see the errors below). Fix it and upload it again."
                ),
            )
        return redirect("extensions:import_job", pk=job.pk)
