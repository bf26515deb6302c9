"""One-scan phone setup, end to end: the configuration Linphone fetches from a provisioning
link (extensions.provisioning) really signs a phone in to Kamailio, with the digest `ha1` it
carries and no password; a rotated password or a disabled extension stops it."""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest
from django.test import Client

from extensions import provisioning
from extensions.services import extension_rotate_password, extension_update
from sip.selectors import contacts_for
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_extension

pytestmark = pytest.mark.sip

LINPHONE_UA = "LinphoneAndroid/5.2.5 (Pixel 7) LinphoneSDK/5.3.47"
NS = {"lp": provisioning.LPCONFIG_NS}


@pytest.fixture
def hotline(kamailio):
    hotline = HotlineFactory()
    kamailio.reload_domains()
    return hotline


def fetch(url: str):
    """GET the link as Linphone does (its User-Agent; it asks for XML)."""
    return Client().get(url, HTTP_USER_AGENT=LINPHONE_UA, HTTP_ACCEPT="application/xml")


def new_link(extension) -> str:
    issued = provisioning.provisioning_link_create(extension=extension)
    return f"/provision/{issued.token}/"


@dataclass(frozen=True)
class Account:
    """What Linphone takes from the configuration to register: proxy_0 and auth_info_0."""

    host: str
    port: int
    transport: str
    user: str
    domain: str
    auth_username: str
    ha1: str


def account(xml: str) -> Account:
    sections = {
        s.get("name"): {e.get("name"): e.text or "" for e in s.findall("lp:entry", NS)}
        for s in ET.fromstring(xml).findall("lp:section", NS)
    }
    proxy, auth = sections["proxy_0"], sections["auth_info_0"]
    proxy_match = re.fullmatch(r"<sip:([^:;>]+):(\d+);transport=(\w+)>", proxy["reg_proxy"])
    identity_match = re.fullmatch(r'"[^"]*" <sip:([^@]+)@([^>]+)>', proxy["reg_identity"])
    assert proxy_match and identity_match
    host, port, transport = proxy_match.groups()
    user, domain = identity_match.groups()
    assert auth["username"] == user and auth["domain"] == auth["realm"] == domain
    return Account(host, int(port), transport, user, domain, auth["username"], auth["ha1"])


def register(acc: Account) -> int:
    """REGISTER as the provisioned phone: through the proxy and transport of the
    configuration, answering the digest challenge with its ha1 (no password anywhere)."""
    with SipClient(acc.host, acc.port, transport=acc.transport) as client:
        return client.register(
            username=acc.user,
            domain=acc.domain,
            ha1=acc.ha1,
            auth_username=acc.auth_username,
            user_agent=LINPHONE_UA,
        ).status


def test_the_fetched_configuration_registers_with_ha1_once(kamailio, hotline):
    extension = make_extension(hotline, "101", "sale01")
    url = new_link(extension)
    response = fetch(url)
    assert response.status_code == 200
    xml = response.content.decode()
    assert extension.get_sip_password() not in xml and "passwd" not in xml
    acc = account(xml)
    assert acc.transport == "tcp"  # offered by the login info, and what a mobile phone keeps up
    assert (acc.host, acc.port) == (kamailio.config.listen_ip, kamailio.config.sip_port)

    assert register(acc) == 200
    (contact,) = contacts_for(extension)
    assert contact.transport == "tcp" and contact.user_agent == LINPHONE_UA

    assert fetch(url).status_code == 410  # once


def test_a_rotated_password_refuses_the_link_and_the_old_configuration(kamailio, hotline):
    extension = make_extension(hotline, "102", "kd01")
    used = account(fetch(new_link(extension)).content.decode())
    unused = new_link(extension)
    extension, _ = extension_rotate_password(extension=extension)
    assert fetch(unused).status_code == 410
    assert register(used) == 403  # the ha1 it carried is the old password's
    fresh = account(fetch(new_link(extension)).content.decode())
    assert register(fresh) == 200


def test_a_disabled_extension_gets_no_configuration(kamailio, hotline):
    extension = make_extension(hotline, "103", "kd02")
    url = new_link(extension)
    extension_update(extension=extension, data={"enabled": False})
    assert fetch(url).status_code == 410
    extension_update(extension=extension, data={"enabled": True})
    # Enabled again, the old link stays dead; a new one gives a configuration that registers.
    assert fetch(url).status_code == 410
    assert register(account(fetch(new_link(extension)).content.decode())) == 200
