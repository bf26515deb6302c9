from django.db import models
from django.utils.translation import gettext_lazy as _

from extensions.choices import CallPermission


class RuleStage(models.IntegerChoices):
    """The two passes over a dialled number; the value is Kamailio's dialplan id (dpid)."""

    NORMALISE = 1, _("Normalise (rewrite the number)")
    CLASSIFY = 2, _("Classify (destination class)")


class DestinationClass(models.TextChoices):
    """What kind of number a call goes to; each needs a call permission level."""

    INTERNAL = "internal", _("Internal (an extension of the same hotline)")
    EMERGENCY = "emergency", _("Emergency (always allowed)")
    LANDLINE = "landline", _("Landline")
    TOLL_FREE = "toll_free", _("Toll-free 1800")
    MOBILE = "mobile", _("Mobile")
    PREMIUM = "premium", _("Premium-rate 1900")
    INTERNATIONAL = "international", _("International")


# The call permission a destination class needs (quyền gọi); None: always allowed.
REQUIRED_PERMISSION: dict[str, CallPermission | None] = {
    DestinationClass.INTERNAL: CallPermission.INTERNAL,
    DestinationClass.EMERGENCY: None,
    DestinationClass.LANDLINE: CallPermission.LANDLINE,
    DestinationClass.TOLL_FREE: CallPermission.LANDLINE,
    DestinationClass.MOBILE: CallPermission.MOBILE,
    DestinationClass.PREMIUM: CallPermission.MOBILE,
    DestinationClass.INTERNATIONAL: CallPermission.INTERNATIONAL,
}


class Outcome(models.TextChoices):
    """Where the SIP server sends a call, or why it does not."""

    EXTENSION = "extension", _("To the extension's phones")
    GATEWAY = "gateway", _("To the carrier")
    MEDIA_SERVER = "media_server", _("To the listen service (supervision)")
    DENIED = "denied", _("Refused (403)")
    NOT_FOUND = "not_found", _("Not found (404)")
    NOT_AVAILABLE = "not_available", _("Not available (501)")


class SuperviseMode(models.TextChoices):
    """Supervisor feature codes: *33 listen, *34 whisper, *35 barge, then the extension."""

    LISTEN = "listen", _("Listen")
    WHISPER = "whisper", _("Whisper")
    BARGE = "barge", _("Barge")


FEATURE_CODES = {"33": SuperviseMode.LISTEN, "34": SuperviseMode.WHISPER, "35": SuperviseMode.BARGE}
