from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated

from core.api.permissions import IsTenantMember

from ..call_records import call_records_import
from ..filtersets import CallFilterSet
from ..history import call_list
from ..models import Call
from .serializers import CallSerializer


class CallPagination(CursorPagination):
    """Keyset pages, newest first (the history's indexes): `next`/`previous` cursors, no count
    (counting a million calls for every page is what makes call logs slow)."""

    ordering = ("-started_at", "-id")
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


@extend_schema_view(
    list=extend_schema(summary="Call history (the calls the user may see)"),
    retrieve=extend_schema(summary="One call"),
)
class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Calls of the caller's tenant: an admin sees all of them, an agent those of their own
    extension and of the extensions it supervises. Filters: `extension`, `hotline`, `since`,
    `until`, `direction`, `disposition`, `number`."""

    serializer_class = CallSerializer
    permission_classes = [IsAuthenticated, IsTenantMember]
    filterset_class = CallFilterSet
    filter_backends = [DjangoFilterBackend]
    pagination_class = CallPagination
    lookup_value_regex = "[^/]+"  # any id reaches get_object(), whose 404 is JSON
    queryset = Call.objects.none()

    def get_queryset(self):
        call_records_import()
        return call_list(user=self.request.user)
