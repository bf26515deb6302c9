"""GET /metrics: valid Prometheus text with the dashboard's metrics, for loopback and the allowed
networks only."""

import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db

NAMED = {
    "pbx_http_requests",
    "pbx_http_request_duration_seconds",
    "pbx_http_exceptions",
    "pbx_extensions",
    "pbx_registrations_online",
    "pbx_webhook_deliveries",
    "pbx_task_queue_pending",
    "pbx_kamailio_up",
}


def scrape(client, **extra) -> dict:
    response = client.get(reverse("metrics"), **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def test_loopback_gets_the_named_metrics(client, world):
    client.force_login(world.admin_a)
    client.get(reverse("hotlines:hotline_list"))
    client.logout()
    webhook_create(tenant=world.tenant_a, url="http://127.0.0.1:9/", secret="x" * 20, events=["call.ended"])
    families = scrape(client, REMOTE_ADDR="127.0.0.1")
    assert set(families) >= NAMED, sorted(set(NAMED) - set(families))
    requests = {
        (s.labels["view"], s.labels["status"]): s.value
        for s in families["pbx_http_requests"].samples
        if s.name == "pbx_http_requests_total"
    }
    assert requests[("hotlines:hotline_list", "200")] >= 1
    extensions = {
        (s.labels["hotline"], s.labels["enabled"]): s.value for s in families["pbx_extensions"].samples
    }
    assert extensions[(world.hotline_a.number, "true")] == 3
    assert families["pbx_registrations_online"].samples[0].value == 0
    statuses = {s.labels["status"]: s.value for s in families["pbx_webhook_deliveries"].samples}
    assert statuses == {"pending": 0, "succeeded": 0, "failed": 0}
    # No Kamailio listens on this test's control socket: said, not an error.
    assert families["pbx_kamailio_up"].samples[0].value == 0
    assert scrape(client, REMOTE_ADDR="::1")


def test_other_addresses_are_refused_unless_allowed(client, settings):
    assert client.get(reverse("metrics"), REMOTE_ADDR="203.0.113.9").status_code == 403
    # A forged header from an untrusted client changes nothing (core.net.client_ip).
    assert (
        client.get(reverse("metrics"), REMOTE_ADDR="203.0.113.9", HTTP_X_REAL_IP="127.0.0.1").status_code
        == 403
    )
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert scrape(client, REMOTE_ADDR="203.0.113.9")
    # Behind a trusted proxy, the client it reports decides.
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.TRUSTED_PROXIES = ["10.0.0.1/32"]
    assert (
        client.get(reverse("metrics"), REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP="198.51.100.7").status_code
        == 403
    )
