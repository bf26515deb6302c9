"""The web phone's page and its menu entry, without a SIP server: who gets it, its accessible
names, the Content Security Policy it runs under, the secure-context warning, and how the secret
it shares with Kamailio travels."""

import base64
import hashlib
import hmac

import pytest
from django.urls import reverse

from sip.ephemeral import MAX_LIFETIME_SECONDS, ephemeral_credentials, ephemeral_password, ephemeral_secret
from sip.kamailio import EPHEMERAL_SECRET_ENV, KamailioConfig

pytestmark = pytest.mark.django_db

PHONE = "/phone/"


def test_the_agent_finds_the_phone_in_the_menu_with_its_accessible_names(client, world):
    client.force_login(world.agent_a)
    home = client.get("/", follow=True).content.decode()
    assert f'href="{PHONE}">Điện thoại</a>' in home
    page = client.get(reverse("sip:phone"), HTTP_HOST="127.0.0.1")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<label class="form-label" for="phone-number">Số cần gọi</label>' in html
    for button in (
        'id="phone-call" disabled>Gọi<',
        'id="phone-answer">Trả lời<',
        'id="phone-hangup">Kết thúc<',
    ):
        assert button in html
    assert world.ext_a["101"].get_sip_password() not in html
    # English too.
    client.cookies["django_language"] = "en"
    html = client.get(reverse("sip:phone"), HTTP_HOST="127.0.0.1").content.decode()
    assert 'for="phone-number">Number to call</label>' in html and ">Hang up<" in html


def test_the_menu_has_no_phone_without_an_extension(client, world):
    client.force_login(world.admin_a)
    assert f'href="{PHONE}"' not in client.get(reverse("hotlines:hotline_list")).content.decode()


def test_the_page_runs_under_the_strict_policy_which_allows_only_the_sip_websocket(client, world, settings):
    settings.SIP_WEBSOCKET_URL = "wss://sip.example.vn:8443/ws"
    client.force_login(world.agent_a)
    response = client.get(reverse("sip:phone"), HTTP_HOST="127.0.0.1")
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["connect-src"] == "'self' wss://sip.example.vn:8443/ws"
    assert policy["script-src"] == "'self'" and "'unsafe-inline'" not in response["Content-Security-Policy"]
    html = response.content.decode()
    assert "<script>" not in html and " style=" not in html and " onclick=" not in html
    assert '<script src="/static/webphone/phone.js">' in html
    # Other pages do not get the SIP server in their policy.
    other = client.get(reverse("extensions:my_extension"), follow=True)
    assert "sip.example.vn" not in other["Content-Security-Policy"]


def test_the_page_says_when_the_microphone_cannot_work_here(client, world):
    """Browsers give the microphone only to secure pages: HTTPS, or the loopback."""
    client.force_login(world.agent_a)
    for host in ("127.0.0.1:8000", "localhost:8000"):
        assert 'id="phone-insecure"' not in client.get(PHONE, HTTP_HOST=host).content.decode()
    warned = client.get(PHONE, HTTP_HOST="testserver").content.decode()
    assert 'id="phone-insecure"' in warned and "HTTPS" in warned
    assert 'id="phone-insecure"' not in client.get(PHONE, secure=True).content.decode()


def test_credentials_follow_auth_ephemeral(settings):
    """The username names the extension and its hotline and expires; the password is
    base64(HMAC-SHA1(secret, username)); 12 hours at most, whatever the setting says."""
    settings.SIP_EPHEMERAL_SECRET = "s3cret-shared-with-kamailio"
    credentials = ephemeral_credentials(number="101", domain="19001234.sip.example.vn", lifetime=600)
    expiry, _, user = credentials.username.partition(":")
    assert user == "101@19001234.sip.example.vn"
    assert int(expiry) == int(credentials.expires_at.timestamp())
    # echo -n "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64
    expected = base64.b64encode(
        hmac.new(b"s3cret-shared-with-kamailio", credentials.username.encode(), hashlib.sha1).digest()
    )
    assert credentials.password == expected.decode() == ephemeral_password(credentials.username)
    settings.WEB_PHONE_CREDENTIAL_SECONDS = 10 * MAX_LIFETIME_SECONDS
    longest = ephemeral_credentials(number="101", domain="d")
    assert int(longest.username.split(":")[0]) - int(expiry) + 600 <= MAX_LIFETIME_SECONDS + 1


def test_the_secret_reaches_kamailio_in_its_environment_not_its_command_line(settings, tmp_path):
    settings.SIP_EPHEMERAL_SECRET = ""
    derived = ephemeral_secret()
    assert len(derived) >= 32 and settings.SECRET_KEY not in derived  # derived, not the key itself
    config = KamailioConfig(
        db_url="postgres://k@127.0.0.1/db", runtime_dir=tmp_path, ephemeral_secret=derived
    )
    assert not any(derived in part for part in config.command())
    assert config.environment()[EPHEMERAL_SECRET_ENV] == derived
    # Without a secret, Kamailio still starts (auth_ephemeral needs one) with one nobody knows.
    bare = KamailioConfig(db_url="x", runtime_dir=tmp_path)
    unknown = {bare.environment()[EPHEMERAL_SECRET_ENV] for _ in "ab"}
    assert len(unknown) == 2 and derived not in unknown and "" not in unknown
