import hashlib
from datetime import timedelta

import pytest
from django.core.signals import request_started
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from extensions.models import ShareLink

pytestmark = pytest.mark.django_db


SHARE = "/share/"


def create_link(client, world, ext=None):
    ext = ext or world.ext_a["101"]
    client.force_login(world.admin_a)
    response = client.post(reverse("extensions:sharelink_add", kwargs={"pk": ext.pk}))
    assert response.status_code == 200
    url = response.context["url"]
    assert f'value="{url}"' in response.content.decode()
    client.logout()
    base, token = url.split("#")
    assert base == "http://testserver/share/"
    return token


def peek(client, token):
    return client.post(SHARE, {"token": token, "step": "peek"})


def use(client, token, **extra):
    return client.post(SHARE, {"token": token, "step": "open"}, **extra)


def test_the_route_is_share_with_the_token_after_a_hash():
    assert reverse("extensions:sharelink_open") == SHARE


def test_link_works_once_without_sign_in_and_shows_a_qr_code(client, world):
    ext = world.ext_a["101"]
    token = create_link(client, world)
    page = client.get(SHARE)  # what a chat app's preview fetches: the page without the token
    assert page.status_code == 200
    assert ext.number not in page.content.decode()
    landing = peek(client, token)  # what the page's script posts: does not use the link up
    assert landing.status_code == 200 and landing["Cache-Control"] == "no-store"
    html = landing.content.decode()
    assert ext.get_sip_password() not in html and 'id="share-open-button"' in html
    assert peek(client, token).status_code == 200
    opened = use(client, token)
    html = opened.content.decode()
    assert opened.status_code == 200 and opened["Cache-Control"] == "no-store"
    assert ext.get_sip_password() in html
    assert "<svg" in html and 'class="segno"' in html
    client.cookies["django_language"] = "en"
    again = use(client, token)
    assert again.status_code == 410
    assert "already used" in again.content.decode()
    assert peek(client, token).status_code == 410
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
    response = use(client, token)
    assert response.status_code == 410
    assert world.ext_a["101"].get_sip_password() not in response.content.decode()

    token = create_link(client, world)
    link = ShareLink.objects.get(expires_at__gt=timezone.now())
    client.force_login(world.admin_a)
    client.post(reverse("extensions:sharelink_revoke", kwargs={"pk": link.extension_id, "link_pk": link.pk}))
    client.logout()
    response = use(client, token)
    assert response.status_code == 410
    assert AuditEvent.objects.filter(action="share_revoke").count() == 1


def test_unknown_or_missing_token_is_refused(client, world):
    assert peek(client, "nope").status_code == 410
    assert use(client, "nope").status_code == 410
    assert client.post(SHARE).status_code == 410


def test_default_lifetime_is_24_hours(client, world):
    create_link(client, world)
    link = ShareLink.objects.get()
    assert timedelta(hours=23, minutes=59) < link.expires_at - link.created_at <= timedelta(hours=24)


# --- the token stays out of every URL -------------------------------------------------------------


def test_the_token_is_in_no_request_line_of_the_whole_flow(client, world):
    """What an access log writes for each request: the path and the query string (as
    runserver's django.server logger and gunicorn do). The token travels in bodies only."""
    lines = []

    def record(sender, environ, **kwargs):
        lines.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}")

    request_started.connect(record)
    try:
        token = create_link(client, world)
        client.get(SHARE)
        peek(client, token)
        opened = use(client, token)
    finally:
        request_started.disconnect(record)
    assert world.ext_a["101"].get_sip_password() in opened.content.decode()
    assert len(lines) == 4 and lines[1:] == ["GET /share/?", "POST /share/?", "POST /share/?"]
    assert not [line for line in lines if token in line]


def test_the_page_reads_the_token_with_a_script_file_and_says_so_without_javascript(client, world):
    html = client.get(SHARE).content.decode()
    assert 'src="/static/js/share.js"' in html
    assert "<script>" not in html  # no inline script: the CSP forbids it
    assert 'id="share-peek-form"' in html and 'name="csrfmiddlewaretoken"' in html
    assert "<noscript>" in html and 'id="share-needs-js"' in html


def test_an_old_style_link_opens_nothing_and_is_cancelled(client, world):
    """/share/<token>/ put the token in the access logs: it must not open, and the logged
    token must be worthless afterwards."""
    ext = world.ext_a["101"]
    token = create_link(client, world)
    client.cookies["django_language"] = "en"
    old = client.get(f"/share/{token}/")
    html = old.content.decode()
    assert old.status_code == 410 and "/share/#" in html and "ask your administrator" in html.lower()
    assert ext.get_sip_password() not in html
    assert ShareLink.objects.get().state == "revoked"
    assert AuditEvent.objects.filter(action="share_revoke", actor=None).count() == 1
    assert not AuditEvent.objects.filter(action="share_use").exists()
    assert use(client, token).status_code == 410  # the token from the log opens nothing
    assert client.get(f"/share/{token}/").status_code == 410
    assert AuditEvent.objects.filter(action="share_revoke").count() == 1
