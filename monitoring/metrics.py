"""What /metrics exposes (Prometheus text format).

Request metrics are counted by the middleware in each process. Under gunicorn (several worker
processes) set PROMETHEUS_MULTIPROC_DIR to an empty directory before the workers start
(docs/deployment.md): prometheus_client then keeps the counters in files there and a scrape adds
up every worker's. The rest is read on each scrape (DashboardCollector): a few COUNT queries,
the queue's length and one `kamcmd stats.get_statistics all` (Kamailio's own counters, among
them the dialog module's active calls) — nothing is kept between scrapes.
"""

import logging
import os
import re
import subprocess

from django.db.models import Count
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from extensions.models import Extension
from sip.kamailio import KamailioError, config_from_settings, rpc
from sip.selectors import live_locations
from webhooks.choices import DeliveryStatus
from webhooks.models import WebhookDelivery

logger = logging.getLogger(__name__)

# Latency buckets for a dashboard: most pages take 10–200 ms.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "pbx_http_requests",
    "HTTP requests answered, by method, URL name and status code.",
    ["method", "view", "status"],
)
LATENCY = Histogram(
    "pbx_http_request_duration_seconds", "Time to answer a request, by URL name.", ["view"], buckets=BUCKETS
)
EXCEPTIONS = Counter(
    "pbx_http_exceptions", "Requests that raised an unhandled exception, by URL name.", ["view"]
)

KAMAILIO_STAT = re.compile(r"^\s*([\w.-]+):([\w.-]+)\s*=\s*(-?\d+)\s*$")


def kamailio_statistics() -> dict[str, int] | None:
    """Kamailio's counters ("group:name" → value) from its control socket, or None when no
    Kamailio answers there (not running on this host, or not configured)."""
    config = config_from_settings()
    if not config.ctl_socket.exists():
        return None
    try:
        text = rpc(config, "stats.get_statistics", "all", timeout=2.0)
    except (KamailioError, OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("metrics: Kamailio statistics unavailable: %s", exc)
        return None
    stats = {}
    for line in text.splitlines():
        if match := KAMAILIO_STAT.match(line):
            stats[f"{match[1]}:{match[2]}"] = int(match[3])
    return stats


def _metric_name(key: str) -> str:
    return "kamailio_" + re.sub(r"[^a-zA-Z0-9_]", "_", key.replace(":", "_"))


class DashboardCollector(Collector):
    """Numbers read when Prometheus scrapes."""

    def collect(self):
        extensions = GaugeMetricFamily(
            "pbx_extensions",
            "Extensions (máy lẻ) per hotline, enabled or not.",
            labels=["hotline", "enabled"],
        )
        for number, enabled, count in (
            Extension.objects.values_list("hotline__number", "enabled")
            .annotate(n=Count("id"))
            .order_by("hotline__number", "enabled")
        ):
            extensions.add_metric([number, "true" if enabled else "false"], count)
        yield extensions

        online = live_locations().values("username", "domain").distinct().count()
        yield GaugeMetricFamily(
            "pbx_registrations_online", "Extensions with at least one live registration.", value=online
        )

        deliveries = GaugeMetricFamily(
            "pbx_webhook_deliveries", "Webhook deliveries in the log, by status.", labels=["status"]
        )
        counts = dict(WebhookDelivery.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in DeliveryStatus.values:
            deliveries.add_metric([status], counts.get(status, 0))
        yield deliveries
        yield from self._queue()
        yield from self._kamailio()

    def _queue(self):
        from huey.contrib.djhuey import HUEY  # type: ignore[import-untyped]  # huey has no type information

        try:
            pending, scheduled = HUEY.pending_count(), HUEY.scheduled_count()
        except Exception as exc:  # the queue's storage is down: say so by leaving the gauges out
            logger.warning("metrics: task queue unavailable: %s", exc)
            return
        yield GaugeMetricFamily("pbx_task_queue_pending", "Tasks waiting for a worker.", value=pending)
        yield GaugeMetricFamily(
            "pbx_task_queue_scheduled", "Tasks scheduled for later (retries).", value=scheduled
        )

    def _kamailio(self):
        stats = kamailio_statistics()
        yield GaugeMetricFamily(
            "pbx_kamailio_up", "Whether Kamailio's control socket answered.", value=stats is not None
        )
        if stats is None:
            return
        if "dialog:active_dialogs" in stats:
            yield GaugeMetricFamily(
                "pbx_calls_active",
                "Calls in progress (Kamailio's active dialogs).",
                value=stats["dialog:active_dialogs"],
            )
        for key, value in sorted(stats.items()):
            # Kamailio does not say which are counters; exported as gauges, named by group.
            yield GaugeMetricFamily(_metric_name(key), f"Kamailio statistic {key}.", value=value)


def exposition() -> bytes:
    """The text a scrape gets."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY, EXCEPTIONS):
            registry.register(collector)
    registry.register(DashboardCollector())
    return generate_latest(registry)


__all__ = ["EXCEPTIONS", "LATENCY", "REGISTRY", "REQUESTS", "exposition"]
