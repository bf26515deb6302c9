"""Vietnamese phone numbers: parsing, normalising and formatting with `phonenumbers`."""

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from phonenumbers import PhoneNumberType, carrier

from .choices import Carrier, HotlineKind

# phonenumbers' English carrier names → our choices.
_CARRIERS = {
    "viettel": Carrier.VIETTEL,
    "vinaphone": Carrier.VINAPHONE,
    "mobifone": Carrier.MOBIFONE,
    "vietnamobile": Carrier.VIETNAMOBILE,
    "gmobile": Carrier.GMOBILE,
    "g-mobile": Carrier.GMOBILE,
    "itelecom": Carrier.ITEL,
    "itel": Carrier.ITEL,
    "reddi": Carrier.REDDI,
}


@dataclass(frozen=True)
class ParsedNumber:
    national: str  # digits as dialled inside Vietnam: 19001234, 02473001234, 0912345678
    display: str  # the Vietnamese way: "1900 1234", "024 7300 1234", "0912 345 678"
    kind: str
    carrier: str  # "" when the number itself does not tell


def parse_vn_number(raw: str) -> ParsedNumber:
    """Parse a Vietnamese hotline number (1900…, 1800…, 02x…, 0[35789]…, +84…)."""
    text = (raw or "").strip()
    try:
        number = phonenumbers.parse(text, "VN")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("“%(value)s” is not a phone number."), params={"value": text}) from exc
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("“%(value)s” is not a valid Vietnamese number (1900…, 1800…, 02x… or a mobile)."),
            params={"value": text},
        )
    kinds = {
        PhoneNumberType.PREMIUM_RATE: HotlineKind.PREMIUM,
        PhoneNumberType.TOLL_FREE: HotlineKind.TOLL_FREE,
        PhoneNumberType.FIXED_LINE: HotlineKind.LANDLINE,
        PhoneNumberType.MOBILE: HotlineKind.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE: HotlineKind.LANDLINE,
    }
    kind = kinds.get(phonenumbers.number_type(number))
    if kind is None:
        raise ValidationError(
            _("“%(value)s” cannot be a hotline: use a 1900, 1800, landline or mobile number."),
            params={"value": text},
        )
    display = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    name = carrier.name_for_number(number, "en").strip().lower().replace(" ", "")
    return ParsedNumber(
        national=display.replace(" ", ""),
        display=display,
        kind=kind,
        carrier=_CARRIERS.get(name, ""),
    )


@lru_cache(maxsize=4096)
def format_vn_number(national: str) -> str:
    """Display form of a stored national number; the raw digits if it no longer parses.
    Cached: list pages and exports show the same few hotlines on every row."""
    try:
        return parse_vn_number(national).display
    except ValidationError:
        return national


CALLER_ID_FORMATS = ("national", "e164")


def caller_id_for_carrier(national: str, fmt: str) -> str:
    """A stored (national) hotline number as the carrier is sent it: unchanged, or in E.164
    (0912345678 → +84912345678; 19001234 → +8419001234). Kamailio's route[CALLER_ID] does the
    same string edit (SIP_GATEWAY_CALLER_ID_FORMAT)."""
    if fmt != "e164" or national.startswith("+"):
        return national
    return "+84" + (national[1:] if national.startswith("0") else national)
