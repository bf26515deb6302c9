"""Brute-force locks survive a Kamailio restart (route[RELOAD_LOCKS]), and an admin's unblock
does too: with a real Kamailio, stopped and started again on the same database."""

import datetime as dt
import sqlite3
import sys

import pytest
from django.urls import reverse
from django.utils import timezone

from extensions.services import extension_reveal_credentials
from sip.choices import LockKind, SecurityEventKind
from sip.kamailio import Kamailio, Protection
from sip.models import SecurityEvent
from sip.protection import sip_lock_release, sip_locks
from sip.sipclient import SipClient
from sip.tests.test_demo_sqlite import demo_database
from sip.tests.test_protection import WRONG, _start, register
from tests.factories import HotlineFactory, make_admin, make_extension

pytestmark = pytest.mark.sip

IP_BLOCK_SECONDS = 600
EXTENSION_LOCK_SECONDS = 300


@pytest.fixture
def server(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, transactional_db):
    """Kamailio with the production limits (10 failures) and locks long enough to outlast a
    restart; pike off (the test's wrong passwords come fast from one address)."""
    protection = Protection(
        auth_fail_limit=10,
        extension_fail_limit=10,
        ip_block_seconds=IP_BLOCK_SECONDS,
        extension_lock_seconds=EXTENSION_LOCK_SECONDS,
        pike_density=0,
        register_rate_limit=0,
    )
    kamailio = _start(kamailio_role, django_db_blocker, tmp_path_factory, rtpengine_server, protection)
    try:
        yield kamailio
    finally:
        kamailio.stop()


def restart(server) -> None:
    server.stop()
    server.start()


def test_locks_and_unblocks_survive_a_restart(server, client, monkeypatch):
    factory_hotline = HotlineFactory()
    server.reload_domains()
    extensions = [make_extension(factory_hotline, number, f"user{number}") for number in ("101", "102")]
    target, other = (extension_reveal_credentials(extension=extension) for extension in extensions)
    hotline = extensions[0].hotline
    # A lock that ended long ago (its event is older than the block), from another address.
    SecurityEvent.objects.create(
        created_at=timezone.now() - dt.timedelta(seconds=IP_BLOCK_SECONDS + 60),
        kind=SecurityEventKind.IP_BLOCKED,
        source_ip="127.0.0.4",
        username="101",
        domain=hotline.sip_domain,
        count=10,
    )
    for _ in range(10):
        assert register(server, target, password=WRONG).status == 403
    assert register(server, target).status == 403
    before = {(lock.kind, lock.key): lock.until for lock in sip_locks(config=server.config)}
    assert set(before) == {(LockKind.ADDRESS, "127.0.0.1"), (LockKind.EXTENSION, f"101@{hotline.sip_domain}")}

    restart(server)
    assert "reloaded locks still running: 1 address(es), 1 extension(s)" in server.log()
    # The right password, from the blocked address, still refused; the extension still locked.
    blocked = register(server, other)
    assert (blocked.status, blocked.reason) == (403, "Blocked: too many failed logins from this address")
    locked = register(server, target, source="127.0.0.2")
    assert (locked.status, locked.reason) == (403, "Extension locked: too many wrong passwords")
    assert register(server, other, source="127.0.0.2").status == 200
    assert register(server, other, source="127.0.0.4").status == 200  # the old lock stays over
    # Each lock ends when it would have without the restart (to the second of its event).
    after = {(lock.kind, lock.key): lock.until for lock in sip_locks(config=server.config)}
    assert after.keys() == before.keys()
    assert all(abs((after[key] - before[key]).total_seconds()) <= 1 for key in before)

    # The admin lifts both; a restart does not bring them back.
    for lock in sip_locks(config=server.config):
        sip_lock_release(lock=lock, tenant_id=hotline.tenant_id, config=server.config)
    assert SecurityEvent.objects.filter(source_ip="127.0.0.1", released_at__isnull=False).count() == 2
    restart(server)
    assert "reloaded locks still running: 0 address(es), 0 extension(s)" in server.log()
    assert sip_locks(config=server.config) == []
    assert register(server, target).status == 200

    # The dashboard's security page says which locks were lifted.
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(server.config.runtime_dir))
    client.cookies["django_language"] = "en"
    client.force_login(make_admin(hotline.tenant))
    page = client.get(reverse("audit:sip_security")).content.decode()
    assert page.count("unblocked at") == 2 and "Nothing is locked." in page


def test_the_sqlite_demo_reloads_its_locks_too(tmp_path):
    """`make sip` on the demo's SQLite database: the same reload, with SQLite's date arithmetic."""
    env, config, infos = demo_database(tmp_path)
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        # As Kamailio writes them (CURRENT_TIMESTAMP, UTC): a lock running, one lifted by an
        # admin, one that ended long ago.
        for source, created, released in (
            ("127.0.0.1", "CURRENT_TIMESTAMP", "NULL"),
            ("127.0.0.2", "CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
            ("127.0.0.3", "datetime('now', '-2 hours')", "NULL"),
        ):
            db.execute(
                "INSERT INTO sip_security_event (created_at, kind, source_ip, username, domain, count,"
                f" released_at) VALUES ({created}, 'ip_blocked', '{source}', '100', '', 10, {released})"
            )
    server = Kamailio(config)
    server.start(command=[sys.executable, "manage.py", "run_kamailio"], env=env)
    try:
        assert "reloaded locks still running: 1 address(es), 0 extension(s)" in server.log()
        info = infos[0]
        with SipClient(config.listen_ip, config.sip_port, local_ip="127.0.0.1") as phone:
            refused = phone.register(
                username=info["username"], domain=info["domain"], password=info["password"]
            )
        assert (refused.status, refused.reason) == (403, "Blocked: too many failed logins from this address")
        for source in ("127.0.0.2", "127.0.0.3"):
            with SipClient(config.listen_ip, config.sip_port, local_ip=source) as phone:
                accepted = phone.register(
                    username=info["username"], domain=info["domain"], password=info["password"]
                )
            assert accepted.status == 200, source
    finally:
        server.stop()
