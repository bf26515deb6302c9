"""Kamailio's own counters for Prometheus (xhttp_prom, the METRICS section of kamailio.cfg):
served on a loopback listener of their own, never on the public WebSocket port."""

import time

import pytest
import requests
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from extensions.services import extension_reveal_credentials
from sip.kamailio import Kamailio, KamailioConfig, KamailioError
from sip.rtpengine import RtpengineConfig, RtpengineError
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.sip


def scrape(kamailio: Kamailio) -> dict[str, float]:
    """One scrape of the metrics listener: sample name → value (the samples have no labels)."""
    response = requests.get(f"http://{kamailio.config.metrics_listen}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_the_metrics_listener_counts_a_new_registration(kamailio):
    hotline = HotlineFactory()
    kamailio.reload_domains()
    info = extension_reveal_credentials(extension=make_extension(hotline, "101", "sale01"))
    before = scrape(kamailio)
    # Core, transaction, registrar and dialog statistics are all there.
    for name in (
        "kamailio_core_rcv_requests",
        "kamailio_tmx_UAS_transactions",
        "kamailio_registrar_accepted_regs",
        "kamailio_dialog_active_dialogs",
        "kamailio_pbx_blocked_addresses",
    ):
        assert name in before

    with SipClient(kamailio.config.listen_ip, kamailio.config.sip_port) as phone:
        assert (
            phone.register(username=info.username, domain=info.domain, password=info.password).status == 200
        )
    after = scrape(kamailio)
    assert after["kamailio_usrloc_registered_users"] == before["kamailio_usrloc_registered_users"] + 1
    assert after["kamailio_usrloc_location_contacts"] == before["kamailio_usrloc_location_contacts"] + 1
    assert after["kamailio_registrar_accepted_regs"] == before["kamailio_registrar_accepted_regs"] + 1


def test_the_blocked_addresses_gauge_follows_the_block_table(kamailio):
    assert scrape(kamailio)["kamailio_pbx_blocked_addresses"] == 0
    kamailio.rpc("htable.seti", "ipban", "203.0.113.9", str(int(time.time()) + 600))
    try:
        assert scrape(kamailio)["kamailio_pbx_blocked_addresses"] == 1
    finally:
        kamailio.rpc("htable.delete", "ipban", "203.0.113.9")
    assert scrape(kamailio)["kamailio_pbx_blocked_addresses"] == 0


def test_metrics_are_refused_on_the_websocket_port(kamailio):
    config = kamailio.config
    for url in (
        f"http://{config.listen_ip}:{config.ws_port}/metrics",
        f"https://{config.listen_ip}:{config.wss_port}/metrics",
    ):
        response = requests.get(url, timeout=5, verify=str(config.tls_cert_file))
        assert response.status_code == 404
        assert "kamailio_" not in response.text
    # And the metrics listener serves nothing else: not other paths, not SIP.
    assert requests.get(f"http://{config.metrics_listen}/ws", timeout=5).status_code == 404
    host, port = config.metrics_address
    with SipClient(host, port, transport="tcp") as client:
        assert client.options().status == 403


def test_the_metrics_listener_is_for_the_loopback_only():
    config = KamailioConfig(db_url="postgres://k@127.0.0.1/x", metrics_listen="0.0.0.0:9102")  # noqa: S104 — refused
    with pytest.raises(KamailioError, match="loopback"):
        config.all_defines()
    config.metrics_listen = f"127.0.0.1:{config.ws_port}"
    assert any(
        "KAMAILIO_METRICS" in problem
        for problem in config.login_info_problems(
            proxy="127.0.0.1:5060", transports=["udp"], websocket_url="ws://127.0.0.1:8088/ws"
        )
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.0.0.0:9102", "Kamailio's metrics listen on an IPv4 loopback address only"),  # noqa: S104 — refused
        ("127.0.0.1:8088", "KAMAILIO_METRICS uses port 8088, which SIP or WebSocket listens on"),
    ],
)
def test_make_sip_refuses_metrics_off_the_loopback_or_on_a_sip_port(tmp_path, value, message):
    from .test_tls import environment, manage

    result = manage(environment(tmp_path, KAMAILIO_METRICS=value), "run_kamailio", "--check", check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_relay_refuses_its_http_listener_off_the_loopback(tmp_path):
    with pytest.raises(RtpengineError, match="loopback address only"):
        RtpengineConfig(metrics_listen="0.0.0.0:9101", runtime_dir=tmp_path).command()  # noqa: S104 — refused


def test_the_dashboards_metrics_read_one_kamailio_with_no_node_label(kamailio, client, settings, monkeypatch):
    """`make sip` (no SIP_CLUSTER_CTL_SOCKETS): the dashboard's /metrics reads this Kamailio over
    its control socket, and its samples have no labels (a cluster's have `node`:
    test_cluster.py)."""
    settings.SIP_CLUSTER_CTL_SOCKETS = []
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(kamailio.config.runtime_dir))
    response = client.get(reverse("metrics"), REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    for name in ("pbx_kamailio_up", "pbx_calls_active", "kamailio_core_rcv_requests"):
        [sample] = families[name].samples
        assert sample.labels == {}, sample
    assert families["pbx_kamailio_up"].samples[0].value == 1
