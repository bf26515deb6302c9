"""One-scan phone setup (extensions.provisioning): the API and page that make a link, the link
as Linphone, a person, HEAD and link previewers fetch it, and when it is refused.

Registering with the configuration against a real Kamailio: sip/tests/test_provisioning.py."""

import hashlib
import json
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
import segno
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.choices import Action
from audit.models import AuditEvent
from core.guard import SESSION_AUTH_TIME
from extensions import provisioning
from extensions.models import Extension, ProvisioningLink
from extensions.services import extension_delete, extension_rotate_password, extension_update
from tests.api import api_client

pytestmark = pytest.mark.django_db

LINPHONE_UA = "LinphoneAndroid/5.2.5 (Pixel 7) LinphoneSDK/5.3.47"
NS = {"lp": provisioning.LPCONFIG_NS}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Real User-Agents of the link previewers in LINK_PREVIEW_BOTS, sent with an XML Accept header
# so that only the bot check can keep them from using the link.
BOT_AGENTS = [
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (Linux; Android 10) Zalo/1.0 ZaloTheme/light ZaloLanguage/vi",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0 A",
    "Twitterbot/1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
]


def linphone_get(client, url, **headers):
    """GET as Linphone does. Its messages are Vietnamese (no language cookie); in English when
    the test client has chosen English."""
    return client.get(url, HTTP_USER_AGENT=LINPHONE_UA, HTTP_ACCEPT="*/*", **headers)


@pytest.fixture
def client(client):
    client.cookies["django_language"] = "en"
    return client


def make_link(world, extension=None) -> dict:
    """A link made through the API (a token: no sign-in time), as the contract says."""
    extension = extension or world.ext_a["101"]
    response = api_client(world.admin_a).post(f"/api/v1/extensions/{extension.pk}/provisioning-links/")
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    return response.json()


def parse(xml: str) -> dict[str, dict[str, str]]:
    root = ET.fromstring(xml)
    assert root.tag == f"{{{provisioning.LPCONFIG_NS}}}config"
    return {
        str(section.get("name")): {
            str(entry.get("name")): entry.text or "" for entry in section.findall("lp:entry", NS)
        }
        for section in root.findall("lp:section", NS)
    }


def is_used(link_id: int) -> bool:
    return ProvisioningLink.objects.get(pk=link_id).used_at is not None


def secrets_of(extension: Extension) -> list[str]:
    extension = Extension.objects.get(pk=extension.pk)
    return [extension.get_sip_password(), extension.ha1, extension.ha1b, extension.password_encrypted]


# --- the API contract and Linphone's fetch --------------------------------------------------


