"""Database failover, end to end: a PostgreSQL primary and a synchronous streaming replica of the
test's own (pg_basebackup), the dashboard (a server process of its own) and Kamailio both
configured with the two hosts and target_session_attrs=read-write, so both follow whichever one
is the primary and neither ever reads the replica (a lagging replica would break "a change counts
on the very next REGISTER"). The primary is stopped as by a crash, the replica promoted, and the
test measures what phones and the dashboard see during the outage and how long recovery takes
(docs/deployment.md, "Database failover", has the runbook and the numbers)."""

import json
import os
import signal
import socket
import time

import dj_database_url
import psycopg2
import pytest

from sip.kamailio import Kamailio, KamailioConfig, db_url_for, free_port, free_sip_port
from sip.sipclient import SipClient, SipError

from .outages import DashboardServer, PostgresCluster, RedisServer

pytestmark = pytest.mark.sip

# Two loopback addresses standing for two database hosts on one port, as in production.
PRIMARY_HOST, REPLICA_HOST = "127.0.0.21", "127.0.0.22"
DATABASE = "pbx"
KAMAILIO_ROLE = "kamailio"
# What "recovered" must mean within the bound of this test: the first REGISTER and the first
# /healthz after the promotion succeed (Kamailio and Django reconnect on their next query).
RECOVERY_SECONDS = 15

SETUP = """
import json
from extensions.services import extension_reveal_credentials
from tenants.services import api_token_create
from tests.factories import HotlineFactory, TenantFactory, make_admin, make_extension
tenant = TenantFactory(slug="failover")
admin = make_admin(tenant, username="failover-admin")
hotline = HotlineFactory(tenant=tenant)
info = extension_reveal_credentials(extension=make_extension(hotline, "100", "failover100"))
print(json.dumps({
    "hotline": hotline.pk,
    "token": api_token_create(user=admin, replace=True).key,
    "phone": {"username": info.username, "domain": info.domain, "password": info.password},
}))
"""


def port_free_on(*hosts: str) -> int:
    """A TCP port free on every one of these addresses."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((hosts[0], 0))
            port = first.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise AssertionError(f"no port free on {hosts}")


def query(cluster: PostgresCluster, sql: str, *, dbname: str = DATABASE, user: str = "postgres"):
    """One statement on one cluster (autocommit), its rows."""
    db = psycopg2.connect(host=cluster.host, port=cluster.port, dbname=dbname, user=user, connect_timeout=3)
    try:
        db.autocommit = True
        with db.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        db.close()


@pytest.fixture
def failover_set(tmp_path):
    """Primary and replica (synchronous_standby_names='*': a commit waits until the replica has
    flushed it), migrated; Kamailio's role; Redis; the dashboard and Kamailio started on both
    hosts. Everything is stopped by PID and its directories removed, whatever happens."""
    port = port_free_on(PRIMARY_HOST, REPLICA_HOST)
    primary = PostgresCluster(host=PRIMARY_HOST, port=port)
    replica = PostgresCluster(host=REPLICA_HOST, port=port)
    redis = RedisServer()
    server = kamailio = None
    sip_port, ws_port = free_sip_port(), free_port()
    database_url = (
        f"postgres://postgres@{PRIMARY_HOST},{REPLICA_HOST}:{port}/{DATABASE}"
        "?target_session_attrs=read-write&connect_timeout=2"
    )
    try:
        primary.init()
        query(primary, f"CREATE DATABASE {DATABASE}", dbname="postgres")
        replica.replicate(primary)
        # Synchronous from now on (a primary waiting for a replica that does not exist yet would
        # hold every commit).
        query(primary, "ALTER SYSTEM SET synchronous_standby_names = '*'", dbname="postgres")
        query(primary, "SELECT pg_reload_conf()", dbname="postgres")
        redis.start()
        server = DashboardServer(
            {
                # The production default: connections kept 60 s and health-checked on reuse.
                "DATABASE_URL": database_url,
                "REDIS_URL": redis.url,
                "SIP_DOMAIN_SUFFIX": "sip.example.vn",
                "SIP_OUTBOUND_PROXY": f"127.0.0.1:{sip_port}",
                "SIP_WEBSOCKET_URL": f"ws://127.0.0.1:{ws_port}/ws",
            },
            log=tmp_path / "server.log",
        )
        started = time.monotonic()
        server.manage("migrate", "--noinput")
        migrated = time.monotonic() - started
        server.manage("kamailio_db_role", "--role", KAMAILIO_ROLE)
        world = json.loads(server.manage("shell", "-c", SETUP).strip().splitlines()[-1])
        server.start()
        settings_dict = dj_database_url.parse(database_url)
        kamailio = Kamailio(
            KamailioConfig(
                db_url=db_url_for(settings_dict, user=KAMAILIO_ROLE, password=""),
                sip_port=sip_port,
                ws_port=ws_port,
                children=2,
                domain_reload_seconds=3600,
                runtime_dir=tmp_path / "kamailio",
                rtpengine_sock=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
            )
        ).start()
        world["migrate_seconds"] = round(migrated, 1)
        yield primary, replica, server, kamailio, world
    finally:
        if kamailio is not None:
            kamailio.stop()
        if server is not None:
            server.stop()
        redis.stop()
        replica.destroy()
        primary.destroy()


def register(kamailio: Kamailio, phone: dict, *, timeout: float = 5) -> tuple[int | str, float]:
    """One REGISTER with the phone's credentials: (final status or "timeout", seconds)."""
    config = kamailio.config
    started = time.monotonic()
    try:
        with SipClient(config.listen_ip, config.sip_port, timeout=timeout) as client:
            status: int | str = client.register(**phone, expires=600).status
    except SipError:
        status = "timeout"
    return status, time.monotonic() - started


