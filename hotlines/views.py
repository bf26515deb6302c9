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
from .forms import NumberGroupForm
from .selectors import hotline_choices, hotline_list, number_group_get, number_group_list


class HotlineListView(TenantAdminRequiredMixin, View):
    """ "Quản lý đầu số": the tenant's hotlines."""

    def get(self, request):
        hotlines = with_online_count(hotline_list(user=request.user))
        page = Paginator(hotlines, 50).get_page(request.GET.get("page"))
        return render(request, "hotlines/hotline_list.html", {"page": page})


class HotlineDetailView(TenantAdminRequiredMixin, View):
    def get(self, request, pk):
        hotline = get_object_or_404(with_online_count(hotline_list(user=request.user)), pk=pk)
        return render(request, "hotlines/hotline_detail.html", {"hotline": hotline, "tab": "overview"})


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
