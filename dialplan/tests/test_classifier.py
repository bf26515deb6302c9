"""The seeded Vietnamese numbering plan, read by the Python classifier."""

import re

import phonenumbers
import pytest
from phonenumbers import carrier as pn_carrier

from dialplan.choices import RuleStage
from dialplan.classifier import Rule, RuleSet

CASES = [
    # dialled, normalised, rule, class
    ("113", "113", "emergency", "emergency"),
    ("115", "115", "emergency", "emergency"),
    ("101", "101", "internal", "internal"),
    ("99", "99", "internal", "internal"),
    ("123456", "123456", "internal", "internal"),
    ("18001234", "18001234", "toll-free", "toll_free"),
    ("1800123456", "1800123456", "toll-free", "toll_free"),
    ("+8418001234", "18001234", "toll-free", "toll_free"),
    ("19001234", "19001234", "premium", "premium"),
    ("00841900123456", "1900123456", "premium", "premium"),
    ("02473001234", "02473001234", "landline", "landline"),
    ("+842838123456", "02838123456", "landline", "landline"),
    ("842473001234", "02473001234", "landline", "landline"),
    ("00842473001234", "02473001234", "landline", "landline"),
    ("+8402473001234", "02473001234", "landline", "landline"),
    ("0961234567", "0961234567", "mobile-viettel", "mobile"),
    ("0321234567", "0321234567", "mobile-viettel", "mobile"),
    ("+84912345678", "0912345678", "mobile-vinaphone", "mobile"),
    ("84901234567", "0901234567", "mobile-mobifone", "mobile"),
    ("0921234567", "0921234567", "mobile-vietnamobile", "mobile"),
    ("0991234567", "0991234567", "mobile-gmobile", "mobile"),
    ("0551234567", "0551234567", "mobile-reddi", "mobile"),
    ("0501234567", "0501234567", "mobile", "mobile"),
    ("0012025550100", "0012025550100", "international", "international"),
    ("+12025550100", "0012025550100", "international", "international"),
    ("+8613800138000", "008613800138000", "international", "international"),
]

UNKNOWN = [
    "",
    "0",
    "1",
    "+",
    "+84",
    "091234567",
    "09123456789",
    "0212345678",
    "1800123",
    "19001234567",
    "abc",
    "*99",
    "0412345678",
    "+0912345678",
]


@pytest.mark.parametrize(("dialled", "number", "rule", "destination"), CASES)
def test_seeded_rules_classify(vn_rules, dialled, number, rule, destination):
    result = vn_rules.classification(dialled)
    assert (result.number, result.rule.name, result.destination) == (number, rule, destination)
    assert (result.normalised_by is not None) == (dialled != number)


@pytest.mark.parametrize("dialled", UNKNOWN)
def test_numbers_no_rule_knows(vn_rules, dialled):
    assert vn_rules.classification(dialled).rule is None


def test_mobile_carriers_agree_with_phonenumbers(vn_rules):
    """Where `phonenumbers` names a carrier we know, the dial rule names the same one."""
    known = {"viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile", "reddi"}
    checked = 0
    for prefix in range(30, 100):
        for tail in ("0000000", "5555555", "9999999"):
            number = f"0{prefix}{tail}"
            parsed = phonenumbers.parse(number, "VN")
            if not phonenumbers.is_valid_number(parsed):
                continue
            name = re.sub(r"[^a-z]", "", pn_carrier.name_for_number(parsed, "en").lower())
            if name in known:
                assert vn_rules.classification(number).carrier == name, number
                checked += 1
    assert checked > 100


def test_first_match_in_priority_order_searching_anywhere():
    rules = RuleSet(
        [
            Rule(
                id=1, name="late", stage=RuleStage.CLASSIFY, priority=20, pattern="5", destination="landline"
            ),
            Rule(
                id=2, name="early", stage=RuleStage.CLASSIFY, priority=10, pattern="^12", destination="mobile"
            ),
        ]
    )
    assert rules.classify("125").name == "early"
    assert rules.classify("345").name == "late"  # unanchored: matches anywhere, as PCRE does
    assert rules.classify("") is None


def test_normalising_keeps_only_the_replacement():
    """Kamailio's result is the replacement alone, not the number with the match replaced."""
    rules = RuleSet(
        [
            Rule(
                id=1,
                name="strip",
                stage=RuleStage.NORMALISE,
                priority=10,
                pattern="9([0-9]{2})",
                replacement=r"0\1",
            ),
        ]
    )
    assert rules.normalise("1234956") == ("056", rules.normalise_rules[0])
    assert rules.normalise("1234") == ("1234", None)


def test_disabled_rules_are_ignored(vn_rules):
    from dialplan.models import DialRule

    DialRule.objects.filter(name="premium").update(enabled=False)
    assert RuleSet.from_db().classification("19001234").rule is None
