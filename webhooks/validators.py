from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from .choices import Event
from .outbound import TargetRefused, check_url

SECRET_MIN_LENGTH = 16


def validate_webhook_url(value: str) -> None:
    """An http(s) URL the SSRF guard lets the worker call (webhooks.outbound)."""
    URLValidator(schemes=["http", "https"])(value)
    try:
        check_url(value)
    except TargetRefused:
        raise ValidationError(
            _("This address is not allowed: use a public http:// or https:// address."), code="refused"
        ) from None


def validate_events(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(_("Choose at least one event."), code="required")
    unknown = sorted({str(v) for v in value} - set(Event.values))
    if unknown:
        raise ValidationError(
            _("Unknown events: %(events)s.") % {"events": ", ".join(unknown)}, code="invalid"
        )


def validate_webhook_secret(value: str) -> None:
    if len(value) < SECRET_MIN_LENGTH:
        raise ValidationError(
            _("The secret must have at least %(n)d characters.") % {"n": SECRET_MIN_LENGTH},
            code="too_short",
        )
