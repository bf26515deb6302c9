from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from core.forms import add_service_errors
from core.mixins import TenantAdminRequiredMixin
from sip.selectors import with_online_count
from tenants.models import Tenant

from . import services
from .forms import HotlineSettingsForm, NumberGroupForm, ScheduleForm, ScheduleWindowFormSet
from .schedules import describe_window
from .selectors import (
    hotline_choices,
    hotline_get,
    hotline_list,
    number_group_get,
    number_group_list,
    schedule_choices,
    schedule_get,
    schedule_list_with_uses,
)


class HotlineListView(TenantAdminRequiredMixin, View):
    """ "Quản lý đầu số": the tenant's hotlines."""

    def get(self, request):
        hotlines = with_online_count(hotline_list(user=request.user))
        page = Paginator(hotlines, 50).get_page(request.GET.get("page"))
        return render(request, "hotlines/hotline_list.html", {"page": page})


class HotlineDetailView(TenantAdminRequiredMixin, View):
    def get(self, request, pk):
        hotlines = with_online_count(hotline_list(user=request.user)).select_related("outbound_schedule")
        hotline = get_object_or_404(hotlines, pk=pk)
        return render(request, "hotlines/hotline_detail.html", {"hotline": hotline, "tab": "overview"})


class HotlineSettingsView(TenantAdminRequiredMixin, View):
    """What a tenant admin may change on a hotline (the platform operator owns the rest): the
    default outbound schedule of its extensions."""

    template_name = "hotlines/hotline_settings.html"

    def build_form(self, data, hotline):
        return HotlineSettingsForm(
            data,
            initial={"outbound_schedule": hotline.outbound_schedule_id},
            schedules=schedule_choices(tenant_id=hotline.tenant_id),
        )

    def get(self, request, pk):
        hotline = hotline_get(user=request.user, pk=pk, counts=False)
        context = {"hotline": hotline, "form": self.build_form(None, hotline), "tab": "settings"}
        return render(request, self.template_name, context)

    def post(self, request, pk):
        hotline = hotline_get(user=request.user, pk=pk, counts=False)
        form = self.build_form(request.POST, hotline)
        if form.is_valid():
            try:
                services.hotline_set_outbound_schedule(
                    hotline=hotline, schedule=form.cleaned_data["outbound_schedule"]
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("The settings of hotline %(number)s were saved.") % {"number": hotline.display_number},
                )
                return redirect("hotlines:hotline_detail", pk=hotline.pk)
        context = {"hotline": hotline, "form": form, "tab": "settings"}
        return render(request, self.template_name, context, status=400)


class NumberGroupListView(TenantAdminRequiredMixin, View):
    def get(self, request):
        return render(
            request, "hotlines/numbergroup_list.html", {"groups": number_group_list(user=request.user)}
        )


