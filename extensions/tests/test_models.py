import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from extensions.models import Extension
from tests.factories import HotlineFactory, TenantFactory, make_extension

pytestmark = pytest.mark.django_db


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_set_sip_password_sets_encrypted_ha1_and_ha1b_together():
    hotline = HotlineFactory()
    ext = make_extension(hotline, "101", "sale01", password="Tr0ng-Dong-Xanh")
    realm = hotline.sip_domain
    assert ext.ha1 == md5(f"101:{realm}:Tr0ng-Dong-Xanh")
    assert ext.ha1b == md5(f"101@{realm}:{realm}:Tr0ng-Dong-Xanh")
    assert ext.get_sip_password() == "Tr0ng-Dong-Xanh"
    assert "Tr0ng-Dong-Xanh" not in ext.password_encrypted


def test_database_holds_no_plaintext_password():
    hotline = HotlineFactory()
    ext = make_extension(hotline, "101", "sale01", password="Tr0ng-Dong-Xanh")
    generated = make_extension(hotline, "102", "sale02").get_sip_password()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM extensions_extension")
        dump = repr(cursor.fetchall())
    assert ext.number in dump
    assert "Tr0ng-Dong-Xanh" not in dump
    assert generated not in dump


def test_supervisor_must_not_be_itself():
    ext = make_extension(HotlineFactory(), "100")
    ext.supervisor = ext
    with pytest.raises(ValidationError) as err:
        ext.full_clean()
    assert "supervisor" in err.value.message_dict


def test_supervisor_must_be_on_the_same_hotline():
    tenant = TenantFactory()
    a = make_extension(HotlineFactory(tenant=tenant), "100")
    b = make_extension(HotlineFactory(tenant=tenant), "100")
    b.supervisor = a
    with pytest.raises(ValidationError) as err:
        b.full_clean()
    assert "same hotline" in err.value.message_dict["supervisor"][0]


def test_supervision_cycle_is_refused_and_named():
    hotline = HotlineFactory()
    e100 = make_extension(hotline, "100")
    e101 = make_extension(hotline, "101", supervisor=e100)
    e102 = make_extension(hotline, "102", supervisor=e101)
    e100.supervisor = e102
    with pytest.raises(ValidationError) as err:
        e100.full_clean()
    assert "100 → 102 → 101 → 100" in err.value.message_dict["supervisor"][0]


def test_extensions_sort_numerically():
    hotline = HotlineFactory()
    for number in ["1000", "99", "101", "100"]:
        make_extension(hotline, number)
    assert [e.number for e in Extension.objects.filter(hotline=hotline)] == ["99", "100", "101", "1000"]
