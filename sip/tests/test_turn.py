"""TURN for the web phone (sip.turn): what POST /phone/credentials/ hands the browser, and a real
coturn (use-auth-secret) accepting the credential the dashboard derives and refusing a wrong,
expired or otherwise-signed one."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from audit.models import AuditEvent
from sip.checks import check_turn_settings
from sip.turn import TurnConfig, ice_servers, ice_transport_policy, turn_credential, turn_secret

from .stun import allocate

pytestmark = pytest.mark.django_db

SECRET = "coturn-static-auth-secret-0123"
URLS = ["turn:turn.example.vn:3478?transport=udp", "turns:turn.example.vn:5349?transport=tcp"]


def issue(client, user) -> dict:
    client.force_login(user)
    response = client.post(reverse("sip:phone_credentials"))
    assert response.status_code == 200, response.content
    return response.json()


def test_without_turn_the_credentials_carry_no_ice_servers(client, world, settings):
    settings.WEB_PHONE_TURN_URLS = []
    settings.WEB_PHONE_TURN_SECRET = SECRET
    body = issue(client, world.agent_a)
    assert "ice_servers" not in body and body["username"]
    page = client.get(reverse("sip:phone"), HTTP_HOST="127.0.0.1").content.decode()
    assert '"iceTransportPolicy": "all"' in page


def test_the_turn_credential_is_derived_expires_with_the_sip_one_and_is_never_the_secret(
    client, world, settings
):
    settings.WEB_PHONE_TURN_URLS = URLS
    settings.WEB_PHONE_TURN_SECRET = SECRET
    body = issue(client, world.agent_a)
    [server] = body["ice_servers"]
    assert server["urls"] == URLS
    expiry, _, user = server["username"].partition(":")
    # Expires with the SIP credential, for the same extension.
    assert int(expiry) == int(body["username"].split(":")[0]) > time.time()
    assert user == body["username"].partition(":")[2] == f"101@{world.ext_a['101'].hotline.sip_domain}"
    # echo -n "$username" | openssl dgst -sha1 -hmac "$secret" -binary | base64 (coturn's check)
    expected = base64.b64encode(hmac.new(SECRET.encode(), server["username"].encode(), hashlib.sha1).digest())
    assert server["credential"] == expected.decode()
    raw = json.dumps(body)
    assert SECRET not in raw
    # The audit row holds the expiry only: neither credential, nor the secret.
    entry = AuditEvent.objects.filter(object_id=str(world.ext_a["101"].pk)).latest("pk")
    assert server["credential"] not in json.dumps(entry.changes) and SECRET not in json.dumps(entry.changes)
    # Nor does the page, whatever the policy.
    settings.WEB_PHONE_ICE_TRANSPORT_POLICY = "relay"
    page = client.get(reverse("sip:phone"), HTTP_HOST="127.0.0.1").content.decode()
    assert SECRET not in page and '"iceTransportPolicy": "relay"' in page


def test_turn_settings_that_would_leave_calls_silent_are_refused(settings):
    settings.WEB_PHONE_TURN_SECRET = SECRET
    settings.WEB_PHONE_TURN_URLS = ["turn.example.vn:3478"]  # no scheme
    with pytest.raises(ImproperlyConfigured, match="not a stun:, turn: or turns: URL"):
        ice_servers(user="101@d", expires=1)
    settings.WEB_PHONE_TURN_URLS = ["stun:stun.example.vn:3478"]
    settings.WEB_PHONE_ICE_TRANSPORT_POLICY = "relay"  # relay-only with no TURN: no call connects
    with pytest.raises(ImproperlyConfigured, match="needs a turn: URL"):
        ice_transport_policy()
    settings.WEB_PHONE_ICE_TRANSPORT_POLICY = "direct"
    with pytest.raises(ImproperlyConfigured, match="all or relay"):
        ice_transport_policy()
    # Production: no secret, no TURN credential (none is made up); the demo derives one.
    settings.WEB_PHONE_TURN_SECRET = ""
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured, match="WEB_PHONE_TURN_SECRET must be set"):
        turn_secret()
    settings.DEBUG = True
    derived = turn_secret()
    assert len(derived) >= 32 and settings.SECRET_KEY not in derived
    settings.WEB_PHONE_TURN_SECRET = 'short"'
    with pytest.raises(ImproperlyConfigured, match="at least 16 characters"):
        turn_secret()


def test_the_secret_is_in_coturns_own_file_readable_by_its_owner_only(tmp_path):
    config = TurnConfig(secret=SECRET, runtime_dir=tmp_path)
    config.prepare()
    assert not any(SECRET in part for part in config.command())
    assert f"static-auth-secret={SECRET}" in config.config_file.read_text()
    assert config.config_file.stat().st_mode & 0o077 == 0
    # Loopback peers (rtpengine of `make sip`) only where asked; production leaves them off.
    assert "allow-loopback-peers" not in TurnConfig(secret=SECRET, allow_loopback_peers=False).text()


def test_coturn_accepts_the_issued_credential_and_refuses_a_wrong_or_expired_one(client, world, turn_server):
    """A real coturn with use-auth-secret: the credential the dashboard issued gets a relay; the
    same username with a wrong credential, an expired username (correctly signed), and one
    signed with another secret get 401."""
    address = (turn_server.config.listen_ip, turn_server.config.port)
    [server] = issue(client, world.agent_a)["ice_servers"]
    accepted = allocate(address, server["username"], server["credential"])
    assert accepted.ok and accepted.relayed and accepted.relayed[0] == "127.0.0.1", accepted
    assert turn_server.config.min_port <= accepted.relayed[1] <= turn_server.config.max_port

    wrong = allocate(address, server["username"], server["credential"][:-4] + "AAA=")
    expired_username = f"{int(time.time()) - 60}:{server['username'].partition(':')[2]}"
    expired = allocate(address, expired_username, turn_credential(expired_username))
    other_secret = allocate(
        address, server["username"], turn_credential(server["username"], secret="another-secret-0123456")
    )
    for refused in (wrong, expired, other_secret):
        assert not refused.ok and refused.error == 401 and refused.relayed is None, refused
    log = turn_server.log()
    assert f"user <{server['username']}>: incoming packet ALLOCATE processed, success" in log
    assert turn_server.config.secret not in log


def test_check_deploy_names_turn_settings_that_cannot_work(settings):
    settings.DEBUG = False
    settings.WEB_PHONE_TURN_SECRET = ""
    settings.WEB_PHONE_TURN_URLS = URLS
    [error] = check_turn_settings(None)
    assert error.id == "pbx.E101" and "WEB_PHONE_TURN_SECRET must be set" in error.msg
    settings.WEB_PHONE_TURN_SECRET = SECRET
    assert check_turn_settings(None) == []
    settings.WEB_PHONE_TURN_URLS = []
    assert check_turn_settings(None) == []  # no TURN: nothing to check
