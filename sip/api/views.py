from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core.api.permissions import IsTenantAdmin, IsTenantMember
from core.api.views import parse_pk
from tenants.selectors import admin_tenant_id

from ..call_exports import TooManyExports, call_export_create, call_export_get, call_export_list, call_filters
from ..call_records import call_records_import
from ..call_views import export_download
from ..controls import CountersUnavailable
from ..filtersets import CallFilterSet, SecurityEventFilterSet
from ..history import call_list, keyset_page
from ..models import Call, CallExport, SecurityEvent
from ..protection import (
    lock_extensions,
    security_event_list,
    sip_lock_get,
    sip_lock_release,
    sip_locks_for_tenant,
)
from .serializers import (
    CallExportRequestSerializer,
    CallExportSerializer,
    CallSerializer,
    SecurityEventSerializer,
    SipLockListSerializer,
    SipLockSerializer,
)


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


class SipServerUnavailable(APIException):
    """503: Kamailio did not answer over its control socket; nothing was done."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = gettext_lazy("The SIP server did not answer; nothing was unblocked. Try again.")
    default_code = "sip_server_unavailable"


LOCK_ID = OpenApiParameter(
    "lock_id",
    str,
    OpenApiParameter.PATH,
    description="The lock's `id` from the list: `address:<source address>` or "
    "`extension:<number>@<SIP domain>`.",
)


class SipLockViewSet(viewsets.ViewSet):
    """The brute-force locks the SIP server holds now (read from Kamailio over its control
    socket), as the SIP security page lists them: the tenant's extensions' locks, and the
    address blocks recorded for its hotlines' domains (sip.protection.sip_locks_for_tenant).
    Tenant admins only."""

    permission_classes = [IsAuthenticated, IsTenantAdmin]
    lookup_field = "lock_id"
    lookup_value_regex = "[^/]+"  # ids hold dots, colons and @; any reaches unblock(), whose 404 is JSON

    @extend_schema(
        summary="The SIP server's brute-force locks in force now",
        description="Source addresses blocked after too many failed logins, and extensions locked "
        "after too many wrong passwords, soonest to end first. `readable` false: the SIP server "
        "did not answer (the list is then empty).",
        responses={200: SipLockListSerializer},
    )
    def list(self, request):
        tenant_id = admin_tenant_id(request.user)
        try:
            locks, readable = sip_locks_for_tenant(tenant_id=tenant_id), True
        except CountersUnavailable:
            locks, readable = [], False
        context = {"extensions": lock_extensions(tenant_id=tenant_id, locks=locks), "now": timezone.now()}
        results = SipLockSerializer(locks, many=True, context=context).data
        return Response({"readable": readable, "results": results})

    @extend_schema(
        summary="Lift a lock (unblock), audited",
        description="Lifts the lock in the SIP server (every node) with its failure counter, so "
        "the right password works again at once, and marks its security events lifted (a restart "
        "of the SIP server does not bring it back); audited as the SIP security page's unblock. "
        "Answers the lock as it was. 404: no such lock in force among those you see; 503: the SIP "
        "server did not answer and nothing was lifted.",
        parameters=[LOCK_ID],
        request=None,
        responses={200: SipLockSerializer, 404: None, 503: None},
    )
    @action(detail=True, methods=["post"])
    def unblock(self, request, lock_id=None):
        tenant_id = admin_tenant_id(request.user)
        try:
            lock = sip_lock_get(tenant_id=tenant_id, lock_id=lock_id or "")
            if lock is None:
                raise NotFound
            sip_lock_release(lock=lock, tenant_id=tenant_id, actor=request.user)
        except CountersUnavailable:
            raise SipServerUnavailable from None
        context = {"extensions": lock_extensions(tenant_id=tenant_id, locks=[lock]), "now": timezone.now()}
        return Response(SipLockSerializer(lock, context=context).data)


@extend_schema_view(
    list=extend_schema(summary="The SIP server's security events on your hotlines, newest first"),
    retrieve=extend_schema(summary="One security event"),
)
class SecurityEventViewSet(viewsets.ReadOnlyModelViewSet):
    """What the SIP server recorded on the tenant's hotlines' domains (each address block,
    extension lock and its lifting), as the SIP security page lists it, with the same filters:
    `kind`, `source_ip`, `number`, `since`, `until`. Tenant admins only."""

    serializer_class = SecurityEventSerializer
    filterset_class = SecurityEventFilterSet
    permission_classes = [IsAuthenticated, IsTenantAdmin]
    lookup_value_regex = "[^/]+"  # any id reaches get_object(), whose 404 is JSON
    queryset = SecurityEvent.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self):
        return security_event_list(tenant_id=admin_tenant_id(self.request.user))

    def get_object(self) -> SecurityEvent:
        return get_object_or_404(self.get_queryset(), pk=parse_pk(self.kwargs["pk"]))
