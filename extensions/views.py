from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from core.forms import add_service_errors
from core.guard import ReauthenticationRequired, RevealRefused
from core.mixins import TenantAdminRequiredMixin, TenantMemberRequiredMixin
from core.pagination import OneQueryPaginator
from hotlines.models import NumberGroup
from hotlines.selectors import hotline_choices, hotline_get
from sip.controls import CountersUnavailable, call_counters, call_limits_lift
from sip.selectors import contacts_for, with_offline_alert, with_online_status

from . import services
from .forms import ExtensionCreateForm, ExtensionFilterForm, ExtensionUpdateForm
from .models import Extension
from .selectors import extension_get, extension_get_for_form, extension_table, split_ids

PAGE_SIZE = 50


def _form_kwargs(hotline, extension=None) -> dict:
    return {
        "hotline": hotline,
        "hotlines": hotline_choices(tenant_id=hotline.tenant_id),
        "groups": NumberGroup.objects.filter(tenant_id=hotline.tenant_id).order_by("name"),
    }


class ExtensionListView(TenantAdminRequiredMixin, View):
    """ "Quản lý máy lẻ": a hotline's extensions, searchable, filterable, paginated."""

    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk, counts=False)
        filter_form = ExtensionFilterForm(request.GET)
        rows = with_offline_alert(
            with_online_status(
                filter_form.filter(extension_table(user=request.user, hotline=hotline)), hotline=hotline
            )
        )
        page = OneQueryPaginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(
            request,
            "extensions/extension_list.html",
            {
                "hotline": hotline,
                "filter_form": filter_form,
                "filter_errors": filter_form.errors,
                "page": page,
                "query": query.urlencode(),
                "tab": "extensions",
            },
        )


