from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied

from tenants.selectors import admin_tenant_id, membership_for


class TenantAdminRequiredMixin(LoginRequiredMixin):
    """Dashboard pages for tenant admins: anonymous → sign-in, anyone else → 403."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.tenant_id = admin_tenant_id(request.user)
        if self.tenant_id is None:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)


class TenantMemberRequiredMixin(LoginRequiredMixin):
    """Pages any member of a tenant may open (agents see only their own extension there)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.membership = membership_for(request.user)
        if self.membership is None:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)
