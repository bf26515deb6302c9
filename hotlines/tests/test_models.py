import pytest
from django.core.exceptions import ValidationError

from hotlines.choices import Carrier, HotlineKind
from hotlines.models import Hotline
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw, number, display, kind",
    [
        ("1900 1234", "19001234", "1900 1234", HotlineKind.PREMIUM),
        ("1800-5678", "18005678", "1800 5678", HotlineKind.TOLL_FREE),
        ("+84 24 7300 1234", "02473001234", "024 7300 1234", HotlineKind.LANDLINE),
        ("84912345678", "0912345678", "0912 345 678", HotlineKind.MOBILE),
    ],
)
def test_number_is_normalised_and_kind_derived(raw, number, display, kind):
    hotline = Hotline(tenant=TenantFactory(), number=raw)
    hotline.full_clean()
    assert hotline.number == number
    assert hotline.display_number == display
    assert hotline.kind == kind
    assert hotline.sip_domain == f"{number}.sip.example.vn"


@pytest.mark.parametrize(
    "number, carrier",
    [
        ("0388888888", Carrier.VIETTEL),
        ("0912345678", Carrier.VINAPHONE),
        ("0708123456", Carrier.MOBIFONE),
        ("0523123456", Carrier.VIETNAMOBILE),
        ("0993123456", Carrier.GMOBILE),
    ],
)
def test_mobile_carrier_comes_from_the_number(number, carrier):
    hotline = Hotline(tenant=TenantFactory(), number=number)
    hotline.full_clean()
    assert hotline.carrier == carrier


@pytest.mark.parametrize("raw", ["12345", "abc", "+1 650 253 0000", "113"])
def test_invalid_or_foreign_numbers_are_refused(raw):
    hotline = Hotline(tenant=TenantFactory(), number=raw)
    with pytest.raises(ValidationError) as err:
        hotline.full_clean()
    assert "number" in err.value.message_dict


def test_two_spellings_of_one_number_are_one_hotline():
    tenant = TenantFactory()
    first = Hotline(tenant=tenant, number="1900 1234")
    first.full_clean()
    first.save()
    second = Hotline(tenant=tenant, number="19001234")
    with pytest.raises(ValidationError) as err:
        second.full_clean()
    assert "number" in err.value.message_dict
