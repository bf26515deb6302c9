"""`make sip` on the embedded SQLite database of `make run`: a newcomer's demo needs no server.

Runs the real commands in subprocesses against a fresh SQLite file: migrate, seed_demo,
`manage.py run_kamailio` (which becomes Kamailio), then REGISTERs with the demo login info.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sip.kamailio import Kamailio, KamailioConfig, free_port, free_sip_port
from sip.rtpengine import free_port_range, ng
from sip.sipclient import SipClient, SipError

from .uas import StandInUas

pytestmark = pytest.mark.sip

BASE_DIR = Path(__file__).resolve().parents[2]

LOGIN_INFO = """
import json
from extensions.models import Extension
from extensions.services import extension_reveal_credentials
infos = [extension_reveal_credentials(extension=e).as_dict()
         for e in Extension.objects.select_related("hotline").order_by("pk")]
print(json.dumps(infos))
"""

STATUS = """
import json
from extensions.models import Extension
from sip.selectors import contacts_for, with_online_status
rows = with_online_status(Extension.objects.select_related("hotline").order_by("pk"))
print(json.dumps([[e.hotline.sip_domain, e.number, e.contact_count > 0, e.contact_count,
                   [c.transport for c in contacts_for(e)]] for e in rows]))
"""

NEW_HOTLINE = """
import json
from extensions.services import extension_create, extension_reveal_credentials
from hotlines.models import Hotline
from tenants.models import Tenant
hotline = Hotline(tenant=Tenant.objects.get(slug="demo"), number="19006868", name="new")
hotline.full_clean()
hotline.save()
extension = extension_create(hotline=hotline, number="200", alias="new200")
print(json.dumps(extension_reveal_credentials(extension=extension).as_dict()))
"""

# A table rebuild of the kind Django does for most field changes on SQLite; it fails while a
# view refers to the table, so the sip app drops the views around migrate.
REBUILD = """
from django.db import connection
from extensions.models import Extension
from sip import schema
def accounts():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sip_subscriber")
        return cursor.fetchone()[0]
print(accounts())
schema.drop_views_before_migrate(sender=None)
with connection.schema_editor() as editor:
    editor._remake_table(Extension)
schema.create_views_after_migrate(sender=None)
print(accounts())
"""


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A migrated, seeded demo database and the environment `make sip` would run with."""
    tmp = tmp_path_factory.mktemp("demo")
    sip_port, ws_port = free_sip_port(), free_port()
    rtp_ports = free_port_range(100)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pbx_admin.settings",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "SIP_OUTBOUND_PROXY": f"127.0.0.1:{sip_port}",
        "SIP_WEBSOCKET_URL": f"ws://127.0.0.1:{ws_port}/ws",
        "KAMAILIO_RUNTIME_DIR": str(tmp / "kamailio"),
        "KAMAILIO_CHILDREN": "2",
        # `make sip` starts the media relay too: on free ports, next to the other runs.
        "RTPENGINE_NG": f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        "RTPENGINE_PORT_MIN": str(rtp_ports[0]),
        "RTPENGINE_PORT_MAX": str(rtp_ports[1]),
        "RTPENGINE_RUNTIME_DIR": str(tmp / "rtpengine"),
    }
    for name in ("SIP_ENCRYPTION_KEYS", "DJANGO_SECRET_KEY"):
        env.pop(name, None)  # the demo's own debug defaults, as `make run` has them
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    config = KamailioConfig(
        db_url=f"sqlite:///{tmp / 'db.sqlite3'}",
        sip_port=sip_port,
        ws_port=ws_port,
        runtime_dir=tmp / "kamailio",
    )
    return env, config, json.loads(manage(env, "shell", "--no-imports", "-c", LOGIN_INFO))


