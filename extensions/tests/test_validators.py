import pytest
from django.core.exceptions import ValidationError

from extensions.passwords import generate_sip_password
from extensions.validators import (
    suggest_alias,
    validate_alias,
    validate_extension_number,
    validate_sip_password,
)


@pytest.mark.parametrize("value", ["10", "100", "101", "999999", "007"])
def test_extension_number_accepts_2_to_6_digits(value):
    validate_extension_number(value)


@pytest.mark.parametrize("value", ["1", "1234567", "10a", " 101", "١٠١", "", "+101"])
def test_extension_number_refuses_other_values(value):
    with pytest.raises(ValidationError):
        validate_extension_number(value)


@pytest.mark.parametrize("value", ["sale01", "kd01", "a", "Sale.Team_1-b", "9x", "a" * 32])
def test_alias_accepts_ascii(value):
    validate_alias(value)


def test_alias_with_diacritics_says_so_and_suggests():
    with pytest.raises(ValidationError) as err:
        validate_alias("Đức_bán_hàng")
    assert err.value.code == "alias_invalid"
    assert "diacritics" in err.value.messages[0]
    assert "For example: duc_ban_hang" in err.value.messages[0]


def test_alias_with_space_says_so():
    with pytest.raises(ValidationError) as err:
        validate_alias("sale 01")
    assert err.value.code == "alias_invalid"
    assert "spaces" in err.value.messages[0]


def test_one_alias_message_says_everything_wrong_and_suggests_an_ascii_alias():
    """A name typed as an alias: one message for the spaces, the diacritics and the length
    together, with the alias that would do."""
    with pytest.raises(ValidationError) as err:
        validate_alias("Nguyễn Văn Hà @ phòng kinh doanh miền Bắc")
    (message,) = err.value.messages
    assert "spaces" in message and "diacritics" in message and "the characters @" in message
    assert "41 characters, more than 32" in message
    assert message.endswith("For example: nguyen.van.ha.phong.kinh.doanh")
    assert suggest_alias("Nguyễn Văn Hà") == "nguyen.van.ha"
    assert suggest_alias("  Đỗ  Thị   Ánh ") == "do.thi.anh"
    validate_alias(suggest_alias("Nguyễn Văn Hà @ phòng kinh doanh miền Bắc"))


@pytest.mark.parametrize("value", ["_sale", ".x", "-x", "sale@01", "a" * 33, ""])
def test_alias_refuses_bad_shapes(value):
    with pytest.raises(ValidationError):
        validate_alias(value)


def test_password_policy_accepts_a_good_password():
    validate_sip_password("Tr0ng-Dong-Xanh", number="101", alias="sale01")


@pytest.mark.parametrize(
    "password, fragment",
    [
        ("Ab1", "at least 10"),
        ("abcdefghij1", "upper-case"),
        ("ABCDEFGHIJ1", "upper-case"),
        ("Abcdefghijk", "upper-case"),
        ("Xyz101Abcdef", "extension number"),
        ("Sale01Xyzabc9", "alias"),
        ("Password123", "too common"),
        ("Mật khẩu 12A", "ASCII"),
    ],
)
def test_password_policy_refuses_weak_passwords(password, fragment):
    with pytest.raises(ValidationError) as err:
        validate_sip_password(password, number="101", alias="sale01")
    assert any(fragment in message for message in err.value.messages), err.value.messages


def test_generated_passwords_are_long_random_and_pass_the_policy():
    passwords = {generate_sip_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) >= 16
        assert not set(password) & set("0O1lI")
        validate_sip_password(password, number="101", alias="sale01")