class NumberGroupFormView(TenantAdminRequiredMixin, View):
    """Create (no pk) or edit a number group."""

    template_name = "hotlines/numbergroup_form.html"

    def get_group(self, request, pk):
        return number_group_get(user=request.user, pk=pk) if pk else None

    def build_form(self, data, group):
        ordered = [m.hotline_id for m in group.members.all()] if group else []
        initial = {"name": group.name, "strategy": group.strategy, "hotlines": ordered} if group else {}
        return NumberGroupForm(
            data, initial=initial, hotlines=hotline_choices(tenant_id=self.tenant_id), ordered_pks=ordered
        )

    def get(self, request, pk=None):
        group = self.get_group(request, pk)
        return render(request, self.template_name, {"form": self.build_form(None, group), "group": group})

    def post(self, request, pk=None):
        group = self.get_group(request, pk)
        form = self.build_form(request.POST, group)
        if form.is_valid():
            try:
                if group is None:
                    group = services.number_group_create(
                        tenant=Tenant.objects.get(pk=self.tenant_id), **form.cleaned_data
                    )
                else:
                    services.number_group_update(group=group, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Number group “%(name)s” was saved.") % {"name": group.name})
                return redirect("hotlines:numbergroup_list")
        return render(request, self.template_name, {"form": form, "group": group}, status=400)


class NumberGroupDeleteView(TenantAdminRequiredMixin, View):
    template_name = "hotlines/numbergroup_confirm_delete.html"

    def get(self, request, pk):
        return render(request, self.template_name, {"group": number_group_get(user=request.user, pk=pk)})

    def post(self, request, pk):
        group = number_group_get(user=request.user, pk=pk)
        services.number_group_delete(group=group)
        messages.success(request, _("Number group “%(name)s” was deleted.") % {"name": group.name})
        return redirect("hotlines:numbergroup_list")


class ScheduleListView(TenantAdminRequiredMixin, View):
    """ "Lịch gọi ra": the tenant's outbound schedules and who uses each."""

    def get(self, request):
        rows = [
            (schedule, [describe_window(w) for w in schedule.window_values()])
            for schedule in schedule_list_with_uses(user=request.user)
        ]
        return render(request, "hotlines/schedule_list.html", {"rows": rows})


class ScheduleFormView(TenantAdminRequiredMixin, View):
    """Create (no pk) or edit a schedule: its name and holidays, and its windows as rows (days,
    from, until) with two empty rows to add more, no JavaScript needed."""

    template_name = "hotlines/schedule_form.html"
    # What a new schedule starts with, visible and editable: office hours on weekdays.
    NEW_WINDOWS = [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}]

    def get_schedule(self, request, pk):
        return schedule_get(user=request.user, pk=pk) if pk else None

    def render_page(self, request, form, formset, schedule, status=200):
        context = {"form": form, "formset": formset, "schedule": schedule}
        return render(request, self.template_name, context, status=status)

    def get(self, request, pk=None):
        schedule = self.get_schedule(request, pk)
        if schedule is None:
            form, windows = ScheduleForm(), self.NEW_WINDOWS
        else:
            holidays = "\n".join(d.isoformat() for d in schedule.holiday_dates())
            form = ScheduleForm(initial={"name": schedule.name, "holidays": holidays})
            windows = [w.as_dict() for w in schedule.window_values()]
        formset = ScheduleWindowFormSet(initial=windows, prefix="windows")
        return self.render_page(request, form, formset, schedule)

    def post(self, request, pk=None):
        schedule = self.get_schedule(request, pk)
        form = ScheduleForm(request.POST)
        formset = ScheduleWindowFormSet(request.POST, prefix="windows")
        formset_valid = formset.is_valid()
        if form.is_valid() and formset_valid:
            fields = {**form.cleaned_data, "windows": formset.windows()}
            try:
                if schedule is None:
                    assert self.tenant_id is not None  # TenantAdminRequiredMixin let the request in
                    tenant = Tenant.objects.get(pk=self.tenant_id)
                    schedule = services.schedule_create(tenant=tenant, **fields)
                else:
                    services.schedule_update(schedule=schedule, **fields)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Schedule “%(name)s” was saved.") % {"name": schedule.name})
                return redirect("hotlines:schedule_list")
        # The rows' messages also go to the summary at the top, each saying which row.
        for number, row in enumerate(formset.forms, start=1):
            for error in row.non_field_errors():
                form.add_error(None, _("Window %(n)d: %(error)s") % {"n": number, "error": error})
        for error in formset.non_form_errors():
            form.add_error(None, error)
        return self.render_page(request, form, formset, schedule, status=400)


class ScheduleDeleteView(TenantAdminRequiredMixin, View):
    """Delete a schedule nobody uses; one in use is refused, saying who uses it
    (services.schedule_delete)."""

    template_name = "hotlines/schedule_confirm_delete.html"

    def render_page(self, request, schedule, error=None, status=200):
        uses = services.schedule_uses(schedule=schedule)
        context = {"schedule": schedule, "uses": uses, "error": error}
        return render(request, self.template_name, context, status=status)

    def get(self, request, pk):
        return self.render_page(request, schedule_get(user=request.user, pk=pk))

    def post(self, request, pk):
        schedule = schedule_get(user=request.user, pk=pk)
        try:
            services.schedule_delete(schedule=schedule)
        except ValidationError as exc:
            return self.render_page(request, schedule, error=" ".join(exc.messages), status=400)
        messages.success(request, _("Schedule “%(name)s” was deleted.") % {"name": schedule.name})
        return redirect("hotlines:schedule_list")
