"""Production refuses to start without its secrets (see MISSING_SECRETS in settings)."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


def missing_secrets_message() -> str:
    missing = getattr(settings, "MISSING_SECRETS", [])
    if not missing:
        return ""
    return f"{' and '.join(missing)} must be set when DJANGO_DEBUG is off (see .env.example)."


def require_secrets() -> None:
    """Called by the WSGI/ASGI entry points: an app server never starts without its secrets."""
    message = missing_secrets_message()
    if message:
        raise ImproperlyConfigured(message)


@register(Tags.security, deploy=True)
def check_secrets(app_configs, **kwargs):
    message = missing_secrets_message()
    return [Error(message, id="pbx.E001")] if message else []
