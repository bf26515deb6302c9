"""Shapes of the webhooks API; the rules live in webhooks.services."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from ..choices import DeliveryStatus, Event
from ..models import WebhookDelivery, WebhookEndpoint


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook endpoint; `secret` is write-only (required on create, kept when omitted)."""

    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices), read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "enabled", "description", "created_at", "updated_at"]
        read_only_fields = fields


@extend_schema_serializer(component_name="WebhookWrite")
class WebhookWriteSerializer(serializers.Serializer):
    """A change (PUT, PATCH): the secret is kept when omitted or blank, as on the edit page."""

    url = serializers.CharField(max_length=500)
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=200,
        trim_whitespace=False,
        help_text=_("Signs each request (X-PBX-Signature); never returned. Kept when omitted."),
    )
    # One flat list of messages for the field (a ListField would key them by position).
    events = serializers.MultipleChoiceField(choices=Event.choices, allow_empty=False)
    enabled = serializers.BooleanField(required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


@extend_schema_serializer(component_name="WebhookCreate")
class WebhookCreateSerializer(WebhookWriteSerializer):
    """A new endpoint: the secret is required."""

    secret = serializers.CharField(
        write_only=True,
        max_length=200,
        trim_whitespace=False,
        help_text=_("Signs each request (X-PBX-Signature); never returned."),
    )


class WebhookDeliverySerializer(serializers.ModelSerializer):
    """One delivery of one event to the endpoint, and what became of it."""

    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_id",
            "status",
            "attempts",
            "response_status",
            "last_error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
        ]
        read_only_fields = fields
