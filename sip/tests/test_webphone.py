"""The web phone's short-lived credentials against a real Kamailio (auth_ephemeral): issued by the
dashboard to a signed-in user for their own extension, they register and call as that extension
only, and are refused once they expire, once the extension is disabled or deleted, or once its
hotline is disabled — autheph never reads the database, route[EPHEMERAL] does. Softphones'
digest logins are unchanged beside them."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from extensions.choices import CallPermission
from extensions.services import extension_delete, extension_reveal_credentials, extension_update
from hotlines.services import hotline_update
from sip.ephemeral import ephemeral_credentials, ephemeral_password, ephemeral_secret
from sip.kamailio import host_port
from sip.selectors import contacts_for
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_agent, make_extension

pytestmark = pytest.mark.sip


@pytest.fixture
def hotline(kamailio):
    hotline = HotlineFactory()
    kamailio.reload_domains()
    return hotline


def issue(client, user) -> dict:
    """What the web phone gets: the credentials endpoint's answer to the signed-in user."""
    client.force_login(user)
    response = client.post(reverse("sip:phone_credentials"))
    assert response.status_code == 200, response.content
    return response.json()


def proxy(settings) -> tuple[str, int]:
    return host_port(settings.SIP_OUTBOUND_PROXY, 5060)


def register(settings, login: dict, *, number: str | None = None, domain: str | None = None, **kw) -> int:
    """REGISTER number@domain (default: the credentials' own) with the web phone's credentials."""
    with SipClient(*proxy(settings)) as phone:
        return phone.register(
            username=number or login["number"],
            domain=domain or login["domain"],
            auth_username=kw.get("username", login["username"]),
            password=kw.get("password", login["password"]),
        ).status


def invite(settings, login: dict, dialled: str, *, number: str | None = None):
    with SipClient(*proxy(settings)) as phone:
        return phone.invite(
            number=dialled,
            domain=login["domain"],
            username=number or login["number"],
            auth_username=login["username"],
            password=login["password"],
        )


def test_issued_credentials_register_the_users_own_extension_and_nothing_else(
    kamailio, hotline, client, settings
):
    extension = make_extension(hotline, "101", "sale01")
    other = make_extension(hotline, "102", "kd01")
    same_number_elsewhere = make_extension(HotlineFactory(tenant=hotline.tenant), "101", "sale01b")
    kamailio.reload_domains()
    login = issue(client, make_agent(hotline.tenant, extension))
    assert login["password"] != extension.get_sip_password()

    assert register(settings, login) == 200
    [contact] = contacts_for(extension)
    assert contact.transport == "udp"
    # Bound to 101 of this hotline (autheph_check_to): not 102, not 101 of another hotline.
    assert register(settings, login, number="102") == 403
    assert register(settings, login, domain=same_number_elsewhere.hotline.sip_domain) == 403
    assert contacts_for(other) == [] and contacts_for(same_number_elsewhere) == []
    # The username is signed: a later expiry, another extension's name or a guessed password fail.
    expiry, _, user = login["username"].partition(":")
    for username in (f"{int(expiry) + 3600}:{user}", f"{expiry}:102@{login['domain']}"):
        assert (
            register(settings, login, number=username.split(":")[1].split("@")[0], username=username) == 403
        )
    assert register(settings, login, password=ephemeral_password(login["username"], secret="x" * 32)) == 403
    # The stored password's digest login still works beside it, unchanged.
    info = extension_reveal_credentials(extension=extension)
    with SipClient(*proxy(settings)) as phone:
        assert phone.register(username="101", domain=info.domain, password=info.password).status == 200
    # Kamailio was given the secret (the registrations above), and never wrote it down.
    assert ephemeral_secret() not in kamailio.log()


def test_expired_credentials_are_refused(kamailio, hotline, settings):
    extension = make_extension(hotline, "101", "sale01")
    domain = hotline.sip_domain
    past = timezone.now() - dt.timedelta(hours=13)
    expired = ephemeral_credentials(number="101", domain=domain, now=past)
    login = {"number": "101", "domain": domain, "username": expired.username, "password": expired.password}
    assert register(settings, login) == 403
    assert invite(settings, login, "102").status == 403
    fresh = ephemeral_credentials(number="101", domain=domain, lifetime=60)
    assert register(settings, {**login, "username": fresh.username, "password": fresh.password}) == 200
    assert contacts_for(extension)


