"""Tenant-scoped reads of webhooks and their delivery logs."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from tenants.selectors import admin_tenant_id

from .models import WebhookDelivery, WebhookEndpoint


def webhook_list(*, user) -> QuerySet[WebhookEndpoint]:
    """The webhooks of the tenant the user administers."""
    tenant_id = admin_tenant_id(user)
    if tenant_id is None:
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.filter(tenant_id=tenant_id).order_by("id")


def webhook_get(*, user, pk) -> WebhookEndpoint:
    """One of the user's tenant's webhooks (404 otherwise)."""
    return get_object_or_404(webhook_list(user=user), pk=pk)


def delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's deliveries, newest first (the body stays in the database)."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).defer("body").order_by("-id")