def test_the_api_makes_a_link_that_linphone_fetches_once(client, world):
    extension = world.ext_a["101"]
    body = make_link(world)
    assert set(body) == {"id", "url", "expires_at", "qr_svg"}
    assert body["url"].startswith("http://testserver/provision/")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - timezone.now() <= timedelta(hours=24)
    # The QR code holds linphone-config:<url>: segno draws exactly that payload the same way.
    expected = segno.make(f"linphone-config:{body['url']}", error="m")
    assert body["qr_svg"] == expected.svg_inline(dark="#000", light="#fff", omitsize=True)
    assert body["qr_svg"] != segno.make(body["url"], error="m").svg_inline(
        dark="#000", light="#fff", omitsize=True
    )
    assert "style=" not in body["qr_svg"] and "<script" not in body["qr_svg"]
    for secret in secrets_of(extension):
        assert secret not in json.dumps(body)

    response = linphone_get(client, body["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    config = parse(response.content.decode())
    domain = extension.hotline.sip_domain
    assert config["sip"] == {"default_proxy": "0"}
    assert config["proxy_0"]["reg_proxy"] == "<sip:127.0.0.1:5060;transport=tcp>"
    assert config["proxy_0"]["reg_identity"] == f'"{extension.alias}" <sip:101@{domain}>'
    assert config["proxy_0"]["reg_expires"] == "3600" and config["proxy_0"]["realm"] == domain
    auth = config["auth_info_0"]
    assert auth["username"] == "101" and auth["realm"] == auth["domain"] == domain
    assert auth["ha1"] == Extension.objects.get(pk=extension.pk).ha1
    assert "passwd" not in auth and extension.get_sip_password() not in response.content.decode()

    again = linphone_get(client, body["url"])
    assert again.status_code == 410
    assert "already used" in again.content.decode()
    client.cookies.clear()
    assert "đã được dùng" in linphone_get(client, body["url"]).content.decode()


def test_a_request_for_xml_is_a_softphone_too(client, world):
    body = make_link(world)
    response = client.get(body["url"], HTTP_USER_AGENT="curl/8.5", HTTP_ACCEPT="application/xml")
    assert response.status_code == 200 and "auth_info_0" in response.content.decode()
    assert is_used(body["id"])


def test_a_person_a_head_request_and_link_previewers_use_nothing(client, world):
    body = make_link(world)
    url = body["url"]
    head = client.head(url, HTTP_USER_AGENT=LINPHONE_UA)
    assert head.status_code == 200 and not is_used(body["id"])
    person = client.get(url, HTTP_USER_AGENT="Mozilla/5.0 (X11) Chrome/131", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert person.status_code == 200 and 'id="provisioning-page"' in person.content.decode()
    assert person["X-Robots-Tag"].startswith("noindex")
    for agent in BOT_AGENTS:
        response = client.get(url, HTTP_USER_AGENT=agent, HTTP_ACCEPT="application/xml")
        assert response.status_code == 200, agent
        assert response["Content-Type"].startswith("text/html"), agent
        assert "auth_info" not in response.content.decode()
    assert not is_used(body["id"])
    assert not AuditEvent.objects.filter(action=Action.PROVISION_USE).exists()
    assert linphone_get(client, url).status_code == 200  # still there for the phone


def test_every_named_previewer_is_in_the_one_list():
    for name in ("slackbot", "facebookexternalhit", "zalo", "telegrambot", "whatsapp", "twitterbot"):
        assert name in provisioning.LINK_PREVIEW_BOTS
    for name in ("discordbot", "googlebot", "linkedinbot", "skype"):
        assert name in provisioning.LINK_PREVIEW_BOTS
    assert all(provisioning.is_link_preview_bot(agent) for agent in BOT_AGENTS)
    assert not provisioning.is_link_preview_bot(LINPHONE_UA)


# --- refused: used, expired, new password, disabled, deleted, unknown -----------------------


def test_an_expired_link_is_refused(client, world):
    body = make_link(world)
    ProvisioningLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = linphone_get(client, body["url"])
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert not is_used(body["id"])
    page = client.get(body["url"], HTTP_ACCEPT=BROWSER_ACCEPT)
    assert page.status_code == 410 and 'id="provisioning-error"' in page.content.decode()


def test_a_new_password_kills_older_links(client, world):
    body = make_link(world)
    extension_rotate_password(extension=world.ext_a["101"])
    response = linphone_get(client, body["url"])
    assert response.status_code == 410 and "password changed" in response.content.decode()
    fresh = make_link(world)
    config = parse(linphone_get(client, fresh["url"]).content.decode())
    assert config["auth_info_0"]["ha1"] == Extension.objects.get(pk=world.ext_a["101"].pk).ha1


def test_a_disabled_extension_gets_no_config_and_no_new_link(client, world):
    extension = world.ext_a["101"]
    body = make_link(world)
    extension_update(extension=extension, data={"enabled": False})
    response = linphone_get(client, body["url"])
    assert response.status_code == 410 and "disabled" in response.content.decode()
    refused = api_client(world.admin_a).post(f"/api/v1/extensions/{extension.pk}/provisioning-links/")
    assert refused.status_code == 400 and refused.json()["enabled"]
    # Enabled again, the link stays cancelled.
    extension_update(extension=extension, data={"enabled": True})
    again = linphone_get(client, body["url"])
    assert again.status_code == 410 and "cancelled" in again.content.decode()


def test_a_deleted_extensions_link_and_an_unknown_one_are_404(client, world):
    body = make_link(world)
    extension_delete(extension=world.ext_a["101"])
    assert linphone_get(client, body["url"]).status_code == 404
    assert linphone_get(client, "/provision/not-a-token/").status_code == 404


def test_only_a_hash_of_the_token_is_stored(world):
    body = make_link(world)
    token = body["url"].rstrip("/").rsplit("/", 1)[1]
    link = ProvisioningLink.objects.get()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert link.ha1_check != world.ext_a["101"].ha1
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM extensions_provisioninglink")
        rows = repr(cursor.fetchall())
    assert token not in rows and world.ext_a["101"].ha1 not in rows


def test_issue_and_use_are_audited_without_secrets(client, world):
    extension = world.ext_a["101"]
    body = make_link(world)
    linphone_get(client, body["url"])
    created = AuditEvent.objects.get(action=Action.PROVISION_CREATE, object_id=str(extension.pk))
    used = AuditEvent.objects.get(action=Action.PROVISION_USE, object_id=str(extension.pk))
    assert created.actor_id == world.admin_a.pk and created.changes["provisioning_link"] == [None, body["id"]]
    assert used.actor_id is None and used.user_agent == LINPHONE_UA and used.ip == "127.0.0.1"
    token = body["url"].rstrip("/").rsplit("/", 1)[1]
    trail = repr(list(AuditEvent.objects.values()))
    for secret in [*secrets_of(extension), token]:
        assert secret not in trail


@pytest.mark.django_db(transaction=True)
def test_two_fetches_at_once_give_exactly_one_config(world):
    body = make_link(world)
    barrier = threading.Barrier(4)
    statuses = []

    def fetch():
        try:
            barrier.wait()
            statuses.append(linphone_get(Client(), body["url"]).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 410, 410, 410]
    assert AuditEvent.objects.filter(action=Action.PROVISION_USE).count() == 1


# --- who may make one: tenants, agents, the guard ----------------------------------------


def test_other_tenants_extension_is_404_on_the_api_and_the_page(client, world):
    extension = world.ext_a["101"]
    assert (
        api_client(world.admin_b).post(f"/api/v1/extensions/{extension.pk}/provisioning-links/").status_code
        == 404
    )
    client.force_login(world.admin_b)
    page = client.post(reverse("extensions:provisioning_link_add", kwargs={"pk": extension.pk}))
    assert page.status_code == 404
    assert not ProvisioningLink.objects.exists()


def test_an_agent_makes_one_for_their_own_extension_only(client, world):
    client.force_login(world.agent_a)
    own = world.ext_a["101"]
    detail = client.get(reverse("extensions:extension_detail", kwargs={"pk": own.pk}))
    assert 'id="provisioning-create-button"' in detail.content.decode()
    page = client.post(reverse("extensions:provisioning_link_add", kwargs={"pk": own.pk}))
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    other = world.ext_a["102"]
    assert (
        client.post(reverse("extensions:provisioning_link_add", kwargs={"pk": other.pk})).status_code == 404
    )
    api = api_client(world.agent_a)
    assert api.post(f"/api/v1/extensions/{own.pk}/provisioning-links/").status_code == 201
    assert api.post(f"/api/v1/extensions/{other.pk}/provisioning-links/").status_code == 404
    assert ProvisioningLink.objects.filter(extension=own).count() == 2


def test_the_page_shows_the_qr_code_link_and_fields_but_no_secret(client, world):
    extension = world.ext_a["101"]
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    response = client.post(reverse("extensions:provisioning_link_add", kwargs={"pk": extension.pk}))
    html = response.content.decode()
    link = ProvisioningLink.objects.get()
    url = response.context["provisioning_url"]
    assert f'value="{url}"' in html and 'class="segno"' in html
    assert provisioning.qr_svg(url) in html
    assert 'id="setup-fields"' in html and extension.hotline.sip_domain in html
    assert "The password is not shown here" in html
    for secret in secrets_of(extension):
        assert secret not in html
    assert link.created_by == world.admin_a


def test_a_session_needs_a_recent_sign_in(client, world, settings):
    extension = world.ext_a["101"]
    client.force_login(world.admin_a)
    session = client.session
    session[SESSION_AUTH_TIME] = int(time.time()) - settings.REVEAL_REAUTH_SECONDS - 5
    session.save()
    page = client.post(reverse("extensions:provisioning_link_add", kwargs={"pk": extension.pk}))
    assert page.status_code == 302 and page.url.startswith(reverse("confirm_password"))
    api = client.post(f"/api/v1/extensions/{extension.pk}/provisioning-links/")
    assert api.status_code == 403
    assert not ProvisioningLink.objects.exists()


def test_one_link_spends_one_secret_of_the_single_budget(world, settings):
    settings.REVEAL_RATE_LIMIT = (2, 600)
    api = api_client(world.admin_a)
    url = f"/api/v1/extensions/{world.ext_a['101'].pk}/provisioning-links/"
    assert api.post(url).status_code == 201
    assert api.post(f"/api/v1/extensions/{world.ext_a['101'].pk}/credentials/").status_code == 200
    refused = api.post(url)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert ProvisioningLink.objects.count() == 1


# --- the one-time share link's page --------------------------------------------------------


def test_the_share_link_page_offers_linphone_setup_without_the_password_in_the_qr(client, world):
    extension = world.ext_a["101"]
    client.force_login(world.admin_a)
    created = client.post(reverse("extensions:sharelink_add", kwargs={"pk": extension.pk}))
    token = created.context["url"].split("#")[1]
    client.logout()
    opened = client.post("/share/", {"token": token, "step": "open"})
    html = opened.content.decode()
    url = opened.context["provisioning_url"]
    assert provisioning.qr_svg(url) in html
    link = ProvisioningLink.objects.get()
    assert link.created_by == world.admin_a
    event = AuditEvent.objects.get(action=Action.PROVISION_CREATE)
    assert event.actor_id is None and event.changes["share_link"][1] == extension.share_links.get().pk
    assert extension.get_sip_password() not in url
    assert linphone_get(client, url).status_code == 200
