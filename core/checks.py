"""Production refuses to start without its settings (PRODUCTION_SETTINGS in settings).

Only the app servers (pbx_admin/wsgi.py, asgi.py) and `manage.py check --deploy` ask; other
management commands never do, so `migrate` or `create_tenant` run before the rest is set.
"""

import os
from collections.abc import Mapping

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


def missing_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """The production settings not set in the environment; none while DEBUG is on (the demo
    runs on its development defaults)."""
    if settings.DEBUG:
        return []
    environ = os.environ if environ is None else environ
    # "," alone is no host list, nor "  " a URL.
    return [name for name in settings.PRODUCTION_SETTINGS if not environ.get(name, "").strip(" ,")]


def missing_settings_message() -> str:
    missing = missing_settings()
    if not missing:
        return ""
    names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
    lines = [f"  {name}: {settings.PRODUCTION_SETTINGS[name]}" for name in missing]
    return "\n".join(
        [f"{names} must be set when DJANGO_DEBUG is off (see .env.example and docs/deployment.md):", *lines]
    )


def require_production_settings() -> None:
    """Called by the WSGI/ASGI entry points: an app server never starts without its settings
    (it would otherwise answer on SQLite, a per-process cache and the demo's SIP addresses)."""
    message = missing_settings_message()
    if message:
        raise ImproperlyConfigured(message)


@register(Tags.security, deploy=True)
def check_production_settings(app_configs, **kwargs):
    message = missing_settings_message()
    return [Error(message, id="pbx.E001")] if message else []
