import re
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.forms import ModelChoiceField
from django.shortcuts import get_object_or_404
from django.views.decorators.debug import sensitive_variables
from django_filters import utils as filter_utils
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api.exceptions import PreconditionFailed
from core.api.pagination import LargeListPagination
from core.api.permissions import IsTenantAdmin, IsTenantMember
from core.api.schema import IF_MATCH
from core.api.views import parse_pk
from core.guard import RevealRefused
from dialplan.api.serializers import DialCheckQuerySerializer, DialCheckSerializer
from hotlines.selectors import hotline_choices
from sip.controls import CountersUnavailable, call_counters, call_limits_lift
from sip.dialcheck import dial_check
from sip.selectors import with_contacts
from tenants.selectors import membership_for

from .. import provisioning, services
from ..credentials import LoginInfo, login_info
from ..filtersets import ExtensionFilterSet
from ..models import Extension
from ..provisioning_views import provisioning_url
from ..selectors import extension_api_list, extension_get, extension_list
from .bulk import ExtensionBulkActionsMixin
from .serializers import (
    CallCountersSerializer,
    ExtensionCreateSerializer,
    ExtensionSerializer,
    ExtensionUpdateSerializer,
    LoginInfoSerializer,
    ProvisioningLinkSerializer,
)

ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description="The extension's version, for `If-Match` on a later update.",
)
ETAG_RE = re.compile(r'"(\d{1,10})"')


class RevealNotAllowed(APIException):
    """The reveal guard's refusal: 403 (sign in again) or 429 (too many, with Retry-After)."""

    def __init__(self, refused: RevealRefused):
        super().__init__(refused.message, refused.code)
        self.status_code = refused.status_code
        self.wait = refused.retry_after


