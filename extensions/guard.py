"""The guard in front of every path that shows a SIP password (page, API, share, export).

A password leaves storage only for a user who signed in recently (browser sessions) and who is
under the per-user rate limit; the limit is counted in Django's cache, which is Redis in
production so every app server shares the counts.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

SESSION_AUTH_TIME = "auth_time"


class RevealRefused(Exception):
    status_code = 403
    code = "reveal_refused"

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ReauthenticationRequired(RevealRefused):
    code = "reauthentication_required"


class RevealRateLimited(RevealRefused):
    status_code = 429
    code = "rate_limited"


def mark_authenticated(session) -> None:
    """Remember when the user last proved their password (sign-in or re-entry)."""
    session[SESSION_AUTH_TIME] = int(time.time())


def is_recently_authenticated(session) -> bool:
    auth_time = session.get(SESSION_AUTH_TIME)
    return auth_time is not None and time.time() - auth_time <= settings.REVEAL_REAUTH_SECONDS


def check_reveal_allowed(*, user, session=None) -> None:
    """Raise unless `user` may see a password now. `session` is None for token-authenticated
    API calls (a token is itself a fresh credential), else the browser session."""
    if session is not None and not is_recently_authenticated(session):
        raise ReauthenticationRequired(
            _(
                "For your security, enter your password again to see login info "
                "(your last sign-in was more than %(minutes)d minutes ago)."
            )
            % {"minutes": settings.REVEAL_REAUTH_SECONDS // 60}
        )
    limit, window = settings.REVEAL_RATE_LIMIT
    key = f"reveal-rate:{user.pk}:{int(time.time()) // window}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    if count > limit:
        retry_after = window - int(time.time()) % window
        raise RevealRateLimited(
            _("Too many login-info requests. Try again in %(seconds)d seconds.") % {"seconds": retry_after},
            retry_after=retry_after,
        )
