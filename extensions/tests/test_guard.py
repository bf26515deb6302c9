"""The reveal guard: recent sign-in, per-user rate limit (in the shared cache), audit."""

import time

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from core.guard import SESSION_AUTH_TIME

pytestmark = pytest.mark.django_db


def age_sign_in(client, seconds):
    session = client.session
    session[SESSION_AUTH_TIME] = int(time.time()) - seconds
    session.save()


def test_reveal_after_an_old_sign_in_asks_for_the_password_again(client, world, settings):
    ext = world.ext_a["101"]
    client.force_login(world.admin_a)
    age_sign_in(client, settings.REVEAL_REAUTH_SECONDS + 5)
    url = reverse("extensions:extension_reveal", kwargs={"pk": ext.pk})
    response = client.post(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("confirm_password"))
    assert not AuditEvent.objects.filter(action="reveal").exists()
    # A wrong password does not help; the right one does.
    confirm = client.post(response.url, {"password": "wrong"})
    assert confirm.status_code == 400
    confirm = client.post(response.url, {"password": "pw"})
    assert confirm.status_code == 302
    assert confirm.url == reverse("extensions:extension_detail", kwargs={"pk": ext.pk})
    assert ext.get_sip_password() in client.post(url).content.decode()


def test_confirm_password_never_redirects_off_site(client, world):
    client.force_login(world.admin_a)
    response = client.post(reverse("confirm_password") + "?next=https://evil.example/", {"password": "pw"})
    assert response.url == "/"


def test_reveal_is_rate_limited_per_user_with_a_clear_429(client, world, settings):
    settings.REVEAL_RATE_LIMIT = (3, 600)
    ext = world.ext_a["101"]
    client.force_login(world.admin_a)
    url = reverse("extensions:extension_reveal", kwargs={"pk": ext.pk})
    for _ in range(3):
        assert client.post(url).status_code == 200
    refused = client.post(url)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert ext.get_sip_password() not in refused.content.decode()
    # Another user has their own count.
    client.force_login(world.agent_a)
    assert client.post(url).status_code == 200


def test_rate_limit_counts_live_in_the_configured_cache(world, settings):
    """With REDIS_URL set (CI, make test) the counts are in Redis, shared by app servers."""
    import os

    from django.core.cache import cache

    if os.environ.get("REDIS_URL"):
        assert "RedisCache" in settings.CACHES["default"]["BACKEND"]
        cache.set("guard-probe", 1, 5)
        assert cache.get("guard-probe") == 1
    else:
        pytest.skip("REDIS_URL is not set: the cache is in-process (set it to test with Redis)")


def test_reveal_is_audited_without_the_password(client, world):
    ext = world.ext_a["101"]
    client.force_login(world.admin_a)
    client.post(
        reverse("extensions:extension_reveal", kwargs={"pk": ext.pk}),
        HTTP_USER_AGENT="BizflyTest/1.0",
        REMOTE_ADDR="10.9.8.7",
    )
    event = AuditEvent.objects.get(action="reveal")
    assert event.actor == world.admin_a
    assert event.tenant == world.tenant_a
    assert event.object_id == str(ext.pk)
    assert event.ip == "10.9.8.7"
    assert event.user_agent == "BizflyTest/1.0"
    assert ext.get_sip_password() not in repr(event.changes)


def test_the_revealed_panel_hides_itself(client, world, settings):
    settings.REVEAL_VISIBLE_SECONDS = 42
    client.force_login(world.admin_a)
    url = reverse("extensions:extension_reveal", kwargs={"pk": world.ext_a["101"].pk})
    html = client.post(url).content.decode()
    assert 'data-hide-after="42"' in html
