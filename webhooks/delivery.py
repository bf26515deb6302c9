"""One attempt at one delivery, run by the task queue's worker (webhooks/tasks.py).

An attempt first claims the delivery: one UPDATE that moves `next_attempt_at` past the attempt's
longest possible duration, only while the row is pending and due. Two workers (or the sweep and
a scheduled retry) cannot both send it, on PostgreSQL and on SQLite alike. Then it signs the body
with a fresh timestamp, POSTs it (webhooks.outbound), and records the answer: delivered on a 2xx,
else a retry after an exponentially growing delay, until WEBHOOK_RETRY_FOR_SECONDS after the
event, when it is marked failed.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .choices import TEST_EVENT, DeliveryStatus
from .models import WebhookDelivery
from .outbound import TargetRefused, post
from .signing import HEADER, signature_header

logger = logging.getLogger(__name__)


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed attempt: BASE, 2×BASE, 4×BASE …, capped."""
    return min(
        settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    )


def _lease() -> timedelta:
    # Longer than any attempt can take (its deadline, and the name's resolution before it: glibc
    # tries up to 3 name servers twice each, 5 s a try, by default), so the sweep leaves an
    # attempt in progress alone.
    return timedelta(seconds=settings.WEBHOOK_DEADLINE + 60)


def claim(delivery_id: int) -> WebhookDelivery | None:
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + _lease())
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()


def attempt(delivery_id: int) -> float | None:
    """Try the delivery once; returns the delay in seconds before the next try, or None when
    there is none to schedule (delivered, given up, not due, or gone)."""
    delivery = claim(delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    started = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = started
    if not endpoint.enabled and delivery.event != TEST_EVENT:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        delivery.last_error = "The webhook was disabled."
        delivery.save(
            update_fields=["status", "attempts", "last_attempt_at", "next_attempt_at", "last_error"]
        )
        return None
    body = delivery.body.encode()
    headers = {
        HEADER: signature_header(endpoint.get_secret(), body, int(time.time())),
        "X-PBX-Event": delivery.event,
        "X-PBX-Delivery": str(delivery.event_id),
    }
    error, status = "", None
    try:
        answer = post(endpoint.url, body, headers)
    except TargetRefused as exc:
        error = f"Refused: {exc}"
    except OSError as exc:  # timeouts, refused connections, TLS, bad answers
        error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    else:
        status = answer.status
        if not 200 <= status < 300:
            error = f"HTTP {status}: {answer.body}"
    delivery.response_status = status
    delivery.last_error = error[:500]
    delay = None
    if not error:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            DeliveryStatus.SUCCEEDED,
            timezone.now(),
            None,
        )
    else:
        delay = backoff(delivery.attempts)
        retry_at = timezone.now() + timedelta(seconds=delay)
        give_up_at = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
        if retry_at > give_up_at or delivery.event == TEST_EVENT:
            delivery.status, delivery.next_attempt_at, delay = DeliveryStatus.FAILED, None, None
        else:
            delivery.next_attempt_at = retry_at
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "response_status",
            "last_error",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
        ]
    )
    logger.info(
        "webhook delivery %s (%s) to endpoint %s: attempt %d, %s",
        delivery.pk,
        delivery.event,
        endpoint.pk,
        delivery.attempts,
        "delivered"
        if not error
        else (f"retry in {delay:g} s" if delay else "failed") + f" ({status or error[:80]})",
    )
    return delay


def due_ids(*, limit: int = 1000) -> list[int]:
    """Pending deliveries whose attempt is overdue (their enqueue failed, or the worker was down
    when a retry was due): what the sweep hands to the worker again."""
    late = timezone.now() - timedelta(seconds=30)
    return list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=late)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def purge_old() -> int:
    """Delete deliveries older than WEBHOOK_LOG_DAYS that are no longer pending."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_LOG_DAYS)
    deleted, _ = (
        WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(status=DeliveryStatus.PENDING).delete()
    )
    return deleted
