"""`make sip` on the embedded SQLite database of `make run`: a newcomer's demo needs no server.

Runs the real commands in subprocesses against a fresh SQLite file: migrate, seed_demo,
`manage.py run_kamailio` (which becomes Kamailio), then REGISTERs with the demo login info.
With `manage.py runserver` (`make run`) beside it: SQLite writes one at a time, and a write that
meets another waits for it instead of failing with "database is locked".
"""

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

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
from sip.selectors import contacts_for, registrations, with_contacts, with_online_status
rows = with_contacts(with_online_status(Extension.objects.select_related("hotline").order_by("pk")))
rows = [[e.hotline.sip_domain, e.number, e.contact_count > 0, e.contact_count,
         [c.transport for c in contacts_for(e)], registrations(e.contacts_json)] for e in rows]
# What the API shows (the JSON of with_contacts) is what the page shows (contacts_for).
assert all([c.transport for c in api] == page for *_, page, api in rows), rows
print(json.dumps([row[:-1] for row in rows]))
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


# The demo agent's web phone: credentials from the page's endpoint (signed in), then the
# session's sign-out (its key given), as the browser would.
PHONE_SIGN_IN = """
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(get_user_model().objects.get(username="agent"))
login = client.post("/phone/credentials/").json()
print(json.dumps({**login, "session": client.cookies[settings.SESSION_COOKIE_NAME].value}))
"""

PHONE_SIGN_OUT = """
import os
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="127.0.0.1")
client.cookies[settings.SESSION_COOKIE_NAME] = os.environ["SESSION"]
print(client.post("/accounts/logout/").status_code)
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


def demo_database(tmp: Path) -> tuple[dict, KamailioConfig, list[dict]]:
    """A migrated, seeded demo database in `tmp`, the environment `make sip` would run with, and
    the demo extensions' login info."""
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
        # …and the listen service (*33).
        "LISTEN_SERVICE": f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        # Kamailio's and rtpengine's own Prometheus /metrics.
        "KAMAILIO_METRICS": f"127.0.0.1:{free_port()}",
        "RTPENGINE_METRICS": f"127.0.0.1:{free_port()}",
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


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A migrated, seeded demo database and the environment `make sip` would run with."""
    return demo_database(tmp_path_factory.mktemp("demo"))


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
        phones = [SipClient(host, int(port), transport="tcp").open() for _ in infos]
        try:

            def register_all(pair: tuple[SipClient, dict]) -> list[int]:
                phone, info = pair
                return [
                    phone.register(
                        username=info["username"], domain=info["domain"], password=info["password"]
                    ).status
                    for _ in range(5)
                ]

            with ThreadPoolExecutor(max_workers=len(infos)) as pool:
                statuses = [
                    s for result in pool.map(register_all, zip(phones, infos, strict=True)) for s in result
                ]
            assert statuses == [200] * (5 * len(infos)), server.log()[-3000:]
            assert "database is locked" not in server.log()

            status = json.loads(manage(env, "shell", "--no-imports", "-c", STATUS))
            assert all(online for _, _, online, _, _ in status), status
            first = status[0]
            assert first[3] == 2 and sorted(first[4]) == ["tcp", "udp"]
        finally:
            for phone in phones:
                phone.close()

        # The connections closed: their contacts go with them (the first keeps its UDP one).
        deadline = time.monotonic() + 10
        while True:
            status = json.loads(manage(env, "shell", "--no-imports", "-c", STATUS))
            if [transports for *_, transports in status] == [["udp"]] + [[]] * (len(status) - 1):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert "database is locked" not in server.log()

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


def test_the_web_phone_signs_in_and_out_on_sqlite(demo):
    """The web phone's credentials work on the demo's SQLite Kamailio, and its sign-out ends
    them there too (route[EPHEMERAL] reads sip_web_phone_cutoff)."""
    env, config, _ = demo
    server = Kamailio(config)
    server.start(command=[sys.executable, "manage.py", "run_kamailio"], env=env)
    try:
        login = json.loads(manage(env, "shell", "--no-imports", "-c", PHONE_SIGN_IN))

        def register(login: dict) -> int:
            with SipClient("127.0.0.1", config.sip_port) as phone:
                return phone.register(
                    username=login["number"],
                    domain=login["domain"],
                    auth_username=login["username"],
                    password=login["password"],
                ).status

        assert register(login) == 200, server.log()[-3000:]
        session = {**env, "SESSION": login["session"]}
        assert manage(session, "shell", "--no-imports", "-c", PHONE_SIGN_OUT).strip() == "302"
        assert register(login) == 403, server.log()[-3000:]
        assert register(json.loads(manage(env, "shell", "--no-imports", "-c", PHONE_SIGN_IN))) == 200
    finally:
        server.stop()


SUBSCRIBE = """
import os
from tenants.models import Tenant
from webhooks.services import webhook_create
webhook_create(tenant=Tenant.objects.get(slug="demo"), url=os.environ["HOOK_URL"],
               secret="demo-secret-0123456789", events=["registration.online", "registration.offline"])
