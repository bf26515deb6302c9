from django.conf import settings
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core.api.permissions import IsTenantMember
from core.api.views import parse_pk

from ..call_exports import TooManyExports, call_export_create, call_export_get, call_export_list, call_filters
from ..call_records import call_records_import
from ..call_views import export_download
from ..filtersets import CallFilterSet
from ..history import call_list, keyset_page
from ..models import Call, CallExport
from .serializers import CallExportRequestSerializer, CallExportSerializer, CallSerializer


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


class TooManyExportsError(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_exports"


class CsvFileRenderer(BaseRenderer):
    """Lets a client that asks for `text/csv` reach the download (which answers the file itself);
    an error for such a client is the API's JSON all the same."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, renderer_context=renderer_context)


@extend_schema_view(
    list=extend_schema(summary="Call exports (yours; a tenant admin: the tenant's), newest first"),
    retrieve=extend_schema(summary="One call export (poll it until `status` is done or failed)"),
    create=extend_schema(
        summary="Export calls as CSV, prepared in the background",
        request=CallExportRequestSerializer,
        responses={202: CallExportSerializer, 429: None},
    ),
)
class CallExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """CSV exports of the call history of any size, written by the task queue's worker (the
    dashboard's "Xuất dữ liệu"): the same columns as the history pages' export, in the
    request's language. The same export asked again while it is queued or running is the same
    job; at most CALL_EXPORT_MAX_ACTIVE per user at once (429)."""

    serializer_class = CallExportSerializer
    permission_classes = [IsAuthenticated, IsTenantMember]
    lookup_value_regex = "[^/]+"  # any id reaches get_object(), whose 404 is JSON
    queryset = CallExport.objects.none()

    def get_queryset(self):
        return call_export_list(user=self.request.user)

    def get_object(self) -> CallExport:
        return call_export_get(user=self.request.user, pk=parse_pk(self.kwargs["pk"]))

    def create(self, request):
        body = CallExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = {name: str(value) for name, value in body.validated_data.items()}
        filterset = CallFilterSet(data, queryset=Call.objects.none())
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        call_records_import()
        try:
            job = call_export_create(user=request.user, filters=call_filters(data), filename="calls.csv")
        except TooManyExports:
            raise TooManyExportsError(
                _("You already have %(count)s exports in progress. Wait for one of them to finish.")
                % {"count": settings.CALL_EXPORT_MAX_ACTIVE}
            ) from None
        serializer = CallExportSerializer(job, context=self.get_serializer_context())
        return Response(serializer.data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The export's CSV file, once it is done (404 before, and after it is deleted)",
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, CsvFileRenderer])
    def download(self, request, pk=None):
        return export_download(self.get_object())
