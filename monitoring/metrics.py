"""What /metrics exposes (Prometheus text format).

Request metrics are counted by the middleware in each process. Under gunicorn (several worker
processes) set PROMETHEUS_MULTIPROC_DIR to an empty directory before the workers start
(docs/deployment.md): prometheus_client then keeps the counters in files there and a scrape adds
up every worker's. The rest is read on each scrape (DashboardCollector): a few COUNT queries,
the queue's length and one `kamcmd stats.get_statistics all` (Kamailio's own counters, among
them the dialog module's active calls) — nothing is kept between scrapes.

A cluster (SIP_CLUSTER_CTL_SOCKETS): every node is asked at once, each for at most
KAMAILIO_STATS_TIMEOUT seconds, and each of its samples carries a `node` label (its control
address, as in the setting); a node that does not answer has `pbx_kamailio_up{node=…} 0` and no
other sample. Sum them in Prometheus: a call crossing nodes is counted once, by the node it
entered (the others only relay it and keep no dialog).
"""

import logging
import os
import re

from django.conf import settings
from django.db.models import Count
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from extensions.models import Extension
from sip.kamailio import control_reachable, rpc_each
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


# How long a scrape waits for a node's statistics: Prometheus gives up at 10 s by default, and a
# node that hangs must not cost the other metrics.
KAMAILIO_STATS_TIMEOUT = 2.0


def kamailio_statistics() -> dict[str, dict[str, int] | None]:
    """Each node's counters ("group:name" → value), by its control address: one node for `make
    sip`, every node of SIP_CLUSTER_CTL_SOCKETS; None for a node that does not answer (not
    running on this host, or not configured, or too slow)."""
    nodes: dict[str, dict[str, int] | None] = {}
    for answer in rpc_each("stats.get_statistics", "all", timeout=KAMAILIO_STATS_TIMEOUT):
        if answer.output is None:
            if control_reachable(answer.address):  # not a Kamailio that is simply not started here
                logger.warning("metrics: no Kamailio statistics from %s: %s", answer.address, answer.error)
            nodes[answer.address] = None
            continue
        stats = {}
        for line in answer.output.splitlines():
            if match := KAMAILIO_STAT.match(line):
                stats[f"{match[1]}:{match[2]}"] = int(match[3])
        nodes[answer.address] = stats
    return nodes


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
        nodes = kamailio_statistics()
        # One Kamailio (`make sip`): no label, as before clusters; a cluster: one `node` each.
        labels = ["node"] if getattr(settings, "SIP_CLUSTER_CTL_SOCKETS", None) else []
        up = GaugeMetricFamily(
            "pbx_kamailio_up", "Whether Kamailio's control socket answered.", labels=labels
        )
        calls = GaugeMetricFamily(
            "pbx_calls_active", "Calls in progress (Kamailio's active dialogs).", labels=labels
        )
        statistics: dict[str, GaugeMetricFamily] = {}
        for node, stats in nodes.items():
            values = [node] if labels else []
            up.add_metric(values, stats is not None)
            if stats is None:
                continue
            if "dialog:active_dialogs" in stats:
                calls.add_metric(values, stats["dialog:active_dialogs"])
            for key, value in sorted(stats.items()):
                # Kamailio does not say which are counters; exported as gauges, named by group.
                if key not in statistics:
                    statistics[key] = GaugeMetricFamily(
                        _metric_name(key), f"Kamailio statistic {key}.", labels=labels
                    )
                statistics[key].add_metric(values, value)
        yield up
        if calls.samples:
            yield calls
        for key in sorted(statistics):
            yield statistics[key]


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
