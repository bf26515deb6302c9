from django.db.models import QuerySet

from .models import AuditEvent


def audit_event_list(*, tenant_id: int | None) -> QuerySet[AuditEvent]:
    """A tenant's audit trail, newest first; nothing without a tenant. The caller decides whose
    trail the user may read (the views: the tenant they administer)."""
    if tenant_id is None:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-id")
