"""rtpengine's own counters: with RtpengineConfig.metrics_listen (RTPENGINE_METRICS for `make
sip`) the real daemon serves Prometheus text on loopback."""

import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from sip.kamailio import free_port
from sip.rtpengine import Rtpengine, RtpengineConfig, free_port_range


def test_rtpengine_serves_its_metrics_on_the_configured_loopback_port(tmp_path):
    port_min, port_max = free_port_range(10)
    metrics_port = free_port()
    config = RtpengineConfig(
        ng_port=free_port(socket.SOCK_DGRAM),
        port_min=port_min,
        port_max=port_max,
        runtime_dir=tmp_path,
        metrics_listen=f"127.0.0.1:{metrics_port}",
    )
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with Rtpengine(config), urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "rtpengine_sessions" in names