"""


def test_make_run_beside_make_sip_sends_registration_webhooks_without_a_page(demo, tmp_path):
    """The demo on SQLite: `make sip`'s importer notices a phone signing in and out with no page
    open, and `make run`'s worker delivers the webhooks (one task-queue file, as in var/)."""
    from webhooks.tests.receiver import Receiver

    env, config, infos = demo
    receiver = Receiver()
    receiver.start()
    # No Redis, as `make run` has none: the queue is an SQLite file both processes open.
    env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    env.update(TASK_QUEUE_FILE=str(tmp_path / "tasks.sqlite3"), PYTHONUNBUFFERED="1")
    manage({**env, "HOOK_URL": receiver.url}, "shell", "--no-imports", "-c", SUBSCRIBE)
    server = Kamailio(config)
    server.start(command=[sys.executable, "manage.py", "run_kamailio"], env=env)
    processes = []
    try:
        for args, log in (
            (["run_huey", "--workers", "2"], "worker.log"),  # make run
            (["import_call_records", "--follow"], "importer.log"),  # make sip
        ):
            with open(tmp_path / log, "wb") as out:
                processes.append(
                    subprocess.Popen(  # noqa: S603 — our own command line
                        [sys.executable, "manage.py", *args],
                        cwd=BASE_DIR,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                )
        info = next(i for i in infos if i["username"] == "102")
        host, port = info["proxy"].split(":")
        # The importer's first look records everyone as they are (and reports nothing).
        database = env["DATABASE_URL"].removeprefix("sqlite:///")
        deadline = time.monotonic() + 20
        while True:
            with contextlib.closing(sqlite3.connect(database)) as db:
                seen = db.execute("SELECT COUNT(*) FROM sip_extensionpresence").fetchone()[0]
            if seen >= len(infos) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert seen >= len(infos), (tmp_path / "importer.log").read_text()
        with SipClient(host, int(port)) as phone:
            credentials = {
                "username": info["username"],
                "domain": info["domain"],
                "password": info["password"],
            }
            assert phone.register(**credentials).status == 200
            receiver.wait_for(lambda got: [e["event"] for e in got] == ["registration.online"], timeout=15)
            assert phone.register(**credentials, expires=0).status == 200
            events = receiver.wait_for(lambda got: len(got) == 2, timeout=15)
        assert [e["event"] for e in events] == ["registration.online", "registration.offline"]
        assert {(e["data"]["number"], e["data"]["hotline"]["sip_domain"]) for e in events} == {
            ("102", info["domain"])
        }
        assert "database is locked" not in server.log()
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        server.stop()
        receiver.stop()
    logs = (tmp_path / "importer.log").read_text() + (tmp_path / "worker.log").read_text()
    assert "Traceback" not in logs, logs[-3000:]


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
                # The outbound schedule on SQLite (its own local-time arithmetic, UTC+7): closed
                # today, then open around now (windows relative to now).
                manage(env, "shell", "--no-imports", "-c", SET_SCHEDULE % {"number": "101", "open": False})
                outside = dial("0961234567")
                manage(env, "shell", "--no-imports", "-c", SET_SCHEDULE % {"number": "101", "open": True})
                inside = dial("0961234567")
        finally:
            server.stop()
    assert (denied.status, denied.response.reason) == (403, "Call permission: international required")
    assert (viettel.status, vinaphone.status) == (486, 486)
    assert (outside.status, outside.response.reason) == (403, "Outside the outbound schedule")
    assert inside.status == 486
    assert [(i.user, i.header_user("p-asserted-identity")) for i in gateway.invites] == [
        ("0961234567", "19001234"),
        ("0941234567", "0912345678"),
        ("0961234567", "19001234"),
    ]


# Give extension 101 of 1900 1234 a schedule closed today, or open for the hour around now.
SET_SCHEDULE = """
from django.utils import timezone
from extensions.models import Extension
from extensions.services import extension_update
from hotlines.schedules import TIME_ZONE, format_minute
from hotlines.services import schedule_create
extension = Extension.objects.get(number="%(number)s", hotline__number="19001234")
now = timezone.now().astimezone(TIME_ZONE)
minute = now.hour * 60 + now.minute
if %(open)s:
    windows = [{"days": [now.weekday()], "start": format_minute(max(0, minute - 30)),
                "end": format_minute(min(1440, minute + 30))}]
else:
    windows = [{"days": [d for d in range(7) if d != now.weekday()], "start": "00:00", "end": "24:00"}]
schedule = schedule_create(tenant=extension.hotline.tenant, name=f"test {now.timestamp()}", windows=windows)
extension_update(extension=extension, data={"outbound_schedule": schedule})
"""


# --- one writer at a time: every other write waits its turn ------------------------------------


class _Forms(HTMLParser):
    """The fields of each <form> of a page, with the values a browser would send unchanged."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self._form: list[tuple[str, str]] | None = None
        self._select: str | None = None
        self._textarea: list[tuple[str, str]] | None = None  # the form whose textarea is open

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "form":
            self._form = []
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._form.append((name, attrs.get("value") or "on"))
            elif kind not in ("submit", "button", "reset", "image", "file"):
                self._form.append((name, attrs.get("value") or ""))
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self._form.append((self._select, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self._form.append((name, ""))
            self._textarea = self._form

    def handle_data(self, data):
        if (form := self._textarea) is not None:
            name, value = form[-1]
            form[-1] = (name, value + data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and (form := self._textarea) is not None:
            name, value = form[-1]
            form[-1] = (name, value.removeprefix("\n"))  # the newline HTML ignores
            self._textarea = None


class Browser:
    """One user of the dashboard submitting its forms as a browser does; every response's method,
    path and status go into `seen`."""

    def __init__(self, base: str, seen: list) -> None:
        self.base = base
        self.seen = seen
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(method, self.base + path, allow_redirects=False, timeout=90, **kwargs)
        self.seen.append((method, path, response.status_code))
        return response

    def submit(self, path: str, *, field: str, **changes: str) -> requests.Response:
        """GET the page, then POST its form that has `field`, with `changes`."""
        parser = _Forms()
        parser.feed(self.request("GET", path).text)
        form = next(f for f in parser.forms if any(name == field for name, _ in f))
        data = [(name, value) for name, value in form if name not in changes] + list(changes.items())
        return self.request("POST", path, data=data)

    def sign_in(self, username: str) -> "Browser":
        """As `username`, whose demo password is the same."""
        response = self.submit("/accounts/login/", field="username", username=username, password=username)
        assert response.status_code == 302, response.text[-2000:]
        return self


class DemoServers:
    """`make run` (runserver, DEBUG on) and `make sip` (run_kamailio) on one fresh SQLite file."""

    def __init__(self, tmp: Path) -> None:
        env, self.config, self.infos = demo_database(tmp)
        self.env = {name: value for name, value in env.items() if name != "REDIS_URL"}  # as `make run`
        self.database = tmp / "db.sqlite3"
        self.web_log_path = tmp / "runserver.log"
        self.base = f"http://127.0.0.1:{free_port()}"
        self.kamailio = Kamailio(self.config)
        self.web: subprocess.Popen | None = None
        with sqlite3.connect(self.database) as db:
            # The hotline 1900 1234 of tenant demo, and its extensions (100, 101, 102).
            ((self.hotline_pk,),) = db.execute(
                "SELECT id FROM hotlines_hotline WHERE sip_domain LIKE '19001234.%'"
            ).fetchall()
            self.extension_pks = [
                pk
                for (pk,) in db.execute(
                    "SELECT id FROM extensions_extension WHERE hotline_id = ? ORDER BY number",
                    (self.hotline_pk,),
                )
            ]

    def start(self) -> None:
        with open(self.web_log_path, "wb") as log:
            self.web = subprocess.Popen(  # noqa: S603 — our own command line, as `make run` has it
                [sys.executable, "manage.py", "runserver", self.base.removeprefix("http://"), "--noreload"],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.kamailio.start(command=[sys.executable, "manage.py", "run_kamailio"], env=self.env)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{self.base}/accounts/login/", timeout=5)
                return
            except requests.ConnectionError:
                assert self.web.poll() is None and time.monotonic() < deadline, self.web_log()[-3000:]
                time.sleep(0.2)

    def stop(self) -> None:
        self.kamailio.stop()
        if self.web is not None:
            os.killpg(self.web.pid, signal.SIGTERM)
            self.web.wait(timeout=10)

    def web_log(self) -> str:
        return self.web_log_path.read_text(errors="replace")

    def logs_since(self, marks: tuple[int, int]) -> tuple[str, str]:
        """What runserver and Kamailio logged since `marks` (from `log_marks`)."""
        return self.web_log()[marks[0] :], self.kamailio.log()[marks[1] :]

    def log_marks(self) -> tuple[int, int]:
        return len(self.web_log()), len(self.kamailio.log())

    def locations(self) -> set[tuple[str, str, str]]:
        with sqlite3.connect(self.database) as db:
            return set(db.execute("SELECT username, domain, contact FROM location"))


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    servers = DemoServers(tmp_path_factory.mktemp("servers"))
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def register_once(servers: DemoServers, info: dict) -> tuple[tuple[str, str, str], int]:
    """A REGISTER from a new socket, so a new contact: its 200 must add a `location` row."""
    host, port = servers.config.listen_ip, servers.config.sip_port
    with SipClient(host, port, timeout=40) as phone:
        status = phone.register(
            username=info["username"], domain=info["domain"], password=info["password"]
        ).status
        return (info["username"], info["domain"], f"sip:{info['username']}@{host}:{phone.local_port}"), status


def assert_nothing_locked(servers: DemoServers, marks: tuple[int, int]) -> None:
    web_log, kamailio_log = servers.logs_since(marks)
    assert "database is locked" not in web_log, web_log[-4000:]
    assert "database is locked" not in kamailio_log, kamailio_log[-4000:]


def test_sqlite_demo_waits_for_a_long_write_instead_of_failing(servers):
    """While one transaction holds SQLite's write lock for 8 s (as long as a 20,000-row CSV import
    holds it on a quiet 2-core machine), a save on the dashboard and a REGISTER wait for it, then
    succeed, where they failed with "database is locked" after 5 s and 2 s."""
    marks = servers.log_marks()
    seen: list[tuple[str, str, int]] = []
    admin = Browser(servers.base, seen).sign_in("admin")
    pk = servers.extension_pks[0]
    released_at: list[float] = []
    done_at: dict[str, float] = {}
    locked = threading.Event()

    def hold_the_write_lock():
        db = sqlite3.connect(servers.database, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(8)
            released_at.append(time.monotonic())
            db.execute("COMMIT")
        finally:
            db.close()

    def save():
        locked.wait()
        response = admin.submit(f"/extensions/{pk}/edit/", field="version", description="saved while locked")
        done_at["save"] = time.monotonic()
        return response.status_code

    def register():
        locked.wait()
        result = register_once(servers, servers.infos[0])
        done_at["register"] = time.monotonic()
        return result

    with ThreadPoolExecutor(max_workers=3) as pool:
        writer = pool.submit(hold_the_write_lock)
        saved, registered = pool.submit(save), pool.submit(register)
        writer.result()
        assert saved.result() == 302, (seen, servers.logs_since(marks)[0][-4000:])
        (row, status) = registered.result()
    assert status == 200, servers.logs_since(marks)[1][-4000:]
    # Both really waited for the lock, then wrote.
    assert min(done_at.values()) >= released_at[0]
    assert row in servers.locations()
    with sqlite3.connect(servers.database) as db:
        assert db.execute("SELECT description FROM extensions_extension WHERE id = ?", (pk,)).fetchone() == (
            "saved while locked",
        )
    assert_nothing_locked(servers, marks)


def test_sqlite_demo_fails_no_write_while_ranges_are_created(servers):
    """`make run` + `make sip`: an admin creates three ranges of 1,000 extensions while other
    admins edit extensions and phones register. No page fails, no REGISTER fails, and every
    registration a REGISTER answered 200 to is in `location` (a phone re-registers from the same
    contact, as softphones do: a lost insert then "succeeds" as an update of nothing)."""
    marks = servers.log_marks()
    seen: list[tuple[str, str, int]] = []
    registered: list[tuple[tuple[str, str, str], int]] = []
    errors: list[BaseException] = []
    ranges_done = threading.Event()
    deadline = time.monotonic() + 40

    def create_ranges():
        admin = Browser(servers.base, seen).sign_in("admin")
        for first in (5000, 6000, 7000):
            if time.monotonic() > deadline:
                break
            admin.submit(
                f"/hotlines/{servers.hotline_pk}/extensions/add-range/",
                field="alias_pattern",
                first=str(first),
                last=str(first + 999),
                alias_pattern="range{n}",
            )

    def edit(pk: int):
        admin = Browser(servers.base, seen).sign_in("admin")
        n = 0
        while not ranges_done.is_set() and time.monotonic() < deadline:
            n += 1
            admin.submit(f"/extensions/{pk}/edit/", field="version", description=f"edit {n}")

    def register(info: dict):
        host, port = servers.config.listen_ip, servers.config.sip_port
        with SipClient(host, port, timeout=40) as phone:
            contact = (info["username"], info["domain"], f"sip:{info['username']}@{host}:{phone.local_port}")
            while not ranges_done.is_set() and time.monotonic() < deadline:
                response = phone.register(
                    username=info["username"], domain=info["domain"], password=info["password"]
                )
                registered.append((contact, response.status))
        # And one REGISTER from a new contact each, after the load.
        registered.append(register_once(servers, info))

    def run(body, *args):
        def target():
            try:
                body(*args)
            except BaseException as exc:  # noqa: BLE001 — the test reports it below
                errors.append(exc)
            finally:
                if body is create_ranges:
                    ranges_done.set()

        return threading.Thread(target=target)

    threads = [
        run(create_ranges),
        *(run(edit, pk) for pk in servers.extension_pks),
        *(run(register, info) for info in servers.infos for _ in range(2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors
    failed = [s for s in seen if s[2] not in ((200, 302) if s[0] == "GET" else (302,))]
    assert not failed, (failed, servers.logs_since(marks)[0][-4000:])
    assert [r for r in registered if r[1] != 200] == [], servers.logs_since(marks)[1][-4000:]
    locations = servers.locations()
    assert [contact for contact, _ in registered if contact not in locations] == []
    with sqlite3.connect(servers.database) as db:
        (created,) = db.execute(
            "SELECT count(*) FROM extensions_extension WHERE alias LIKE 'range%'"
        ).fetchone()
    assert created == 3000
    # The load was real: edits and REGISTERs went on while the ranges were written.
    edits = sum(1 for method, path, _ in seen if method == "POST" and path.endswith("/edit/"))
    assert edits >= 2 * len(servers.extension_pks) and len(registered) >= 10 * len(servers.infos)
    assert_nothing_locked(servers, marks)


# --- `make sip` starts rtpengine and the listen service, and Ctrl-C stops them all -------------


def test_make_sip_runs_the_media_relay_and_the_listen_service_and_ctrl_c_stops_them(demo, tmp_path):
    env, config, infos = demo
    checked = manage(env, "run_kamailio", "--check")
    assert "Media relay: rtpengine on 127.0.0.1" in checked
    assert f"listening (*33): sip:{env['LISTEN_SERVICE']}" in checked
    kamailio_metrics = f"http://{env['KAMAILIO_METRICS']}/metrics"
    relay_metrics = f"http://{env['RTPENGINE_METRICS']}/metrics"
    assert f"Prometheus metrics (loopback): Kamailio {kamailio_metrics}, rtpengine {relay_metrics}" in checked
    listen_host, _, listen_port = env["LISTEN_SERVICE"].rpartition(":")
    # The demo's 100 (admin01) supervises 101 (sale01).
    boss = next(i for i in infos if i["username"] == "100" and i["domain"].startswith("19001234."))
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
        # Both serve their own counters to Prometheus on the loopback.
        assert "kamailio_core_rcv_requests" in requests.get(kamailio_metrics, timeout=5).text
        assert "rtpengine_sessions" in requests.get(relay_metrics, timeout=5).text
        # *33 reaches the listen service, which reads the demo Kamailio's calls (none now).
        with SipClient("127.0.0.1", config.sip_port) as phone:
            replies = [
                phone.invite(number=code, domain=boss["domain"], username="100", password=boss["password"])
                for code in ("*33101", "*34101")
            ]
        assert [(r.status, r.response.reason) for r in replies] == [
            (480, "No call to listen to"),
            (501, "Whisper needs audio mixing, not available"),
        ]

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
    # The listen service's port is free again.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((listen_host, int(listen_port)))
