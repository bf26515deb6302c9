from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api.permissions import IsTenantAdmin
from core.api.views import parse_pk
from tenants.selectors import membership_for

from .. import services
from ..models import WebhookEndpoint
from ..selectors import delivery_list, webhook_get, webhook_list
from .serializers import (
    WebhookCreateSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
    WebhookWriteSerializer,
)


@extend_schema_view(
    list=extend_schema(summary="List webhooks"),
    retrieve=extend_schema(summary="One webhook"),
    create=extend_schema(
        summary="Register a webhook", request=WebhookCreateSerializer, responses={201: WebhookSerializer}
    ),
    update=extend_schema(
        summary="Change a webhook (the secret is kept when omitted)",
        request=WebhookWriteSerializer,
        responses={200: WebhookSerializer},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a webhook (disable: enabled=false)",
        request=WebhookWriteSerializer,
        responses={200: WebhookSerializer},
    ),
    destroy=extend_schema(summary="Delete a webhook"),
)
class WebhookViewSet(viewsets.ModelViewSet):
    """The tenant's webhooks; writes go through webhooks.services (audited, never the secret)."""

    serializer_class = WebhookSerializer
    lookup_value_regex = "[^/]+"
    permission_classes = [IsAuthenticated, IsTenantAdmin]
    queryset = WebhookEndpoint.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self):
        return webhook_list(user=self.request.user)

    def get_object(self) -> WebhookEndpoint:
        return webhook_get(user=self.request.user, pk=parse_pk(self.kwargs["pk"]))

    def create(self, request):
        data = self._parse(WebhookCreateSerializer, partial=False)
        membership = membership_for(request.user)
        assert membership is not None  # IsTenantAdmin let the request in
        endpoint = services.webhook_create(tenant=membership.tenant, **data)
        return Response(WebhookSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        endpoint = self.get_object()
        data = self._parse(WebhookWriteSerializer, partial=partial)
        secret = data.pop("secret", None)
        services.webhook_update(endpoint=endpoint, data=data, secret=secret)
        return Response(WebhookSerializer(endpoint).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        services.webhook_delete(endpoint=instance)

    def _parse(self, serializer_class: type[WebhookWriteSerializer], *, partial: bool) -> dict:
        serializer = serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        summary="The webhook's deliveries, newest first", responses=WebhookDeliverySerializer(many=True)
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(delivery_list(endpoint=self.get_object()))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Queue a test event for this webhook",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.webhook_send_test(endpoint=self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
