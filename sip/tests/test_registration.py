"""The login info really logs a softphone in: REGISTER through a real Kamailio reading our
database, over UDP and TCP, with every change taking effect on the very next REGISTER."""

import pytest
from django.utils import timezone

from extensions.credentials import LoginInfo
from extensions.services import (
    extension_delete,
    extension_reveal_credentials,
    extension_rotate_password,
    extension_update,
)
from hotlines.models import Hotline
from hotlines.services import hotline_create
from sip.kamailio import KamailioConfig, host_port
from sip.selectors import contacts_for, with_online_count, with_online_status
from sip.services import sip_domains_reload, sip_registrations_remove
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, TenantFactory, make_extension

pytestmark = pytest.mark.sip

NEW_PASSWORD = "Sang-Tao-2025xyz"


def register(
    info: LoginInfo,
    *,
    password: str | None = None,
    domain: str | None = None,
    username: str | None = None,
    transport: str = "udp",
    expires: int = 300,
    auth_username: str | None = None,
) -> int:
    """REGISTER with login info as a softphone would (proxy from the info), return the status."""
    host, port = host_port(info.proxy, 5060)
    with SipClient(host, port, transport=transport) as client:
        response = client.register(
            username=username or info.username,
            domain=domain or info.domain,
            password=info.password if password is None else password,
            expires=expires,
            auth_username=auth_username,
        )
    return response.status


@pytest.fixture
def hotline(kamailio):
    hotline = HotlineFactory()
    kamailio.reload_domains()
    return hotline


def test_new_extension_registers_over_udp_and_tcp(kamailio, hotline):
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)

    assert register(info, transport="udp") == 200
    assert register(info, transport="tcp") == 200

    contacts = contacts_for(extension)
    assert sorted(c.transport for c in contacts) == ["tcp", "udp"]
    for contact in contacts:
        assert contact.user_agent == "pbx-sipclient/1.0"
        assert contact.source.startswith("127.0.0.1:")
        assert contact.socket == f"{contact.transport}:127.0.0.1:{kamailio.config.sip_port}"
        assert 250 < (contact.expires - timezone.now()).total_seconds() <= 301
    row = with_online_status(type(extension).objects.filter(pk=extension.pk)).get()
    assert row.contact_count == 2
    assert with_online_count(Hotline.objects.filter(pk=hotline.pk)).get().online_count == 1


def test_wrong_password_is_refused_and_not_registered(kamailio, hotline):
    extension = make_extension(hotline, "102", "kd01")
    info = extension_reveal_credentials(extension=extension)

    assert register(info, password="Wrong-password-123") == 403
    assert register(info, password="Wrong-password-123", transport="tcp") == 403
    assert contacts_for(extension) == []


def test_changed_password_takes_effect_on_the_next_register(kamailio, hotline):
    extension = make_extension(hotline, "103", "kd03")
    old = extension_reveal_credentials(extension=extension)
    assert register(old) == 200

    extension = extension_update(extension=extension, data={}, password=NEW_PASSWORD)

    assert register(old) == 403
    assert register(old, password=NEW_PASSWORD) == 200


def test_rotated_password_takes_effect_on_the_next_register(kamailio, hotline):
    extension = make_extension(hotline, "104", "kd04")
    old = extension_reveal_credentials(extension=extension)
    assert register(old, transport="tcp") == 200

    extension, new_password = extension_rotate_password(extension=extension)

    assert register(old, transport="tcp") == 403
    assert register(old, password=new_password, transport="tcp") == 200
    assert extension_reveal_credentials(extension=extension).password == new_password


def test_disabled_extension_is_refused_until_enabled_again(kamailio, hotline):
    extension = make_extension(hotline, "105", "kd05")
    info = extension_reveal_credentials(extension=extension)
    assert register(info) == 200

    extension = extension_update(extension=extension, data={"enabled": False})
    assert register(info) == 403

    extension_update(extension=extension, data={"enabled": True})
    assert register(info) == 200


def test_deleted_extension_is_refused(kamailio, hotline):
    extension = make_extension(hotline, "106", "kd06")
    info = extension_reveal_credentials(extension=extension)
    assert register(info) == 200

    extension_delete(extension=extension)

    assert register(info) == 403