def test_make_sip_on_sqlite_accepts_the_demo_login_info(demo):
    env, config, infos = demo
    assert "Kamailio: SIP udp+tcp 127.0.0.1" in manage(env, "run_kamailio", "--check")
    server = Kamailio(config)
    server.start(command=[sys.executable, "manage.py", "run_kamailio"], env=env)
    try:
        info = infos[0]
        host, port = info["proxy"].split(":")
        assert (host, int(port)) == ("127.0.0.1", config.sip_port)

        with SipClient(host, int(port)) as phone:
            assert (
                phone.register(
                    username=info["username"], domain=info["domain"], password=info["password"]
                ).status
                == 200
            )
        with SipClient(host, int(port), transport="tcp") as phone:
            assert (
                phone.register(
                    username=info["username"], domain=info["domain"], password="Wrong-password-1"
                ).status
                == 403
            )

        # Every demo extension at once, several times: SQLite must not answer "locked".
        def register_all(info: dict) -> list[int]:
            with SipClient(host, int(port), transport="tcp") as phone:
                return [
                    phone.register(
                        username=info["username"], domain=info["domain"], password=info["password"]
                    ).status
                    for _ in range(5)
                ]

        with ThreadPoolExecutor(max_workers=len(infos)) as pool:
            statuses = [s for result in pool.map(register_all, infos) for s in result]
        assert statuses == [200] * (5 * len(infos)), server.log()[-3000:]
        assert "database is locked" not in server.log()

        status = json.loads(manage(env, "shell", "--no-imports", "-c", STATUS))
        assert all(online for _, _, online, _, _ in status), status
        first = status[0]
        assert first[3] == 2 and sorted(first[4]) == ["tcp", "udp"]

        # A hotline created while Kamailio runs works within the reload interval (10 s),
        # without anyone running kamcmd.
        new = json.loads(manage(env, "shell", "--no-imports", "-c", NEW_HOTLINE))
        deadline = time.monotonic() + 15
        with SipClient(host, int(port)) as phone:
            while True:
                status = phone.register(
                    username=new["username"], domain=new["domain"], password=new["password"]
                ).status
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        assert status == 200, server.log()[-3000:]
    finally:
        server.stop()


def test_views_survive_a_table_rebuild_on_sqlite(demo):
    env, _, _ = demo
    before, after = manage(env, "shell", "--no-imports", "-c", REBUILD).split()
    assert int(before) >= 5 and after == before


def test_make_sip_on_sqlite_routes_calls_by_the_dial_rules(demo):
    """On the demo's SQLite file too: the dial rules (dialplan module), the call permission and
    the caller-ID pool (sqlops) decide where extension 101 (mobile, same-carrier group) calls."""
    env, config, infos = demo
    info = next(i for i in infos if i["username"] == "101" and i["domain"].startswith("19001234."))
    host, port = info["proxy"].split(":")
    with StandInUas() as gateway:
        server = Kamailio(config)
        server.start(
            command=[sys.executable, "manage.py", "run_kamailio"], env={**env, "SIP_GATEWAY_URI": gateway.uri}
        )
        try:
            with SipClient(host, int(port)) as phone:

                def dial(number: str):
                    return phone.invite(
                        number=number,
                        domain=info["domain"],
                        username=info["username"],
                        password=info["password"],
                    )

                denied = dial("+1 202 555 0100".replace(" ", ""))
                viettel, vinaphone = dial("0961234567"), dial("+84941234567")
        finally:
            server.stop()
    assert (denied.status, denied.response.reason) == (403, "Call permission: international required")
    assert (viettel.status, vinaphone.status) == (486, 486)
    assert [(i.user, i.header_user("p-asserted-identity")) for i in gateway.invites] == [
        ("0961234567", "19001234"),
        ("0941234567", "0912345678"),
    ]


# --- The media relay: `make sip` starts rtpengine and Ctrl-C stops both ----------------------


def test_make_sip_runs_the_media_relay_and_ctrl_c_stops_both(demo, tmp_path):
    env, config, _ = demo
    assert "Media relay: rtpengine on 127.0.0.1" in manage(env, "run_kamailio", "--check")
    ng_host, _, ng_port = env["RTPENGINE_NG"].rpartition(":")
    relay = (ng_host, int(ng_port))
    with open(tmp_path / "make-sip.log", "wb") as log:
        # Its own process group, as a terminal gives `make sip` (Ctrl-C signals the group).
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_kamailio"],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "make-sip.log").read_text()[-3000:]
            try:
                with SipClient("127.0.0.1", config.sip_port, timeout=0.5) as phone:
                    if phone.options().status == 200:
                        break
            except (OSError, SipError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "make-sip.log").read_text()[-3000:]
            time.sleep(0.2)
        assert ng(relay, {"command": "ping"})["result"] == "pong"
        relay_pid = int((Path(env["RTPENGINE_RUNTIME_DIR"]) / "rtpengine.pid").read_text())
        # Kamailio found it at start (its log says so).
        assert "rtpengine instance <udp:" + env["RTPENGINE_NG"] in (tmp_path / "make-sip.log").read_text()

        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=20) is not None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    # Nothing of it is left: not the relay, not Kamailio.
    with pytest.raises(ProcessLookupError):
        os.kill(relay_pid, 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
    with pytest.raises(OSError):
        ng(relay, {"command": "ping"}, timeout=0.5)
