import pytest
from django.core.exceptions import ValidationError

from extensions.choices import CallPermission
from extensions.models import Extension
from extensions.services import (
    extension_create,
    extension_delete,
    extension_reveal_credentials,
    extension_rotate_password,
    extension_update,
)
from tests.factories import HotlineFactory, NumberGroupFactory, TenantFactory, make_extension

pytestmark = pytest.mark.django_db


def test_create_generates_a_password_and_defaults_to_mobile():
    hotline = HotlineFactory()
    ext = extension_create(hotline=hotline, number="101", alias="sale01")
    assert ext.call_permission == CallPermission.MOBILE
    assert len(ext.get_sip_password()) >= 16


def test_create_refuses_a_duplicate_number_with_a_field_error():
    hotline = HotlineFactory()
    make_extension(hotline, "101", "sale01")
    with pytest.raises(ValidationError) as err:
        extension_create(hotline=hotline, number="101", alias="sale02")
    assert "already exists" in err.value.message_dict["number"][0]


def test_same_number_on_another_hotline_is_fine():
    make_extension(HotlineFactory(), "101", "sale01")
    make_extension(HotlineFactory(), "101", "sale01")


def test_create_refuses_a_duplicate_alias():
    hotline = HotlineFactory()
    make_extension(hotline, "101", "sale01")
    with pytest.raises(ValidationError) as err:
        extension_create(hotline=hotline, number="102", alias="sale01")
    assert "alias" in err.value.message_dict


def test_create_reports_every_problem_at_once():
    hotline = HotlineFactory()
    with pytest.raises(ValidationError) as err:
        extension_create(hotline=hotline, number="1", alias="bán hàng", password="weak")
    assert {"number", "alias", "password"} <= set(err.value.message_dict)
    assert not Extension.objects.exists()


def test_typed_password_must_pass_the_policy_and_is_kept():
    hotline = HotlineFactory()
    with pytest.raises(ValidationError) as err:
        extension_create(hotline=hotline, number="101", alias="sale01", password="sale01Abcdef")
    assert "password" in err.value.message_dict
    ext = extension_create(hotline=hotline, number="101", alias="sale01", password="Tr0ng-Dong-Xanh")
    assert ext.get_sip_password() == "Tr0ng-Dong-Xanh"


def test_caller_id_pool_must_belong_to_the_same_tenant():
    hotline = HotlineFactory()
    foreign_hotline = HotlineFactory(tenant=TenantFactory())
    foreign_group = NumberGroupFactory(tenant=foreign_hotline.tenant)
    with pytest.raises(ValidationError) as err:
        extension_create(
            hotline=hotline,
            number="101",
            alias="s",
            outbound_hotlines=[foreign_hotline],
            outbound_groups=[foreign_group],
        )
    assert {"outbound_hotlines", "outbound_groups"} <= set(err.value.message_dict)
    assert not Extension.objects.exists()


def test_update_changes_fields_and_bumps_the_version():
    hotline = HotlineFactory()
    boss = make_extension(hotline, "100")
    group = NumberGroupFactory(tenant=hotline.tenant)
    ext = make_extension(hotline, "101", "sale01")
    updated = extension_update(
        extension=ext,
        expected_version=ext.version,
        data={
            "alias": "sale99",
            "call_permission": CallPermission.INTERNATIONAL,
            "supervisor": boss,
            "outbound_groups": [group],
            "description": "Trưởng nhóm",
            "enabled": False,
        },
    )
    ext.refresh_from_db()
    assert (ext.alias, ext.call_permission, ext.supervisor, ext.enabled) == (
        "sale99",
        CallPermission.INTERNATIONAL,
        boss,
        False,
    )
    assert list(ext.outbound_groups.all()) == [group]
    assert ext.version == updated.version == 2


def test_update_from_a_stale_page_is_refused_and_keeps_the_first_change():
    ext = make_extension(HotlineFactory(), "101", "sale01")
    opened = ext.version
    extension_update(extension=ext, expected_version=opened, data={"description": "first"})
    with pytest.raises(ValidationError) as err:
        extension_update(extension=ext, expected_version=opened, data={"description": "second"})
    assert err.value.code == "stale"
    ext.refresh_from_db()
    assert ext.description == "first"


def test_update_password_changes_ha1_and_keeps_it_otherwise():
    ext = make_extension(HotlineFactory(), "101", "sale01")
    ha1 = ext.ha1
    ext = extension_update(extension=ext, data={"description": "x"})
    assert ext.ha1 == ha1
    ext = extension_update(extension=ext, data={}, password="N3w-Passw0rd-Xyz")
    assert ext.ha1 != ha1
    assert ext.get_sip_password() == "N3w-Passw0rd-Xyz"
    with pytest.raises(ValidationError) as err:
        extension_update(extension=ext, data={}, password="short")
    assert "password" in err.value.message_dict


def test_rotate_password_returns_the_new_password():
    ext = make_extension(HotlineFactory(), "101", "sale01")
    old = ext.get_sip_password()
    rotated, password = extension_rotate_password(extension=ext)
    assert password != old
    rotated.refresh_from_db()
    assert rotated.get_sip_password() == password
    assert extension_reveal_credentials(extension=rotated).password == password


def test_update_refuses_a_supervision_cycle():
    hotline = HotlineFactory()
    e100 = make_extension(hotline, "100")
    e101 = make_extension(hotline, "101", supervisor=e100)
    with pytest.raises(ValidationError) as err:
        extension_update(extension=e100, data={"supervisor": e101})
    assert "cycle" in err.value.message_dict["supervisor"][0]


def test_delete_keeps_supervised_extensions_without_a_supervisor():
    hotline = HotlineFactory()
    boss = make_extension(hotline, "100")
    ext = make_extension(hotline, "101", supervisor=boss)
    extension_delete(extension=boss)
    ext.refresh_from_db()
    assert ext.supervisor is None
    assert ext.enabled


def test_credentials_show_what_a_softphone_needs(settings):
    settings.SIP_OUTBOUND_PROXY = "sip.example.vn:5060"
    ext = make_extension(HotlineFactory(number="19009999"), "101", "sale01", password="Tr0ng-Dong-Xanh")
    info = extension_reveal_credentials(extension=ext)
    assert info.username == "101"
    assert info.domain == "19009999.sip.example.vn"
    assert info.sip_uri == "sip:101@19009999.sip.example.vn"
    assert info.password == "Tr0ng-Dong-Xanh"
    assert info.display_name == "sale01"
    assert info.proxy == "sip.example.vn:5060"
    assert "Tr0ng-Dong-Xanh" in info.as_text()
