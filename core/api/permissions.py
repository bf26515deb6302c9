"""Who may call an API route: members of a tenant read, the tenant's admins also write."""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from tenants.selectors import admin_tenant_id, membership_for


class IsTenantMember(BasePermission):
    """Admins and agents of a tenant (agents then see only their own extension)."""

    message = _("Your account does not belong to a customer.")

    def has_permission(self, request, view) -> bool:
        return membership_for(request.user) is not None


class IsTenantAdmin(BasePermission):
    """The tenant's admins only, as on the dashboard where agents get 403."""

    message = _("Only the customer's administrators may do this.")

    def has_permission(self, request, view) -> bool:
        return admin_tenant_id(request.user) is not None
