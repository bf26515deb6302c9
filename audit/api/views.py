from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.permissions import IsAuthenticated

from core.api.permissions import IsTenantAdmin
from core.api.views import parse_pk
from tenants.selectors import admin_tenant_id

from ..filtersets import AuditEventFilterSet
from ..models import AuditEvent
from ..selectors import audit_event_list
from .serializers import AuditEventSerializer


@extend_schema_view(
    list=extend_schema(summary="The tenant's audit trail (nhật ký), newest first"),
    retrieve=extend_schema(summary="One audit event"),
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Read-only: the audit trail is written by the services, never through the API."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet
    lookup_value_regex = "[^/]+"
    permission_classes = [IsAuthenticated, IsTenantAdmin]
    queryset = AuditEvent.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self):
        return audit_event_list(tenant_id=admin_tenant_id(self.request.user))

    def get_object(self) -> AuditEvent:
        return get_object_or_404(self.get_queryset(), pk=parse_pk(self.kwargs["pk"]))
