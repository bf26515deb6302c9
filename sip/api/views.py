from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core.api.permissions import IsTenantMember
from core.api.views import parse_pk

from ..call_records import call_records_import
from ..filtersets import CallFilterSet
from ..history import call_list, keyset_page
from ..models import Call
from .serializers import CallSerializer


class CallPagination(CursorPagination):
    """Keyset pages, newest first, as the history page's (`sip.history.keyset_page`: one index
    range per page, either-side filters as a union): `next` is the older page
    (`?cursor=<µs>_<id>`), `previous` the newest page (null on it); no count (counting a million
    calls for every page is what makes call logs slow)."""

    ordering = ("-started_at", "-id")
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        self.keyset = keyset_page(
            queryset, cursor=request.query_params.get(self.cursor_query_param, ""), size=self.page_size
        )
        return self.keyset.object_list

    def get_next_link(self):
        cursor = self.keyset.next_cursor
        return replace_query_param(self.base_url, self.cursor_query_param, cursor) if cursor else None

    def get_previous_link(self):
        return None if self.keyset.first else remove_query_param(self.base_url, self.cursor_query_param)


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

    def get_object(self) -> Call:
        call = get_object_or_404(self.get_queryset(), pk=parse_pk(self.kwargs["pk"]))
        self.check_object_permissions(self.request, call)
        return call
