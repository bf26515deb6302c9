"""A real Kamailio for the SIP tests, started once per test session on free loopback ports
against the test database, connected as the restricted role production uses."""

import io
import re
import secrets
import shutil
import socket

import pytest
from django.core.management import call_command
from django.db import connection

from dialplan.classifier import RuleSet
from dialplan.testing import install_vietnam_rules
from sip.ephemeral import ephemeral_secret
from sip.kamailio import (
    RELAXED_PROTECTION,
    Kamailio,
    KamailioConfig,
    db_url_for,
    free_port,
    free_sip_port,
)
from sip.listen import ListenProcess
from sip.rtpengine import Rtpengine, RtpengineConfig, free_port_range
from sip.turn import TurnConfig, TurnServer

from .uas import StandInUas


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("The SIP tests need PostgreSQL (DATABASE_URL=postgres://…), as CI runs them.")


@pytest.fixture(scope="session")
def kamailio_role(django_db_setup, django_db_blocker) -> str:
    """Kamailio's role on the test database, made by the same command as in production.
    Roles are cluster-wide, so the name carries the database's, to stay apart from other runs."""
    with django_db_blocker.unblock():
        _require_postgresql()
        role = re.sub(r"[^a-z0-9_]", "_", f"kamailio_{connection.settings_dict['NAME']}".lower())[:63]
        call_command("kamailio_db_role", role=role, stdout=io.StringIO())
    return role


@pytest.fixture(scope="session")
def gateway_server():
    """The carrier gateway's stand-in (a UDP SIP UAS recording the INVITEs it gets)."""
    with StandInUas() as uas:
        yield uas


@pytest.fixture(scope="session")
def rtpengine_server(tmp_path_factory):
    """The media relay on a free loopback control port and a free slice of RTP ports."""
    port_min, port_max = free_port_range(200)
    config = RtpengineConfig(
        ng_port=free_port(socket.SOCK_DGRAM),
        port_min=port_min,
        port_max=port_max,
        # Sessions are freed at once, so a test sees that a call left none behind.
        delete_delay=0,
        log_level=6,
        runtime_dir=tmp_path_factory.mktemp("rtpengine"),
    )
    with Rtpengine(config) as relay:
        yield relay


@pytest.fixture
def relay(rtpengine_server):
    """The session's rtpengine; each test checks it holds no session of its own afterwards."""
    return rtpengine_server


@pytest.fixture(scope="session")
def kamailio_server(kamailio_role, django_db_blocker, tmp_path_factory, gateway_server, rtpengine_server):
    """Kamailio on free ports, and the listen service (*33) next to it as `make sip` starts it,
    both stopped by PID (Kamailio with all its children) when the session ends."""
    with django_db_blocker.unblock():
        db_url = db_url_for(connection.settings_dict, user=kamailio_role, password="")
    runtime_dir = tmp_path_factory.mktemp("kamailio")
    listen = ListenProcess(
        port=free_port(socket.SOCK_DGRAM),
        rtpengine=rtpengine_server.config.ng_address,
        kamailio_ctl=f"unix:{runtime_dir / 'kamailio_ctl'}",
        log_path=runtime_dir / "listen.log",
    )
    config = KamailioConfig(
        db_url=db_url,
        sip_port=free_sip_port(),
        ws_port=free_port(),
        children=2,
        # Only explicit reloads in these tests, so the tests of them can fail.
        domain_reload_seconds=3600,
        runtime_dir=runtime_dir,
        gateway_uri=gateway_server.uri,
        listen_uri=listen.uri,
        # Reloads never overlap here (no timer), so none needs to wait for the previous one.
        dialplan_reload_delta=0,
        # SIP over TLS and WebSocket over TLS too, with the self-signed certificate `make sip`
        # makes (under runtime_dir/tls); `kamailio_tls` points the login info at them.
        tls=True,
        sips_port=free_port(),
        wss_port=free_port(),
        # Kamailio's own Prometheus /metrics (xhttp_prom), as `make sip` serves it.
        metrics_listen=f"127.0.0.1:{free_port()}",
        # NAT keep-alives every second, so a test sees one soon.
        natping_interval=1,
        rtpengine_sock=rtpengine_server.config.kamailio_socket,
        # The web phone's credentials (sip.ephemeral) are checked with the dashboard's secret.
        ephemeral_secret=ephemeral_secret(),
        # Many tests send wrong passwords from the loopback: nothing locks here
        # (sip/tests/test_protection.py runs its own Kamailio with the locks on).
        protection=RELAXED_PROTECTION,
    )
    assert config.ctl_socket == runtime_dir / "kamailio_ctl"
    server = Kamailio(config)
    server.listen = listen  # type: ignore[attr-defined]
    with listen:
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def kamailio(kamailio_server, transactional_db, settings):
    """The running Kamailio, for a test whose rows it must see (so committed: transactional_db).
    The login info points at it, as the dashboard's settings point at `make sip`."""
    config = kamailio_server.config
    settings.SIP_OUTBOUND_PROXY = f"{config.listen_ip}:{config.sip_port}"
    settings.SIP_WEBSOCKET_URL = f"ws://{config.listen_ip}:{config.ws_port}{config.ws_path}"
    return kamailio_server


@pytest.fixture
def kamailio_tls(kamailio, settings):
    """The running Kamailio with the login info of SIP_TLS=1: TLS and wss:// offered."""
    config = kamailio.config
    settings.SIP_TLS = True
    settings.SIP_TRANSPORTS = ["udp", "tcp", "tls", "wss"]
    settings.SIP_WEBSOCKET_URL = f"wss://{config.listen_ip}:{config.wss_port}{config.ws_path}"
    return kamailio


@pytest.fixture
def gateway(kamailio, gateway_server):
    """The gateway stand-in, emptied, answering 486 Busy Here unless the test says otherwise."""
    gateway_server.clear()
    gateway_server.answer = 486
    return gateway_server


@pytest.fixture
def dial_rules(kamailio) -> RuleSet:
    """The seeded Vietnamese dial rules, in the database and loaded by Kamailio."""
    install_vietnam_rules()
    kamailio.reload_dialplan()
    return RuleSet.from_db()


@pytest.fixture
def turn_server(tmp_path_factory, settings):
    """coturn (Debian's) on a free loopback port with the TURN REST API secret (use-auth-secret),
    allowed to relay to the loopback where rtpengine is (production must not: docs/deployment.md),
    stopped by its PID; the dashboard's settings point the web phone at it, over TCP."""
    if not shutil.which("turnserver"):
        pytest.fail("coturn is not installed: run `make system-deps`.")
    port_min, port_max = free_port_range(40)
    config = TurnConfig(
        secret=secrets.token_urlsafe(24),
        port=free_sip_port(),  # UDP and TCP
        min_port=port_min,
        max_port=port_max,
        realm="turn.test",
        runtime_dir=tmp_path_factory.mktemp("turn"),
    )
    settings.WEB_PHONE_TURN_URLS = [f"turn:{config.listen_ip}:{config.port}?transport=tcp"]
    settings.WEB_PHONE_TURN_SECRET = config.secret
    with TurnServer(config) as turn:
        yield turn