class ExtensionFilterBackend(DjangoFilterBackend):
    """ExtensionFilterSet, as DRF's backend applies it. With `?hotline=`, the list is scoped
    by that hotline, checked against the caller's tenant in the rows' own query: the same
    rows, without joining the hotlines table to check each row's tenant. The view keeps the
    id (`filtered_hotline_id`) to refuse one that is not the tenant's."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise filter_utils.translate_validation(filterset.errors)
        hotline_id = filterset.form.cleaned_data.get("hotline")
        view.filtered_hotline_id = hotline_id
        if hotline_id is not None and view.action == "list":
            filterset.queryset = with_contacts(extension_api_list(user=request.user, hotline_id=hotline_id))
        return filterset.qs


@contextmanager
def reveal_guard():
    try:
        yield
    except RevealRefused as refused:
        raise RevealNotAllowed(refused) from refused


def _counters_body(extension: Extension, counters) -> dict:
    return {
        "extension": {"id": extension.pk, "number": extension.number, "alias": extension.alias},
        "readable": counters is not None,
        "last_minute": counters.last_minute if counters is not None else None,
        "today": counters.today if counters is not None else None,
    }


@extend_schema_view(
    list=extend_schema(summary="List extensions (máy lẻ)"),
    retrieve=extend_schema(summary="One extension", parameters=[ETAG]),
    create=extend_schema(
        summary="Create an extension",
        request=ExtensionCreateSerializer,
        responses={201: ExtensionSerializer},
        parameters=[ETAG],
    ),
    update=extend_schema(
        summary="Change an extension",
        request=ExtensionUpdateSerializer,
        responses={200: ExtensionSerializer},
        parameters=[IF_MATCH, ETAG],
    ),
    partial_update=extend_schema(
        summary="Change some fields of an extension",
        request=ExtensionUpdateSerializer,
        responses={200: ExtensionSerializer},
        parameters=[IF_MATCH, ETAG],
    ),
    destroy=extend_schema(summary="Delete an extension"),
)
class ExtensionViewSet(
    ExtensionBulkActionsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Extensions of the caller's tenant; an agent sees only their own and may not write."""

    serializer_class = ExtensionSerializer
    lookup_value_regex = "[^/]+"  # any id reaches get_object(), whose 404 is JSON
    filterset_class = ExtensionFilterSet
    filter_backends = [ExtensionFilterBackend]
    pagination_class = LargeListPagination
    queryset = Extension.objects.none()  # for the schema; requests use get_queryset()

    def get_permissions(self):
        if self.action in ("list", "retrieve", "credentials", "dial_check", "provisioning_links"):
            return [IsAuthenticated(), IsTenantMember()]
        return [IsAuthenticated(), IsTenantAdmin()]

    def get_queryset(self):
        # Registration status (online, contacts) rides in the rows' query: with_contacts.
        if self.action == "list":
            return with_contacts(extension_api_list(user=self.request.user))
        return with_contacts(extension_list(user=self.request.user))

    def paginate_queryset(self, queryset):
        """A page, and for a list that came back empty (or a page past its end), the
        `hotline` filter's check: another tenant's hotline or an unknown id is a 400, the
        same for both, while a list with rows needs no query to know its hotline is ours."""
        try:
            page = super().paginate_queryset(queryset)
        except NotFound:
            self._refuse_foreign_hotline()
            raise
        if not page:
            self._refuse_foreign_hotline()
        return page

    def _refuse_foreign_hotline(self) -> None:
        hotline_id = getattr(self, "filtered_hotline_id", None)
        if hotline_id is None:
            return
        membership = membership_for(self.request.user)
        if (
            membership is None
            or not hotline_choices(tenant_id=membership.tenant_id).filter(pk=hotline_id).exists()
        ):
            raise serializers.ValidationError(
                {"hotline": [ModelChoiceField.default_error_messages["invalid_choice"]]},
                code="invalid_choice",
            )

    def get_object(self) -> Extension:
        extension = extension_get(user=self.request.user, pk=parse_pk(self.kwargs["pk"]))
        self.check_object_permissions(self.request, extension)
        return extension

    def retrieve(self, request, pk=None):
        return self._extension_response(self.get_object())

    @sensitive_variables()
    def create(self, request):
        serializer = ExtensionCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        with reveal_guard():
            extension = services.extension_create(
                **serializer.validated_data, user=request.user, session=self._browser_session()
            )
        return self._extension_response(extension, status=status.HTTP_201_CREATED)

    @sensitive_variables()
    def update(self, request, pk=None, partial=False):
        extension = self.get_object()
        expected_version = self._if_match_version()
        serializer = ExtensionUpdateSerializer(
            data=request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        try:
            services.extension_update(
                extension=extension,
                data=data,
                expected_version=expected_version,
                password=data.pop("password", None) or None,
                user=request.user,
                session=self._browser_session(),
            )
        except RevealRefused as refused:
            raise RevealNotAllowed(refused) from refused
        except ValidationError as exc:
            if getattr(exc, "code", None) == "stale":
                raise PreconditionFailed(exc.messages[0]) from exc
            raise
        return self._extension_response(extension)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def perform_destroy(self, instance: Extension) -> None:
        services.extension_delete(extension=instance)

    @extend_schema(
        summary="Reveal the login info (password included)",
        request=None,
        responses={200: LoginInfoSerializer, 429: None},
    )
    @action(detail=True, methods=["post"])
    @sensitive_variables()
    def credentials(self, request, pk=None):
        """A POST, not a GET, so the password never sits in a URL, a cache or a crawler's path.
        Audited, and rate-limited per user like the dashboard's reveal."""
        extension = self.get_object()
        with reveal_guard():
            info = services.extension_reveal_credentials(
                extension=extension, user=request.user, session=self._browser_session()
            )
        return self._login_info_response(info)

    @extend_schema(
        summary="Replace the password with a generated one",
        request=None,
        responses={200: LoginInfoSerializer, 429: None},
    )
    @action(detail=True, methods=["post"], url_path="rotate-password")
    @sensitive_variables()
    def rotate_password(self, request, pk=None):
        extension = self.get_object()
        with reveal_guard():
            extension, password = services.extension_rotate_password(
                extension=extension, user=request.user, session=self._browser_session()
            )
        return self._login_info_response(login_info(extension, password))

    @extend_schema(
        summary="A one-time phone-setup link (Linphone remote provisioning)",
        description="A link that Linphone fetches its configuration from, once, within "
        "`PROVISIONING_LINK_HOURS` (24 h by default), and its QR code holding "
        "`linphone-config:<url>`. The configuration carries the digest `ha1`, never the password; "
        "the link dies when the password changes or the extension is disabled or deleted. "
        "Counts as one reveal (audited, rate-limited).",
        request=None,
        responses={201: ProvisioningLinkSerializer, 400: None, 429: None},
    )
    @action(detail=True, methods=["post"], url_path="provisioning-links")
    def provisioning_links(self, request, pk=None):
        extension = self.get_object()
        with reveal_guard():
            try:
                issued = provisioning.provisioning_link_create(
                    extension=extension, user=request.user, session=self._browser_session()
                )
            except provisioning.ProvisioningUnavailable as exc:
                raise serializers.ValidationError({"enabled": [exc.message]}) from exc
        url = provisioning_url(request, issued.token)
        data = {
            "id": issued.link.pk,
            "url": url,
            "expires_at": issued.link.expires_at,
            "qr_svg": provisioning.qr_svg(url),
        }
        return Response(
            ProvisioningLinkSerializer(data).data,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )

    @extend_schema(
        summary="Check a number against the call permission (kiểm tra quyền gọi)",
        description="What the SIP server does when this extension dials `number` at `at` "
        "(default now): allowed or not, what decided (call permission, outbound schedule with "
        "the next time it opens, call limits with Kamailio's counters), the dial rule, and the "
        "caller ID the carrier would see. Nothing is dialled.",
        parameters=[DialCheckQuerySerializer],
        responses={200: DialCheckSerializer, 400: None},
    )
    @action(detail=True, methods=["get"], url_path="dial-check")
    def dial_check(self, request, pk=None):
        extension = self.get_object()
        query = DialCheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        check = dial_check(
            extension=extension, dialled=query.validated_data["number"], at=query.validated_data.get("at")
        )
        return Response(DialCheckSerializer(check).data)

    @extend_schema(
        summary="The extension's call counters in the SIP server",
        description="Calls out through the carrier in the last 60 seconds and today, as Kamailio "
        "counts them for the call limits (read over its control socket); `readable` false (and "
        "null counts) when it does not answer.",
        responses={200: CallCountersSerializer},
    )
    @action(detail=True, methods=["get"], url_path="call-counters")
    def call_counters(self, request, pk=None):
        extension = self.get_object()
        try:
            counters = call_counters(extension=extension)
        except CountersUnavailable:
            counters = None
        return Response(_counters_body(extension, counters))

    @extend_schema(
        summary="Lift the call limits (reset the counters)",
        description="Clears the extension's counters in the SIP server, so a call refused by a "
        "limit goes through again; audited with what they were, which the answer shows. "
        "`readable` false: the SIP server did not answer and nothing was lifted.",
        request=None,
        responses={200: CallCountersSerializer},
    )
    @action(detail=True, methods=["post"], url_path="lift-limits")
    def lift_limits(self, request, pk=None):
        extension = self.get_object()
        try:
            before = call_limits_lift(extension=extension, actor=request.user)
        except CountersUnavailable:
            before = None
        return Response(_counters_body(extension, before))

    def _browser_session(self):
        """The session when signed in through the browser (the guard then asks for a recent
        sign-in); None for a token, which is itself a fresh credential."""
        if isinstance(self.request.successful_authenticator, SessionAuthentication):
            return self.request.session
        return None

    def _if_match_version(self) -> int | None:
        """The version named by `If-Match`; None when absent, empty or `*` (no precondition)."""
        header = self.request.headers.get("If-Match", "").strip()
        if header in ("", "*"):
            return None
        match = ETAG_RE.fullmatch(header)
        if match is None:
            raise PreconditionFailed
        return int(match.group(1))

    def _extension_response(self, extension: Extension, status=status.HTTP_200_OK) -> Response:
        # Read back through the selector: the response shows what is stored, preloaded, with
        # its registration status.
        extension = get_object_or_404(self.get_queryset(), pk=extension.pk)
        data = ExtensionSerializer(extension, context=self.get_serializer_context()).data
        return Response(data, status=status, headers={"ETag": f'"{extension.version}"'})

    def _login_info_response(self, info: LoginInfo) -> Response:
        return Response(LoginInfoSerializer(info).data, headers={"Cache-Control": "no-store"})
