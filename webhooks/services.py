"""Writes of webhooks (audited, never the secret) and `emit`, the one way to send an event.

Any app above `extensions` calls `emit(tenant_id=…, event=…, data=…)` (calls, registrations);
the extension events come from extensions' signals (webhooks/receivers.py). `emit` writes a
delivery row per subscribed, enabled endpoint and, once that has committed, hands their ids to
the task queue: the request never waits for an endpoint (webhooks/delivery.py does the HTTP).
"""

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record, diff
from tenants.models import Tenant

from .choices import TEST_EVENT, Event
from .models import WebhookDelivery, WebhookEndpoint
from .validators import validate_events, validate_webhook_secret, validate_webhook_url

logger = logging.getLogger(__name__)

AUDITED = ("url", "events", "enabled", "description")


def _audit(action: str, endpoint: WebhookEndpoint, changes: dict | None = None) -> None:
    audit_record(
        action=action, obj=endpoint, tenant_id=endpoint.tenant_id, changes=changes, object_repr=endpoint.url
    )


def _values(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {name: getattr(endpoint, name) for name in AUDITED}


def _clean(endpoint: WebhookEndpoint, secret: str | None) -> None:
    """Every rule at once (url, events, secret when one is set, the model's fields)."""
    errors: dict[str, list] = {}
    checks: list[tuple[str, Callable[[Any], None], Any]] = [
        ("url", validate_webhook_url, endpoint.url),
        ("events", validate_events, endpoint.events),
    ]
    if secret is not None:
        checks.append(("secret", validate_webhook_secret, secret))
    for name, validator, value in checks:
        try:
            validator(value)
        except ValidationError as exc:
            errors[name] = exc.messages
    try:
        endpoint.full_clean(exclude=["url", "events", "secret_encrypted", "tenant"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


@sensitive_variables("secret")
@transaction.atomic
def webhook_create(
    *,
    tenant: Tenant,
    url: str,
    secret: str,
    events: Iterable[str],
    enabled: bool = True,
    description: str = "",
) -> WebhookEndpoint:
    """Register an endpoint; the secret is required and stored encrypted."""
    endpoint = WebhookEndpoint(
        tenant=tenant, url=url, events=sorted(set(events)), enabled=enabled, description=description
    )
    _clean(endpoint, secret if secret is not None else "")
    endpoint.set_secret(secret)
    endpoint.save()
    _audit(Action.CREATE, endpoint, {**diff({}, _values(endpoint)), "secret": ["", "set"]})
    return endpoint


@sensitive_variables("secret")
@transaction.atomic
def webhook_update(
    *, endpoint: WebhookEndpoint, data: Mapping[str, Any], secret: str | None = None
) -> WebhookEndpoint:
    """Change an endpoint's url, events, enabled, description; a new secret when one is given
    (disabling is an update)."""
    before = _values(endpoint)
    for name in AUDITED:
        if name in data:
            value = data[name]
            setattr(endpoint, name, sorted(set(value)) if name == "events" else value)
    _clean(endpoint, secret or None)
    changes = diff(before, _values(endpoint))
    if secret:
        endpoint.set_secret(secret)
        changes["secret"] = ["", "changed"]
    if changes:
        endpoint.save()
        _audit(Action.UPDATE, endpoint, changes)
    return endpoint


@transaction.atomic
def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint and its delivery log (a pending retry finds nothing and stops)."""
    _audit(Action.DELETE, endpoint, diff(_values(endpoint), {}))
    endpoint.delete()


# --- events -----------------------------------------------------------------------------------


def envelope(*, event: str, event_id: uuid.UUID, occurred_at: datetime, tenant_id: int, data: Any) -> str:
    """The JSON body every endpoint gets: the event's id (the same for every endpoint and every
    retry, for de-duplication), its type, when it happened, the tenant and the event's data."""
    return json.dumps(
        {
            "id": str(event_id),
            "event": event,
            "created_at": occurred_at.isoformat(),
            "tenant": tenant_id,
            "data": data,
        },
        cls=DjangoJSONEncoder,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def emit_many(*, tenant_id: int, event: str, items: Iterable[Any]) -> list[WebhookDelivery]:
    """Queue one event per item of `items` (its `data`) for every enabled endpoint of the tenant
    that subscribes to `event`. One query when nobody listens. Call it inside the transaction
    that makes the change, or after it committed; the worker is told once it commits."""
    if event not in Event.values:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(tenant_id=tenant_id, enabled=True).only("id", "events")
        if event in e.events
    ]
    if not endpoints:
        return []
    now = timezone.now()
    deliveries = []
    for data in items:
        event_id = uuid.uuid4()
        body = envelope(event=event, event_id=event_id, occurred_at=now, tenant_id=tenant_id, data=data)
        deliveries += [
            WebhookDelivery(
                endpoint_id=e.pk,
                event=event,
                event_id=event_id,
                body=body,
                created_at=now,
                next_attempt_at=now,
            )
            for e in endpoints
        ]
    return _queue(deliveries)


def emit(*, tenant_id: int, event: str, data: Any) -> list[WebhookDelivery]:
    """Queue one event (e.g. `registration.offline`, `call.ended`) for the tenant's endpoints."""
    return emit_many(tenant_id=tenant_id, event=event, items=[data])


def webhook_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a `webhook.test` event for this endpoint alone (the "Send test" button)."""
    now = timezone.now()
    event_id = uuid.uuid4()
    data = {"webhook": endpoint.pk, "message": "This is a test event from the PBX dashboard."}
    body = envelope(
        event=TEST_EVENT, event_id=event_id, occurred_at=now, tenant_id=endpoint.tenant_id, data=data
    )
    delivery = WebhookDelivery(
        endpoint=endpoint, event=TEST_EVENT, event_id=event_id, body=body, created_at=now, next_attempt_at=now
    )
    (delivery,) = _queue([delivery])
    return delivery


def _queue(deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
    with transaction.atomic():
        created = WebhookDelivery.objects.bulk_create(deliveries, batch_size=1000)
        ids = [d.pk for d in created]
        transaction.on_commit(lambda: enqueue(ids))
    return created


def enqueue(ids: list[int]) -> None:
    """Hand the deliveries to the worker. When the queue cannot be reached the rows stay pending
    and the worker's sweep (every minute) sends them: the request goes on regardless."""
    from .tasks import dispatch_deliveries  # the queue's client, configured from settings

    try:
        dispatch_deliveries(ids)
    except Exception:  # any failure of the queue's storage (Redis down, SQLite locked)
        logger.warning("webhooks: could not enqueue %d deliveries; the sweep will send them", len(ids))
