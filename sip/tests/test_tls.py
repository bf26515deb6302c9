"""SIP over TLS and WebSocket over TLS from `make sip` (SIP_TLS=1), and a login info that shows
exactly what is served: `manage.py run_kamailio` refuses to start when it offers more."""

import datetime as dt
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from django.db import connection

from extensions.services import extension_reveal_credentials
from sip.kamailio import Kamailio, KamailioConfig, db_url_for, free_port, free_sip_port, host_port
from sip.selectors import contacts_for
from sip.sipclient import SipClient
from sip.tls import ensure_self_signed, spki_sha256
from tests.factories import HotlineFactory, make_extension

BASE_DIR = Path(__file__).resolve().parents[2]

# What the settings make of the environment: the login info's transports and WebSocket URL,
# what `make sip` would serve with them, and what it would refuse.
SERVED = """
import json
from django.conf import settings
from sip.kamailio import config_from_settings, login_info_problems
config = config_from_settings()
print(json.dumps({"transports": settings.SIP_TRANSPORTS, "websocket_url": settings.SIP_WEBSOCKET_URL,
                  "served": config.served(), "problems": login_info_problems(config)}))
"""


def manage(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def environment(tmp_path, **values: str) -> dict:
    """`make sip`'s environment on a scratch SQLite file (nothing here connects to it), with
    the SIP settings of the test removed unless given."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SIP_", "KAMAILIO_")) or key == "SIP_ENCRYPTION_KEYS"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="pbx_admin.settings",
        DJANGO_DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        KAMAILIO_RUNTIME_DIR=str(tmp_path / "kamailio"),
        LISTEN_SERVICE=f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        # Kamailio's and rtpengine's own /metrics, off the default ports other runs may hold.
        KAMAILIO_METRICS=f"127.0.0.1:{free_port()}",
        RTPENGINE_METRICS=f"127.0.0.1:{free_port()}",
    )
    env.update(values)
    return env


# --- The certificate ----------------------------------------------------------------------


def test_the_self_signed_certificate_names_this_machine_and_is_kept(tmp_path):
    cert_path, key_path = ensure_self_signed(tmp_path / "tls")

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=365)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    # The next start keeps it (a browser or phone told to trust it goes on trusting it) …
    before = cert_path.read_bytes(), spki_sha256(cert_path)
    assert ensure_self_signed(tmp_path / "tls") == (cert_path, key_path)
    assert (cert_path.read_bytes(), spki_sha256(cert_path)) == before
    # … unless it no longer matches its key.
    key_path.write_text("damaged")
    ensure_self_signed(tmp_path / "tls")
    assert spki_sha256(cert_path) != before[1]


# --- The login info shows what is served --------------------------------------------------


@pytest.mark.parametrize(
    ("sip_tls", "transports", "websocket_url"),
    [
        ("0", ["udp", "tcp", "ws"], "ws://127.0.0.1:8088/ws"),
        ("1", ["udp", "tcp", "tls", "wss"], "wss://127.0.0.1:8443/ws"),
    ],
)
def test_the_default_login_info_is_what_make_sip_serves(tmp_path, sip_tls, transports, websocket_url):
    shown = json.loads(
        manage(environment(tmp_path, SIP_TLS=sip_tls), "shell", "--no-imports", "-c", SERVED).stdout
    )

    assert (shown["transports"], shown["websocket_url"]) == (transports, websocket_url)
    assert set(transports) <= set(shown["served"])
    assert shown["served"][websocket_url.split(":")[0]] == websocket_url
    assert shown["problems"] == []
    if sip_tls == "1":
        assert shown["served"]["tls"] == "127.0.0.1:5061"
    else:
        assert "tls" not in shown["served"] and "wss" not in shown["served"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # What `SIP_WEBSOCKET_URL=wss://…` used to do: start plain ws and show wss://.
        ({"SIP_WEBSOCKET_URL": "wss://127.0.0.1:8443/ws"}, "WebSocket over TLS is not served"),
        ({"SIP_TRANSPORTS": "udp,tcp,tls"}, "SIP_TRANSPORTS lists 'tls'"),
        ({"SIP_TRANSPORTS": "udp,sctp"}, "SIP_TRANSPORTS lists 'sctp'"),
        ({"SIP_TLS": "1", "SIP_WEBSOCKET_URL": "ws://127.0.0.1:8443/ws"}, "Two listeners on port 8443"),
    ],
)
def test_make_sip_refuses_to_start_when_the_login_info_offers_more(tmp_path, values, message):
    result = manage(environment(tmp_path, **values), "run_kamailio", "--check", check=False)

    assert result.returncode != 0
    assert "The login info offers what Kamailio would not serve" in result.stderr
    assert message in result.stderr


def test_a_proxy_in_front_may_terminate_wss(tmp_path):
    """Production without SIP_TLS: nginx terminates wss:// and forwards ws:// to Kamailio,
    which KAMAILIO_WS_PORT says."""
    env = environment(tmp_path, SIP_WEBSOCKET_URL="wss://sip.example.vn/ws", KAMAILIO_WS_PORT="8088")
    env["SIP_TRANSPORTS"] = "udp,tcp,wss"
    shown = json.loads(manage(env, "shell", "--no-imports", "-c", SERVED).stdout)
    assert shown["problems"] == []
    assert shown["served"]["ws"] == "ws://127.0.0.1:8088/ws"


# --- make sip with SIP_TLS=1 --------------------------------------------------------------


@pytest.mark.sip
def test_make_sip_with_sip_tls_serves_sip_and_websocket_over_tls(
    kamailio_role, transactional_db, tmp_path, settings
):
    """`SIP_TLS=1 make sip` (`manage.py run_kamailio`): a self-signed certificate for
    127.0.0.1 appears under the runtime directory, and the login info's TLS transports and
    wss:// URL register, with the certificate checked."""
    sip_port, ws_port, tls_port, wss_port = free_sip_port(), free_port(), free_port(), free_port()
    settings.SIP_TLS = True
    settings.SIP_OUTBOUND_PROXY = f"127.0.0.1:{sip_port}"
    settings.SIP_TRANSPORTS = ["udp", "tcp", "tls", "wss"]
    settings.SIP_WEBSOCKET_URL = f"wss://127.0.0.1:{wss_port}/ws"
    env = environment(
        tmp_path,
        SIP_TLS="1",
        SIP_OUTBOUND_PROXY=settings.SIP_OUTBOUND_PROXY,
        SIP_WEBSOCKET_URL=settings.SIP_WEBSOCKET_URL,
        KAMAILIO_WS_PORT=str(ws_port),
        KAMAILIO_TLS_PORT=str(tls_port),
        KAMAILIO_CHILDREN="2",
        KAMAILIO_DB_URL=db_url_for(connection.settings_dict, user=kamailio_role, password=""),
    )
    hotline = HotlineFactory()
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)
    config = KamailioConfig(
        db_url="",
        sip_port=sip_port,
        ws_port=ws_port,
        tls=True,
        sips_port=tls_port,
        wss_port=wss_port,
        runtime_dir=tmp_path / "kamailio",
    )
    checked = manage(env, "run_kamailio", "--check").stdout
    assert f"TLS: SIP over TLS 127.0.0.1:{tls_port}, WebSocket over TLS {info.websocket_url}" in checked

    server = Kamailio(config)
    server.start(command=[sys.executable, "manage.py", "run_kamailio"], env=env)
    try:
        cafile = str(tmp_path / "kamailio" / "tls" / "cert.pem")  # made on the first start
        host, _ = host_port(info.proxy, 5060)
        assert info.transports == ["udp", "tcp", "tls", "wss"]
        with SipClient(host, tls_port, transport="tls", cafile=cafile) as phone:
            status = phone.register(username=info.username, domain=info.domain, password=info.password).status
            assert status == 200
            assert [c.transport for c in contacts_for(extension)] == ["tls"]
        wss = info.websocket_url.removeprefix("wss://").split("/", 1)[0]
        with SipClient(host, int(wss.split(":")[1]), transport="wss", cafile=cafile) as browser:
            status = browser.register(
                username=info.username, domain=info.domain, password=info.password
            ).status
            assert status == 200
            assert "wss" in [c.transport for c in contacts_for(extension)]
    finally:
        server.stop()
