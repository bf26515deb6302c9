"""PostgreSQL killed and hung under a running dashboard: a PostgreSQL cluster, a Redis and a
dashboard server of the test's own (the server in a process of its own, never restarted).
Pages answer a branded 503, the API a JSON 503, both with Retry-After, /healthz 503; when the
database is back everything answers again, and what was acknowledged before is there."""

import json

import pytest

from core.views import server_error

from .outages import DashboardServer, PostgresCluster, RedisServer

SETUP = """
import json
from django.test import Client
from tenants.services import api_token_create
from tests.factories import HotlineFactory, TenantFactory, make_admin
tenant = TenantFactory(slug="outage")
admin = make_admin(tenant, username="outage-admin")
hotline = HotlineFactory(tenant=tenant)
browser = Client()
browser.force_login(admin)
print(json.dumps({
    "hotline": hotline.pk,
    "token": api_token_create(user=admin, replace=True).key,
    "session": browser.cookies["sessionid"].value,
}))
"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The server, its world (a tenant admin signed in, with an API token and a hotline) and
    the cluster to kill."""
    cluster = PostgresCluster()
    redis = RedisServer()
    server = None
    try:
        cluster.init()
        redis.start()
        server = DashboardServer(
            {
                # A new connection per request, as after the pool's connections died, with the
                # settings' connect timeout.
                "DATABASE_URL": cluster.url("postgres"),
                "DJANGO_CONN_MAX_AGE": "0",
                "REDIS_URL": redis.url,
                "SIP_DOMAIN_SUFFIX": "sip.example.vn",
                "SIP_OUTBOUND_PROXY": "127.0.0.1:5060",
                "SIP_WEBSOCKET_URL": "wss://sip.example.vn:8443/ws",
            },
            log=tmp_path_factory.mktemp("dashboard") / "server.log",
        )
        server.manage("migrate", "--noinput")
        world = json.loads(server.manage("shell", "-c", SETUP).strip().splitlines()[-1])
        server.start()
        yield server, cluster, world
    finally:
        if server is not None:
            server.stop()
        redis.stop()
        cluster.destroy()


def page(server, world, path="/hotlines/"):
    return server.request("GET", path, headers={"Cookie": f"sessionid={world['session']}"})


def api(server, world, method, path, body=None, language="en"):
    headers = {"Authorization": f"Token {world['token']}", "Accept-Language": language}
    return server.request(method, path, body=body, headers=headers)


def test_database_down_answers_503_and_comes_back_without_a_restart(dashboard):
    server, cluster, world = dashboard
    assert server.request("GET", "/healthz").json() == {"database": "ok", "redis": "ok"}
    assert page(server, world).status == 200
    created = api(
        server,
        world,
        "POST",
        "/api/v1/extensions/",
        {"hotline": world["hotline"], "number": "200", "alias": "outage200"},
    )
    assert created.status == 201, created.text
    extension = created.json()["id"]

    cluster.kill()  # right after the 201
    try:
        health = server.request("GET", "/healthz")
        assert (health.status, health.json()) == (503, {"database": "down", "redis": "ok"})

        # A signed-in page (the session is read from Redis, the user from the database).
        answer = page(server, world)
        assert answer.status == 503
        assert answer.headers["Retry-After"] == "30"
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "☎" in answer.text and "Tạm thời gián đoạn" in answer.text
        assert "Traceback" not in answer.text and "Server Error" not in answer.text

        # The API: JSON in the client's language, whether the token check or the view failed.
        for method, path, body in [
            ("GET", "/api/v1/extensions/", None),
            (
                "POST",
                "/api/v1/extensions/",
                {"hotline": world["hotline"], "number": "201", "alias": "outage201"},
            ),
        ]:
            answer = api(server, world, method, path, body)
            assert answer.status == 503, (method, answer.text)
            assert answer.headers["Retry-After"] == "30"
            assert answer.json() == {
                "detail": "The service is temporarily unavailable; try again in 30 seconds."
            }
        answer = api(server, world, "GET", f"/api/v1/extensions/{extension}/", language="vi")
        assert answer.json()["detail"].startswith("Dịch vụ tạm thời gián đoạn")
    finally:
        cluster.start()

    # Back, the same server process: nothing acknowledged was lost.
    assert server.process.poll() is None
    assert server.request("GET", "/healthz").status == 200
    assert page(server, world).status == 200
    back = api(server, world, "GET", f"/api/v1/extensions/{extension}/")
    assert (back.status, back.json()["number"]) == (200, "200")
    assert api(server, world, "GET", "/api/v1/extensions/?search=201").json()["count"] == 0


def test_a_hung_database_fails_requests_fast_into_503(dashboard):
    server, cluster, world = dashboard
    cluster.hang()  # the postmaster stopped: new connections are never answered
    try:
        for answer in (page(server, world), server.request("GET", "/healthz")):
            assert answer.status == 503
            assert answer.seconds < 6  # the 3 s connect timeout, not a worker held for ever
    finally:
        cluster.resume()
    assert page(server, world).status == 200


def test_other_server_errors_stay_500(rf):
    """Only the database not answering is a 503; a bug is still a 500 (and still logged)."""
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(rf.get("/api/v1/extensions/"))
    assert response.status_code == 500
    assert "Retry-After" not in response