def test_credentials_do_not_register_in_another_hotlines_domain(kamailio):
    hotline_a, hotline_b = HotlineFactory(), HotlineFactory(tenant__slug="other-tenant")
    kamailio.reload_domains()
    ext_a = make_extension(hotline_a, "101", "sale01")
    ext_b = make_extension(hotline_b, "101", "sale01")
    info_a = extension_reveal_credentials(extension=ext_a)
    info_b = extension_reveal_credentials(extension=ext_b)

    # Same number, other hotline: A's password is not B's.
    assert register(info_a, domain=hotline_b.sip_domain) == 403
    assert register(info_b, domain=hotline_a.sip_domain) == 403
    # Each works in its own domain: the realm keeps the two accounts apart.
    assert register(info_a) == 200
    assert register(info_b) == 200
    assert [c.transport for c in contacts_for(ext_a)] == ["udp"]
    assert with_online_count(Hotline.objects.filter(pk=hotline_b.pk)).get().online_count == 1


def test_an_extension_cannot_register_as_another_number(kamailio, hotline):
    ext_101 = make_extension(hotline, "101", "sale01")
    make_extension(hotline, "102", "kd01")
    info = extension_reveal_credentials(extension=ext_101)

    # 101's own digest credentials, but the To (the AOR being registered) is 102.
    assert register(info, username="102", auth_username="101") == 403


def test_unknown_domain_is_refused(kamailio, hotline):
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)

    assert register(info, domain="19009999.not-ours.example") == 403


def test_user_at_domain_username_uses_ha1b(kamailio, hotline):
    """Some softphones send `101@domain` as the digest username; ha1b is for them."""
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)

    assert register(info, auth_username=f"101@{info.domain}") == 200


def test_new_hotline_registers_after_a_domain_reload(kamailio):
    hotline = HotlineFactory()
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)

    kamailio.reload_domains()

    assert register(info) == 200


def test_disabled_hotline_is_refused(kamailio, hotline):
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)
    assert register(info) == 200

    hotline.enabled = False
    hotline.save(update_fields=["enabled"])

    # Refused at once (its extensions leave the view), and its domain after the next reload.
    assert register(info) == 403
    kamailio.reload_domains()
    assert register(info) == 403


def test_unregister_removes_the_contact(kamailio, hotline):
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)
    host, port = host_port(info.proxy, 5060)
    with SipClient(host, port) as phone:
        response = phone.register(username=info.username, domain=info.domain, password=info.password)
        assert response.status == 200
        assert len(contacts_for(extension)) == 1

        # The same contact with Expires: 0 signs out.
        response = phone.register(
            username=info.username, domain=info.domain, password=info.password, expires=0
        )

    assert response.status == 200
    assert contacts_for(extension) == []


def test_removing_registrations_takes_the_extension_offline_at_once(kamailio, hotline):
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension)
    assert register(info) == 200 and register(info, transport="tcp") == 200

    extension = extension_update(extension=extension, data={"enabled": False})
    assert sip_registrations_remove(extension=extension, config=kamailio.config)

    assert contacts_for(extension) == []
    assert register(info) == 403


def test_domain_reload_service_reaches_kamailio(kamailio):
    hotline = HotlineFactory()
    info = extension_reveal_credentials(extension=make_extension(hotline, "101", "sale01"))

    assert sip_domains_reload(config=kamailio.config)

    assert register(info) == 200


def test_a_hotline_added_through_its_service_registers_without_a_manual_reload(kamailio, monkeypatch):
    """hotline_create announces the new hotline; sip's receiver reloads Kamailio's domains
    (this Kamailio's own timer would take an hour)."""
    monkeypatch.setenv("KAMAILIO_RUNTIME_DIR", str(kamailio.config.runtime_dir))
    hotline = hotline_create(tenant=TenantFactory(), number="1900 6003")
    info = extension_reveal_credentials(extension=make_extension(hotline, "101", "sale01"))

    assert register(info) == 200


def test_services_report_when_no_kamailio_runs(kamailio, tmp_path):
    config = KamailioConfig(db_url="sqlite:////nowhere", runtime_dir=tmp_path)
    assert sip_domains_reload(config=config) is False
