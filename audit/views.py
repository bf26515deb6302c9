from django.core.paginator import Paginator
from django.shortcuts import render
from django.views import View

from core.mixins import TenantAdminRequiredMixin
from tenants.selectors import admin_tenant_id

from .filtersets import AuditEventFilterSet
from .selectors import audit_event_list
from .tables import with_readable_changes


class AuditEventListView(TenantAdminRequiredMixin, View):
    """The tenant's audit trail (nhật ký), filterable."""

    def get(self, request):
        filterset = AuditEventFilterSet(
            request.GET, queryset=audit_event_list(tenant_id=admin_tenant_id(request.user))
        )
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        page.object_list = with_readable_changes(page.object_list)
        query = request.GET.copy()
        query.pop("page", None)
        return render(
            request,
            "audit/auditevent_list.html",
            {
                "filter": filterset,
                "page": page,
                "query": query.urlencode(),
            },
        )
