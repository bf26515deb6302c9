import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from extensions.models import ShareLink

pytestmark = pytest.mark.django_db


def create_link(client, world, ext=None):
    ext = ext or world.ext_a["101"]
    client.force_login(world.admin_a)
    response = client.post(reverse("extensions:sharelink_add", kwargs={"pk": ext.pk}))
    assert response.status_code == 200
    url = response.context["url"]
    client.logout()
    return url.split("/share/")[1].rstrip("/")


def test_link_works_once_without_sign_in_and_shows_a_qr_code(client, world):
    ext = world.ext_a["101"]
    token = create_link(client, world)
    url = reverse("extensions:sharelink_open", kwargs={"token": token})
    landing = client.get(url)  # a chat app's preview fetch must not use it up
    assert landing.status_code == 200
    assert ext.get_sip_password() not in landing.content.decode()
    opened = client.post(url)
    html = opened.content.decode()
    assert opened.status_code == 200
    assert ext.get_sip_password() in html
    assert "<svg" in html and 'class="segno"' in html
    client.cookies["django_language"] = "en"
    again = client.post(url)
    assert again.status_code == 410
    assert "already used" in again.content.decode()
    assert client.get(url).status_code == 410
    actions = list(AuditEvent.objects.filter(object_id=str(ext.pk)).values_list("action", flat=True))
    assert "share_create" in actions and "share_use" in actions


def test_only_a_hash_of_the_token_is_stored(client, world):
    token = create_link(client, world)
    link = ShareLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM extensions_sharelink")
        assert token not in repr(cursor.fetchall())


def test_expired_and_revoked_links_say_so(client, world):
    token = create_link(client, world)
    ShareLink.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.post(reverse("extensions:sharelink_open", kwargs={"token": token}))
    assert response.status_code == 410
    assert world.ext_a["101"].get_sip_password() not in response.content.decode()

    token = create_link(client, world)
    link = ShareLink.objects.get(expires_at__gt=timezone.now())
    client.force_login(world.admin_a)
    client.post(reverse("extensions:sharelink_revoke", kwargs={"pk": link.extension_id, "link_pk": link.pk}))
    client.logout()
    response = client.post(reverse("extensions:sharelink_open", kwargs={"token": token}))
    assert response.status_code == 410
    assert AuditEvent.objects.filter(action="share_revoke").count() == 1


def test_unknown_token_is_refused(client, world):
    assert client.get(reverse("extensions:sharelink_open", kwargs={"token": "nope"})).status_code == 410


def test_default_lifetime_is_24_hours(client, world):
    create_link(client, world)
    link = ShareLink.objects.get()
    assert timedelta(hours=23, minutes=59) < link.expires_at - link.created_at <= timedelta(hours=24)
