"""The web phone's short-lived SIP credentials, which Kamailio checks with `auth_ephemeral`.

The dashboard and Kamailio share one secret (`SIP_EPHEMERAL_SECRET`; derived from
`DJANGO_SECRET_KEY` when unset). A credential is

    username = "<expiry, unix seconds>:<extension number>@<hotline SIP domain>"
    password = base64(HMAC-SHA1(secret, username))

so Kamailio needs no table of them: it recomputes the password from the username, refuses an
expired one, and (deploy/kamailio/kamailio.cfg, route[EPHEMERAL]) refuses one used for another
extension or hotline, or for an extension that is no longer enabled. The stored SIP password is
never involved, so the browser never sees it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.crypto import salted_hmac

# auth_ephemeral's default algorithm (sha_algorithm 0), which the cfg sets explicitly.
_DIGEST = hashlib.sha1
# The longest a credential may live (DESIGN.md's guard table: "valid ≤ 12 h").
MAX_LIFETIME_SECONDS = 12 * 3600
# What Kamailio's configuration can hold in a quoted string.
_SAFE_SECRET = re.compile(r"^[A-Za-z0-9+/=_.:,;!@%^*()\[\]{}~-]{16,}$")


def ephemeral_secret() -> str:
    """The secret shared with Kamailio: SIP_EPHEMERAL_SECRET, or one derived from SECRET_KEY
    (so the demo and the tests need no extra setting). Never shown, logged or stored."""
    configured = getattr(settings, "SIP_EPHEMERAL_SECRET", "")
    if configured:
        if not _SAFE_SECRET.match(configured):
            raise ImproperlyConfigured(
                "SIP_EPHEMERAL_SECRET must be at least 16 characters of letters, digits and "
                "punctuation other than quotes, backslashes and spaces."
            )
        return configured
    return salted_hmac("sip.ephemeral.secret", "web phone", algorithm="sha256").hexdigest()


def lifetime_seconds() -> int:
    """How long a credential is valid: WEB_PHONE_CREDENTIAL_SECONDS, at most 12 hours."""
    seconds = int(getattr(settings, "WEB_PHONE_CREDENTIAL_SECONDS", MAX_LIFETIME_SECONDS))
    if seconds <= 0:
        raise ImproperlyConfigured("WEB_PHONE_CREDENTIAL_SECONDS must be positive.")
    return min(seconds, MAX_LIFETIME_SECONDS)


@dataclass(frozen=True)
class EphemeralCredentials:
    username: str
    password: str
    expires_at: dt.datetime


def ephemeral_password(username: str, *, secret: str | None = None) -> str:
    key = (secret if secret is not None else ephemeral_secret()).encode()
    return base64.b64encode(hmac.new(key, username.encode(), _DIGEST).digest()).decode()


def ephemeral_credentials(
    *, number: str, domain: str, now: dt.datetime | None = None, lifetime: int | None = None
) -> EphemeralCredentials:
    """Credentials for extension `number` of the hotline whose SIP domain is `domain`, valid
    for `lifetime` seconds (default: lifetime_seconds()) from `now`."""
    seconds = lifetime_seconds() if lifetime is None else lifetime
    now = now or timezone.now()
    expires = int(now.timestamp()) + seconds
    username = f"{expires}:{number}@{domain}"
    return EphemeralCredentials(
        username=username,
        password=ephemeral_password(username),
        expires_at=dt.datetime.fromtimestamp(expires, tz=dt.UTC),
    )
