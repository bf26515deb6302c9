"""Format rules for one field each; reused by models, forms, the API, commands and imports."""

import re
import unicodedata
from functools import cache

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

NUMBER_RE = re.compile(r"^[0-9]{2,6}$")
ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
ALIAS_MAX_LENGTH = 32
DESCRIPTION_MAX_LENGTH = 1000
SIP_PASSWORD_MIN_LENGTH = 10


@cache
def _common_passwords() -> CommonPasswordValidator:
    # Reads and unzips Django's list of 20,000 passwords: once per process, not per check
    # (an import checks thousands of passwords).
    return CommonPasswordValidator()


def validate_extension_number(value: str) -> None:
    if not NUMBER_RE.fullmatch(value or ""):
        raise ValidationError(
            _("An extension number is 2 to 6 digits, like 100 or 101."), code="invalid_number"
        )


def suggest_alias(value: str) -> str:
    """An alias the rule accepts, made from what someone typed: lower case, without diacritics,
    words joined by "." ("Nguyễn Văn Hà" → "nguyen.van.ha"); "" when nothing usable is left."""
    text = unicodedata.normalize("NFKD", value.replace("đ", "d").replace("Đ", "D"))
    text = text.encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\s+", ".", text.strip())
    text = re.sub(r"[^a-z0-9._-]", "", text)
    text = re.sub(r"([._-])[._-]+", r"\1", text)
    text = text.lstrip("._-")
    if len(text) > ALIAS_MAX_LENGTH:  # whole words when there are several
        cut = text[: ALIAS_MAX_LENGTH + 1]
        last = max(cut.rfind(sep) for sep in "._-")
        text = cut[:last] if last > 0 else text[:ALIAS_MAX_LENGTH]
    return text.rstrip("._-")


def alias_problems(value: str) -> list[str]:
    """Everything wrong with an alias, each said in a few words (empty: it is fine)."""
    problems = []
    if any(ch.isspace() for ch in value):
        problems.append(_("spaces"))
    if not value.isascii():
        problems.append(_("Vietnamese diacritics or other non-ASCII characters"))
    others = sorted(
        {ch for ch in value if ch.isascii() and not ch.isspace() and not ch.isalnum() and ch not in "._-"}
    )
    if others:
        problems.append(_("the characters %(characters)s") % {"characters": " ".join(others)})
    if value and value[0] in "._-":
        problems.append(_("a first character that is not a letter or a digit"))
    if len(value) > ALIAS_MAX_LENGTH:
        problems.append(
            _("%(count)d characters, more than %(max)d") % {"count": len(value), "max": ALIAS_MAX_LENGTH}
        )
    return problems


def validate_alias(value: str) -> None:
    """ASCII letters, digits, '.', '_' and '-', starting with a letter or digit, ≤ 32 long. One
    message says everything that is wrong and suggests an alias that would do."""
    problems = alias_problems(value)
    if not problems and ALIAS_RE.fullmatch(value):
        return
    suggestion = suggest_alias(value)
    params = {"problems": "; ".join(str(p) for p in problems), "max": ALIAS_MAX_LENGTH}
    rule = _(
        "An alias uses only letters without diacritics, digits, '.', '_' and '-', starts with a "
        "letter or a digit and is at most %(max)d characters long."
    )
    message = _("The alias has %(problems)s.") + " " + rule if problems else rule
    if suggestion and suggestion != value:
        message += " " + _("For example: %(suggestion)s")
        params["suggestion"] = suggestion
    raise ValidationError(message % params, code="alias_invalid")


def clean_sip_password(password: str) -> str:
    """A typed or pasted password without the spaces around it, as every other field is trimmed
    (a space copied along with it would otherwise become part of it, or fail the policy)."""
    return (password or "").strip()


def validate_sip_password(password: str, *, number: str = "", alias: str = "") -> None:
    """The policy for a SIP password an admin types (generated ones always pass)."""
    errors = []
    if len(password) < SIP_PASSWORD_MIN_LENGTH:
        errors.append(
            _("The password must be at least %(min)d characters long.") % {"min": SIP_PASSWORD_MIN_LENGTH}
        )
    if not password.isascii() or any(ch.isspace() for ch in password):
        errors.append(_("The password may only use ASCII characters without spaces."))
    if not (
        re.search(r"[a-z]", password) and re.search(r"[A-Z]", password) and re.search(r"[0-9]", password)
    ):
        errors.append(_("The password needs an upper-case letter, a lower-case letter and a digit."))
    lowered = password.lower()
    if number and number in lowered:
        errors.append(_("The password must not contain the extension number."))
    if alias and alias.lower() in lowered:
        errors.append(_("The password must not contain the alias."))
    try:
        _common_passwords().validate(password)
    except ValidationError:
        errors.append(_("This password is too common."))
    if errors:
        raise ValidationError(errors, code="weak_password")


MAX_ALLOWED_NETWORKS = 20


def validate_allowed_networks(value) -> None:
    """Where an extension may register from: a list of IPv4/IPv6 networks in CIDR form
    (192.0.2.0/24, 2001:db8::/32; a bare address is one host); empty = anywhere."""
    import ipaddress

    if not isinstance(value, list):
        raise ValidationError(_("A list of networks (CIDR, e.g. 192.0.2.0/24) is expected."), code="invalid")
    if len(value) > MAX_ALLOWED_NETWORKS:
        raise ValidationError(
            _("At most %(count)d networks.") % {"count": MAX_ALLOWED_NETWORKS}, code="too_many"
        )
    errors = []
    for item in value:
        try:
            # A zone (fe80::1%eth0) is no network Kamailio's ipops reads, and could hide a comma.
            if not isinstance(item, str) or "%" in item:
                raise ValueError(item)
            ipaddress.ip_network(item, strict=True)
        except ValueError:
            errors.append(
                _("“%(value)s” is not a network in CIDR form (e.g. 192.0.2.0/24), or has host bits set.")
                % {"value": item}
            )
    if errors:
        raise ValidationError(errors, code="invalid_network")


def canonical_networks(value: list[str]) -> list[str]:
    """Valid networks (validate_allowed_networks) as stored and as Kamailio's ipops reads them:
    address/prefix length in the address's shortest form (192.0.2.0/255.255.255.0 → 192.0.2.0/24,
    a bare address → /32 or /128, 2001:DB8:0::/32 → 2001:db8::/32), each once, in order."""
    import ipaddress

    return list(dict.fromkeys(str(ipaddress.ip_network(item, strict=True)) for item in value))