class ExtensionCreateView(TenantAdminRequiredMixin, View):
    """ "Tạo máy lẻ"."""

    template_name = "extensions/extension_form.html"

    @staticmethod
    def refused(request, form, refused: RevealRefused, context: dict):
        """The guard refused the password the admin chose: the form comes back with every other
        value kept, the reason, and (for an old sign-in) a link to confirm the password."""
        form.add_error("password", refused.message)
        if isinstance(refused, ReauthenticationRequired):
            context["reauth_url"] = f"{reverse('confirm_password')}?{urlencode({'next': request.path})}"
        response = render(request, "extensions/extension_form.html", context, status=refused.status_code)
        if refused.retry_after:
            response["Retry-After"] = str(refused.retry_after)
        return response

    def get(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk)
        form = ExtensionCreateForm(**_form_kwargs(hotline))
        return render(request, self.template_name, {"form": form, "hotline": hotline})

    @method_decorator(sensitive_post_parameters("password"))
    @method_decorator(sensitive_variables())
    def post(self, request, hotline_pk):
        hotline = hotline_get(user=request.user, pk=hotline_pk)
        form = ExtensionCreateForm(request.POST, **_form_kwargs(hotline))
        if form.is_valid():
            try:
                extension = services.extension_create(
                    hotline=hotline, **form.cleaned_data, user=request.user, session=request.session
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            except RevealRefused as exc:
                return self.refused(request, form, exc, {"form": form, "hotline": hotline})
            else:
                messages.success(
                    request, _("Extension %(number)s was created.") % {"number": extension.number}
                )
                return redirect("extensions:extension_detail", pk=extension.pk)
        return render(request, self.template_name, {"form": form, "hotline": hotline}, status=400)


class ExtensionDetailView(TenantMemberRequiredMixin, View):
    """An extension and its login info panel; the password shows only after a POST (reveal)."""

    template_name = "extensions/extension_detail.html"

    def get_extension(self, request, pk) -> Extension:
        return extension_get(user=request.user, pk=pk)

    def get(self, request, pk):
        extension = self.get_extension(request, pk)
        return render(request, self.template_name, self.context(extension))

    def context(self, extension, credentials=None) -> dict:
        is_admin = self.membership.is_admin
        return {
            "extension": extension,
            "hotline": extension.hotline,
            "credentials": credentials,
            "credentials_text": credentials.as_text() if credentials else "",
            "supervised": list(extension.supervised.order_by("number")),
            "registrations": contacts_for(extension),
            "language_next": reverse("extensions:extension_detail", kwargs={"pk": extension.pk}),
            "is_admin": is_admin,
            "visible_seconds": settings.REVEAL_VISIBLE_SECONDS,
            "provisioning_hours": settings.PROVISIONING_LINK_HOURS,
            "share_links": list(extension.share_links.select_related("created_by")[:10]) if is_admin else [],
            **self.controls_context(extension, is_admin=is_admin),
        }

    def controls_context(self, extension, *, is_admin: bool) -> dict:
        """The controls on calls out: the schedule that applies, the limits and, for admins,
        Kamailio's current counters (read over its control socket; an error is shown, not raised)."""
        counters, counters_error = None, ""
        limited = extension.max_calls_per_minute or extension.max_calls_per_day
        if is_admin and limited:
            try:
                counters = call_counters(extension=extension)
            except CountersUnavailable:
                counters_error = _("The SIP server did not answer; its counters cannot be shown now.")
        return {
            "outbound_schedule": extension.outbound_schedule or extension.hotline.outbound_schedule,
            "call_counters": counters,
            "call_counters_error": counters_error,
        }


class ExtensionRevealView(ExtensionDetailView):
    """POST: show the login info, password included."""

    http_method_names = ["post"]

    @method_decorator(sensitive_variables())
    def post(self, request, pk):
        extension = self.get_extension(request, pk)
        try:
            credentials = services.extension_reveal_credentials(
                extension=extension, user=request.user, session=request.session
            )
        except ReauthenticationRequired as exc:
            messages.info(request, exc.message)
            detail = reverse("extensions:extension_detail", kwargs={"pk": extension.pk})
            return redirect(f"{reverse('confirm_password')}?{urlencode({'next': detail})}")
        except RevealRefused as exc:
            messages.error(request, exc.message)
            response = render(request, self.template_name, self.context(extension), status=exc.status_code)
            if exc.retry_after:
                response["Retry-After"] = str(exc.retry_after)
            return response
        response = render(request, self.template_name, self.context(extension, credentials))
        response["Cache-Control"] = "no-store"
        return response


class MyExtensionView(TenantMemberRequiredMixin, View):
    """An agent's landing page: their own extension."""

    def get(self, request):
        if not self.membership.extension_id:
            raise PermissionDenied
        return redirect("extensions:extension_detail", pk=self.membership.extension_id)


class ExtensionUpdateView(TenantAdminRequiredMixin, View):
    template_name = "extensions/extension_form.html"

    def initial(self, extension: Extension) -> dict:
        return {
            "alias": extension.alias,
            "call_permission": extension.call_permission,
            "supervisor": extension.supervisor.number if extension.supervisor is not None else "",
            # Annotations of extension_get_for_form, which the model's type does not declare.
            "outbound_hotlines": split_ids(extension.outbound_hotline_ids),  # type: ignore[attr-defined]
            "outbound_groups": split_ids(extension.outbound_group_ids),  # type: ignore[attr-defined]
            "description": extension.description,
            "enabled": extension.enabled,
            "outbound_schedule": extension.outbound_schedule_id,
            "max_calls_per_minute": extension.max_calls_per_minute,
            "max_calls_per_day": extension.max_calls_per_day,
            "max_call_seconds": extension.max_call_seconds,
            "allowed_networks": extension.allowed_networks,
            "max_contacts": extension.max_contacts,
            "version": extension.version,
        }

    def get(self, request, pk):
        extension = extension_get_for_form(user=request.user, pk=pk)
        form = ExtensionUpdateForm(
            initial=self.initial(extension), **_form_kwargs(extension.hotline, extension)
        )
        return render(request, self.template_name, self.context(form, extension))

    def context(self, form, extension, current=None) -> dict:
        return {"form": form, "hotline": extension.hotline, "extension": extension, "current": current}

    @method_decorator(sensitive_post_parameters("password"))
    @method_decorator(sensitive_variables())
    def post(self, request, pk):
        extension = extension_get_for_form(user=request.user, pk=pk)
        form = ExtensionUpdateForm(request.POST, **_form_kwargs(extension.hotline, extension))
        current = None
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                services.extension_update(
                    extension=extension,
                    data=data,
                    expected_version=data.pop("version"),
                    password=data.pop("password") or None,
                    regenerate_password=data.pop("regenerate_password"),
                    user=request.user,
                    session=request.session,
                )
            except RevealRefused as exc:
                return ExtensionCreateView.refused(request, form, exc, self.context(form, extension))
            except ValidationError as exc:
                add_service_errors(form, exc)
                if getattr(exc, "code", None) == "stale":
                    # Keep every value the admin typed; show what is saved now beside it.
                    current = extension_get(user=request.user, pk=pk)
                    data = request.POST.copy()
                    data["version"] = current.version
                    form.data = data
            else:
                messages.success(request, _("Extension %(number)s was saved.") % {"number": extension.number})
                return redirect("extensions:extension_detail", pk=extension.pk)
        return render(
            request,
            self.template_name,
            self.context(form, extension, current),
            status=409 if current else 400,
        )


class ExtensionDeleteView(TenantAdminRequiredMixin, View):
    template_name = "extensions/extension_confirm_delete.html"

    def get(self, request, pk):
        extension = extension_get(user=request.user, pk=pk)
        return render(
            request,
            self.template_name,
            {
                "extension": extension,
                "hotline": extension.hotline,
                "supervised": list(extension.supervised.order_by("number")),
            },
        )

    def post(self, request, pk):
        extension = extension_get(user=request.user, pk=pk)
        hotline = extension.hotline
        services.extension_delete(extension=extension)
        messages.success(request, _("Extension %(number)s was deleted.") % {"number": extension.number})
        return redirect(reverse("extensions:extension_list", kwargs={"hotline_pk": hotline.pk}))


class ExtensionLiftLimitsView(TenantAdminRequiredMixin, View):
    """POST: clear the extension's call counters in the SIP server (an audited action), so a
    call refused by a limit goes through again."""

    http_method_names = ["post"]

    def post(self, request, pk):
        extension = extension_get(user=request.user, pk=pk)
        try:
            before = call_limits_lift(extension=extension, actor=request.user)
        except CountersUnavailable:
            messages.error(request, _("The SIP server did not answer; nothing was lifted. Try again."))
        else:
            messages.success(
                request,
                _(
                    "Call limits of extension %(number)s lifted: %(minute)d calls in the last minute, "
                    "%(today)d today."
                )
                % {"number": extension.number, "minute": before.last_minute, "today": before.today},
            )
        return redirect("extensions:extension_detail", pk=extension.pk)