def test_credentials_die_with_the_extension_or_its_hotline(kamailio, hotline, client, settings):
    extension = make_extension(hotline, "101", "sale01")
    agent = make_agent(hotline.tenant, extension)
    login = issue(client, agent)
    assert register(settings, login) == 200

    # Disabled: the next REGISTER and INVITE are refused, though the credentials have not expired;
    # and the dashboard issues no new ones.
    extension = extension_update(extension=extension, data={"enabled": False})
    assert register(settings, login) == 403
    assert invite(settings, login, "102").status == 403
    assert client.post(reverse("sip:phone_credentials")).status_code == 403
    extension = extension_update(extension=extension, data={"enabled": True})
    assert register(settings, login) == 200

    # The hotline disabled (Kamailio told by the dashboard's signal): refused.
    hotline_update(hotline=hotline, enabled=False)
    kamailio.reload_domains()
    assert register(settings, login) == 403
    hotline_update(hotline=hotline, enabled=True)
    kamailio.reload_domains()
    assert register(settings, login) == 200

    # Deleted: refused.
    extension_delete(extension=extension)
    assert register(settings, login) == 403


def test_credentials_call_with_the_extensions_own_permission_and_caller_id(
    kamailio, dial_rules, gateway, hotline, client, settings
):
    """An INVITE with the web phone's credentials is the extension's own call: its call
    permission and caller-ID pool come from the extension (loaded by route[EPHEMERAL])."""
    internal = make_extension(hotline, "101", "sale01", call_permission=CallPermission.INTERNAL)
    mobile = make_extension(hotline, "102", "kd01", call_permission=CallPermission.MOBILE)
    login_internal = issue(client, make_agent(hotline.tenant, internal))
    login_mobile = issue(client, make_agent(hotline.tenant, mobile, username="agent-102"))

    refused = invite(settings, login_internal, "0912345678")
    assert (refused.status, refused.response.reason) == (403, "Call permission: mobile required")
    assert invite(settings, login_internal, "102").status == 480  # internal: allowed, not registered
    assert invite(settings, login_mobile, "0912345678").status == 486  # the gateway's answer
    [reached] = gateway.invites
    assert reached.user == "0912345678"
    assert reached.header_user("P-Asserted-Identity") == hotline.number
    # Calling as another extension with them is refused (autheph_check_from).
    assert invite(settings, login_internal, "102", number="102").status == 403


def test_credentials_end_with_the_persons_access(kamailio, hotline, settings, django_user_model):
    """Signing out ends the web phone's credentials at once, not when they expire (up to 12 h
    later): on every browser of that extension, which must ask again with a session of its own.
    So does moving the person to another extension, deactivating them or changing their
    password. Credentials issued afterwards work."""
    from django.test import Client

    extension = make_extension(hotline, "101", "sale01")
    other = make_extension(hotline, "102", "sale02")
    agent = make_agent(hotline.tenant, extension)
    desk, laptop = Client(), Client()
    at_desk, on_laptop = issue(desk, agent), issue(laptop, agent)
    assert register(settings, at_desk) == 200 and register(settings, on_laptop) == 200

    # Signed out on the laptop: both browsers' credentials are refused, REGISTER and INVITE.
    laptop.post(reverse("logout"))
    assert register(settings, on_laptop) == 403
    assert register(settings, at_desk) == 403
    assert invite(settings, at_desk, "102").status == 403
    # The laptop gets none without signing in; the desk (still signed in) gets new ones at once
    # (within the second of the sign-out, too), and they work.
    assert laptop.post(reverse("sip:phone_credentials")).status_code in (302, 401, 403)
    at_desk = issue(desk, agent)
    assert register(settings, at_desk) == 200

    # Moved to another extension: the old extension's credentials die; the new one's work.
    membership = agent.membership
    membership.extension = other
    membership.save()
    assert register(settings, at_desk) == 403
    on_other = issue(desk, agent)
    assert on_other["number"] == "102" and register(settings, on_other) == 200

    # Password changed by an admin, then deactivated: refused each time.
    agent.set_password("a new password 2026")
    agent.save()
    assert register(settings, on_other) == 403
    on_other = issue(Client(), django_user_model.objects.get(pk=agent.pk))
    assert register(settings, on_other) == 200
    agent.is_active = False
    agent.save()
    assert register(settings, on_other) == 403
    # A save that changes neither (the last sign-in time) ends nothing.
    agent.is_active = True
    agent.save()
    on_other = issue(Client(), agent)
    agent.save(update_fields=["last_login"])
    assert register(settings, on_other) == 200
