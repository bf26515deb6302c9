"""Patterns keep to what Python's re and Kamailio's PCRE read the same way."""

import pytest
from django.core.exceptions import ValidationError

from dialplan.validators import replacement_groups, validate_rule_pattern, validate_rule_replacement

ACCEPTED = [
    r"^11[345]$",
    r"^[0-9]{2,6}$",
    r"^0(3[1-9]|86|9[6-8])[0-9]{7}$",
    r"^\+84(1[89]00[0-9]{4}(?:[0-9]{2})?)$",
    r"^00[1-9]\d{5,14}$",
    r"^\*3[345]\d+?$",
    r"^[^0]\d*$",
    r"^(?:1800|1900)\d{4}$",
    r"^0[\d]{9}$",
    r"^a.b\.c\#\-$",
    r"^0{2,}$",
]

REFUSED = [
    "",
    r"^(?=0)\d+$",  # look-ahead
    r"^(?P<n>\d+)$",  # named group
    r"(?i)^abc$",  # inline flag
    r"^\bfoo$",  # \b
    r"^\d+\Z",  # \Z means different things
    r"^[[:digit:]]+$",  # POSIX class
    r"^\d++$",  # possessive
    r"^\d{,3}$",  # {,n}
    r"^\d{2}{3}$",
    r"^*1$",
    r"^0]$",
    r"^0}$",
    r"^0{x}$",
    r"^0(1$",  # unbalanced
    r"^0)1$",
    r"^[]$",
    r"^[9-0]$",  # Python refuses the range
    r"^0 1$",
    "^0١$",  # non-ASCII digit
    r"^\x30$",
    r"^0$" + "(1)" * 10,  # ten groups
    r"^0{256}$",
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_common_subset_is_accepted(pattern):
    validate_rule_pattern(pattern)


@pytest.mark.parametrize("pattern", REFUSED)
def test_everything_else_is_refused_with_a_message(pattern):
    with pytest.raises(ValidationError) as error:
        validate_rule_pattern(pattern)
    assert error.value.messages[0]


@pytest.mark.parametrize("replacement", [r"0\1", r"\1", r"00\1\2", "113", "+84", ""])
def test_replacements_accepted(replacement):
    validate_rule_replacement(replacement)


@pytest.mark.parametrize("replacement", [r"\0", r"\g<1>", "$var(x)", "0 1", r"0\\1", "abc", r"\10x"])
def test_replacements_refused(replacement):
    with pytest.raises(ValidationError):
        validate_rule_replacement(replacement)


def test_replacement_groups():
    assert replacement_groups(r"0\1") == 1
    assert replacement_groups(r"\2\1") == 2
    assert replacement_groups("0912") == 0