def invite(kamailio: Kamailio, phone: dict, number: str) -> int | str:
    """A call from the phone to `number` of its hotline: the final status (or "timeout")."""
    config = kamailio.config
    try:
        with SipClient(config.listen_ip, config.sip_port, timeout=5) as client:
            return client.invite(number=number, **phone).status
    except SipError:
        return "timeout"


def api(server, world, method, path, body=None):
    return server.request(method, path, body=body, headers={"Authorization": f"Token {world['token']}"})


def create_extension(server, world, number: str, *, timeout: float = 20):
    body = {"hotline": world["hotline"], "number": number, "alias": f"failover{number}"}
    headers = {"Authorization": f"Token {world['token']}"}
    return server.request("POST", "/api/v1/extensions/", body=body, headers=headers, timeout=timeout)


def until(what, predicate, *, timeout: float) -> float:
    """Seconds until predicate() is true (polled every 0.1 s), or fail."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_the_replica_promoted_takes_over_with_nothing_committed_lost(failover_set):
    primary, replica, server, kamailio, world = failover_set
    phone = world["phone"]
    measured: dict = {"migrate_seconds": world["migrate_seconds"]}

    # Before: both on the primary; the replica is synchronous; Kamailio's role commits locally
    # (registrations never wait for the replica; docs/deployment.md says why).
    assert query(primary, "SELECT sync_state FROM pg_stat_replication") == [("sync",)]
    assert query(primary, "SHOW synchronous_commit", user=KAMAILIO_ROLE) == [("local",)]
    assert register(kamailio, phone)[0] == 200
    assert server.request("GET", "/healthz").json()["database"] == "ok"
    # The last change before the failure: acknowledged (201) only once the replica has it.
    created = create_extension(server, world, "101")
    assert created.status == 201, created.text
    extension = created.json()["id"]

    registered = query(primary, "SELECT contact FROM location WHERE username = '100'")
    assert len(registered) == 1
    primary.kill()  # as a crash: no shutdown checkpoint, connections dropped
    down = time.monotonic()

    # The outage, before anyone promotes: phones get an answer, not silence, and nothing reads the
    # replica (it may lag; target_session_attrs=read-write refuses it).
    status, seconds = register(kamailio, phone)
    measured["outage_register"] = [status, round(seconds, 2)]
    # auth_db cannot read the credentials (auth_check -1), so route[AUTH] answers 503 with
    # Retry-After at once: not silence, not a 200 from a stale copy, not a "wrong password".
    assert status == 503, "Kamailio must answer 503 at once while the database is down"
    # A call is refused the same way: its caller is authenticated against the database too.
    measured["outage_invite"] = invite(kamailio, phone, "101")
    assert measured["outage_invite"] == 503
    # Registrations already made stay in Kamailio's memory (usrloc db_mode 1 writes through and
    # keeps them), so calls to them can still be routed once the caller is authenticated.
    assert phone["domain"] in kamailio.rpc("ul.dump")
    health = server.request("GET", "/healthz")
    measured["outage_healthz"] = [health.status, round(health.seconds, 2)]
    assert (health.status, health.json()["database"]) == (503, "down")
    listing = api(server, world, "GET", "/api/v1/extensions/")
    measured["outage_api"] = [listing.status, round(listing.seconds, 2)]
    assert listing.status == 503 and listing.headers["Retry-After"] == "30"
    assert "detail" in listing.json()
    sessions = query(
        replica,
        "SELECT usename FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )
    assert sessions == [], f"the replica was read during the outage: {sessions}"

    promote_started = time.monotonic()
    replica.promote()
    promoted = time.monotonic()
    measured["promote_seconds"] = round(promoted - promote_started, 2)
    measured["outage_seconds_before_promote"] = round(promote_started - down, 2)

    # Recovery: the next REGISTER and the next request find the new primary by themselves.
    measured["register_recovery_seconds"] = round(
        until(
            "a REGISTER answered 200", lambda: register(kamailio, phone)[0] == 200, timeout=RECOVERY_SECONDS
        ),
        2,
    )
    measured["healthz_recovery_seconds"] = round(
        until(
            "/healthz 200", lambda: server.request("GET", "/healthz").status == 200, timeout=RECOVERY_SECONDS
        ),
        2,
    )

    # Nothing acknowledged was lost: the extension made just before the crash is there, and so is
    # the phone's registration row (written before the crash, replicated).
    back = api(server, world, "GET", f"/api/v1/extensions/{extension}/")
    assert (back.status, back.json()["number"]) == (200, "101")
    assert set(registered) <= set(query(replica, "SELECT contact FROM location WHERE username = '100'"))
    # Writes go to the new primary, and a new extension counts on its very next REGISTER.
    fresh = create_extension(server, world, "102")
    assert fresh.status == 201, fresh.text
    login = api(server, world, "POST", f"/api/v1/extensions/{fresh.json()['id']}/credentials/")
    assert login.status == 200, login.text
    newcomer = {"username": "102", "domain": phone["domain"], "password": login.json()["password"]}
    assert register(kamailio, newcomer)[0] == 200
    assert query(replica, "SELECT inet_server_addr()::text, pg_is_in_recovery()") == [
        (f"{REPLICA_HOST}/32", False)
    ]
    measured["total_outage_seconds"] = round(time.monotonic() - down, 2)
    print("database failover:", json.dumps(measured))  # noqa: T201 — the numbers docs/deployment.md quotes


def test_a_hung_replica_holds_dashboard_writes_but_not_registrations(failover_set):
    """The price of synchronous replication: with the replica not acknowledging (its WAL receiver
    stopped), a dashboard write waits, while Kamailio's writes (synchronous_commit=local for its
    role) do not, so phones keep registering. The write completes once the replica answers."""
    primary, replica, server, kamailio, world = failover_set
    (receiver,) = query(replica, "SELECT pid FROM pg_stat_wal_receiver", dbname="postgres")[0]
    os.kill(receiver, signal.SIGSTOP)
    try:
        # Registered (a REGISTER held by the replica would end in "timeout" after 5 s).
        assert register(kamailio, world["phone"])[0] == 200
        with pytest.raises(TimeoutError):
            create_extension(server, world, "103", timeout=3)
    finally:
        os.kill(receiver, signal.SIGCONT)
    until(
        "the held write is committed",
        lambda: query(primary, "SELECT count(*) FROM extensions_extension WHERE number = '103'") == [(1,)],
        timeout=10,
    )


def test_kamailio_gets_the_dashboards_failover_settings():
    """db_url_for puts libpq's options where db_postgres passes them on (dbname, expanded);
    without target_session_attrs the URL stays as it was."""
    both = dj_database_url.parse(
        "postgres://pbx@db1,db2:5432/pbx?target_session_attrs=read-write&connect_timeout=2"
    )
    assert db_url_for(both, user="kamailio", password="") == (
        "postgres://kamailio@db1,db2:5432/dbname=pbx target_session_attrs=read-write connect_timeout=2"
    )
    one = dj_database_url.parse("postgres://pbx@db1:5432/pbx?connect_timeout=2")
    assert db_url_for(one, user="kamailio", password="") == "postgres://kamailio@db1:5432/pbx"
