from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from core.mixins import TenantAdminRequiredMixin
from sip.controls import CountersUnavailable
from sip.filtersets import SecurityEventFilterSet
from sip.protection import security_event_list, sip_lock_get, sip_lock_release, sip_locks_for_tenant
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


class SipSecurityView(TenantAdminRequiredMixin, View):
    """What the SIP server locked for this tenant: the locks in force now (read from Kamailio),
    each with an unblock button, and the recorded security events on its hotlines, filterable
    (the API's `sip-locks/` and `security-events/` show the same, see sip.protection)."""

    def get(self, request):
        tenant_id = admin_tenant_id(request.user)
        try:
            locks = sip_locks_for_tenant(tenant_id=tenant_id)
            readable = True
        except CountersUnavailable:
            locks, readable = [], False
        filterset = SecurityEventFilterSet(request.GET, queryset=security_event_list(tenant_id=tenant_id))
        page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(
            request,
            "audit/sip_security.html",
            {
                "locks": locks,
                "readable": readable,
                "filter": filterset,
                "page": page,
                "query": query.urlencode(),
            },
        )


class SipUnblockView(TenantAdminRequiredMixin, View):
    """POST kind + key: lift one of the tenant's locks (audited); another tenant's lock or one
    that has already ended is not found."""

    http_method_names = ["post"]

    def post(self, request):
        tenant_id = admin_tenant_id(request.user)
        kind, key = request.POST.get("kind", ""), request.POST.get("key", "")
        try:
            lock = sip_lock_get(tenant_id=tenant_id, lock_id=f"{kind}:{key}")
            if lock is None:
                raise Http404
            sip_lock_release(lock=lock, tenant_id=tenant_id, actor=request.user)
        except CountersUnavailable:
            messages.error(request, _("The SIP server did not answer; nothing was unblocked. Try again."))
        else:
            messages.success(request, _("%(key)s unblocked.") % {"key": key})
        return redirect("audit:sip_security")
