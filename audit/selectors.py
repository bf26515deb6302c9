from django.db.models import QuerySet

from tenants.selectors import admin_tenant_id

from .models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """The audit trail of the tenant the user administers, newest first."""
    tenant_id = admin_tenant_id(user)
    if tenant_id is None:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-id")
