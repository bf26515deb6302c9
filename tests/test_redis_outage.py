"""Redis killed, hung and restarted under the dashboard (a Redis of the test's own, with the
production cache settings): sessions fall back to the database, the guard refuses with a 503,
nothing waits long, and the budgets survive a restart."""

import time

import pytest
from django.contrib.sessions.backends import cached_db
from django.core.cache import cache
from django.urls import reverse
from django_redis import get_redis_connection  # type: ignore[import-untyped]  # no types shipped

from audit.models import AuditEvent
from core import redis_pool, sessions
from extensions.bulk_views import progress_reporter
from tests.api import api_client

from .outages import RedisServer, wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def shared_cache(settings, redis_server, monkeypatch):
    """The cache and sessions as production configures them with REDIS_URL, on this Redis. The
    breaker's pause is shortened so that a test sees Redis back quickly."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        },
    }
    settings.SESSION_ENGINE = "core.sessions"
    monkeypatch.setattr(redis_pool, "SKIP_SECONDS", 0.5)
    redis_pool.breaker.reset()
    yield
    redis_pool.breaker.reset()


def redis_back():
    """Wait until this process asks Redis again and it answers (the breaker closed)."""
    wait_until(redis_pool.redis_ping, timeout=5, what="Redis answers again")


def timed(method, *args):
    """The answer, which must not have taken a second."""
    started = time.monotonic()
    response = method(*args)
    assert time.monotonic() - started < 1.0
    return response


def sign_in(client, username, password="pw"):
    response = client.post(reverse("login"), {"username": username, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]


def test_redis_down_pages_sign_in_and_the_api_still_work(client, world, redis_server):
    hotlines = reverse("hotlines:hotline_list")
    sign_in(client, "admin-tenant-a")
    assert client.get(hotlines).status_code == 200
    api = api_client(world.admin_a)

    redis_server.kill()

    # Signed in before: the session is read from the database.
    assert client.get(hotlines).status_code == 200
    # Signing out and in again (a new session key, `cycle_key`) works.
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(hotlines).status_code == 302  # signed out
    sign_in(client, "admin-tenant-a")
    assert client.get(hotlines).status_code == 200
    # The API (token) does not need Redis.
    assert api.get("/api/v1/extensions/").status_code == 200
    # An import's progress bar goes without.
    token = "0" * 32
    progress_reporter(user=world.admin_a, token=token)("checking", 1, 2)
    poll = client.get(reverse("extensions:import_progress"), {"token": token})
    assert poll.status_code == 503


def test_redis_down_the_reveal_answers_503_and_reveals_nothing(client, world, redis_server):
    extension = world.ext_a["101"]
    password = extension.get_sip_password()
    sign_in(client, "admin-tenant-a")
    api = api_client(world.admin_a)

    redis_server.kill()

    page = client.post(reverse("extensions:extension_reveal", kwargs={"pk": extension.pk}))
    assert page.status_code == 503
    assert int(page["Retry-After"]) > 0
    assert password not in page.content.decode()
    assert "Hiện chưa thể cung cấp thông tin đăng nhập" in page.content.decode()  # the page is Vietnamese
    answer = api.post(f"/api/v1/extensions/{extension.pk}/credentials/")
    assert answer.status_code == 503
    assert int(answer["Retry-After"]) > 0
    assert answer.json()["detail"] == "Login info cannot be given out right now; try again in a minute."
    assert password not in answer.content.decode()
    assert not AuditEvent.objects.filter(action="reveal").exists()

    # Redis back: the same requests give the login info.
    redis_server.start()
    redis_back()
    assert api.post(f"/api/v1/extensions/{extension.pk}/credentials/").json()["password"] == password


def test_a_hung_redis_holds_no_request_long(client, world, redis_server):
    extension = world.ext_a["101"]
    hotlines = reverse("hotlines:hotline_list")
    reveal = reverse("extensions:extension_reveal", kwargs={"pk": extension.pk})
    sign_in(client, "admin-tenant-a")
    assert client.get(hotlines).status_code == 200

    redis_server.hang()
    try:
        # The socket timeouts bound each request (redis-py's default would hold it 5 s per cache
        # call); the breaker spares the next ones even those: without it a page took 0.55 s and
        # a reveal 0.83 s, all six of these over 4 s.
        started = time.monotonic()
        for _ in range(3):
            assert timed(client.get, hotlines).status_code == 200
            assert timed(client.post, reveal).status_code == 503
        assert time.monotonic() - started < 2.0
    finally:
        redis_server.resume()
    redis_back()
    assert client.post(reveal).status_code == 200


def test_a_sign_out_while_redis_hangs_holds_once_it_answers_again(client, world, redis_server, settings):
    hotlines = reverse("hotlines:hotline_list")
    sign_in(client, "admin-tenant-a")
    assert client.get(hotlines).status_code == 200  # the session is now cached in Redis
    stolen = client.cookies[settings.SESSION_COOKIE_NAME].value
    # …for a few minutes at most: the bound on what a process that dies during an outage
    # could leave behind.
    ttl = get_redis_connection("default").ttl(cache.make_key(f"{cached_db.KEY_PREFIX}{stolen}"))
    assert 0 < ttl <= sessions.CACHE_SECONDS

    redis_server.hang()
    try:
        assert client.post(reverse("logout")).status_code == 302  # could not delete the cached copy
    finally:
        redis_server.resume()
    redis_back()

    # Redis still holds the signed-out session's copy; it must not let anyone in.
    client.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert client.get(hotlines).status_code == 302


def test_budgets_survive_a_redis_restart(client, world, redis_server, settings):
    settings.REVEAL_RATE_LIMIT = (3, 600)
    reveal = reverse("extensions:extension_reveal", kwargs={"pk": world.ext_a["101"].pk})
    sign_in(client, "admin-tenant-a")
    assert [client.post(reveal).status_code for _ in range(3)] == [200, 200, 200]

    redis_server.restart()  # empty: it keeps nothing on disk
    redis_back()

    refused = client.post(reveal)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 600
    # Other users' budgets are theirs, and the refusal spent nothing.
    api = api_client(world.agent_a)
    assert api.post(f"/api/v1/extensions/{world.ext_a['101'].pk}/credentials/").status_code == 200
    assert client.post(reveal).status_code == 429


def test_healthz_says_which_part_is_down(client, redis_server, settings):
    answer = client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"database": "ok", "redis": "ok"})
    assert b'"database": "ok"' in answer.content  # what docs/deployment.md has a balancer look for
    assert settings.SESSION_COOKIE_NAME not in answer.cookies

    redis_server.kill()
    answer = client.get("/healthz")
    assert (answer.status_code, answer.json()) == (503, {"database": "ok", "redis": "down"})

    # Not configured is not down (the demo, without Redis).
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    answer = client.get("/healthz")
    assert (answer.status_code, answer.json()) == (200, {"database": "ok", "redis": "not configured"})
