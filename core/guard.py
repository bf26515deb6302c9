"""The one guard in front of every route that yields SIP access.

DESIGN.md's table "Who may obtain SIP access" is `RULES` below; every route asks `guard_access`
with its kind of access before a secret leaves storage (or before a password someone chose is
stored: knowing it is the same as having revealed it):

- `Access.SECRET` — one extension's secret: a reveal (page or `credentials/`), rotating a
  password and showing it, a share link, a provisioning link, choosing a password (form,
  `PATCH`, CSV). A sign-in within `REVEAL_REAUTH_SECONDS`; `count` secrets against the single
  budget (`REVEAL_RATE_LIMIT` per `REVEAL_RATE_WINDOW`).
- `Access.BULK` — many at once: export with passwords, bulk regeneration that shows them, the
  onboarding sheet, provisioning links for many. A sign-in within `BULK_REAUTH_SECONDS`; one
  operation against the bulk budget (`BULK_RATE_LIMIT` per `BULK_RATE_WINDOW`), any size.
- `Access.TOKEN` — minting an API token: a sign-in within `REVEAL_REAUTH_SECONDS`, no budget.
- `Access.PHONE` — the web phone's short-lived credential for the user's own extension
  (sip.ephemeral, valid at most 12 hours): a signed-in session, any age (the phone signs in
  every time it opens, without the password being typed again), no budget; a token is not
  enough. Audited when issued. It never yields the stored password.

A request authenticated by an API token passes `session=None`: the token is the credential, so
no sign-in time applies, and the budgets are its owner's. Budgets slide and are shared by every
worker (Redis; `check --deploy` refuses production without it) and kept in the database, so a
Redis restart gives nobody a fresh budget (core.ratelimit). When Redis does not answer, the
guard refuses (503, "try again in a minute") rather than admit without counting.
"""

import math
import time
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import ratelimit

SESSION_AUTH_TIME = "auth_time"


class Access(StrEnum):
    SECRET = "secret"
    BULK = "bulk"
    TOKEN = "token"
    PHONE = "phone"


@dataclass(frozen=True)
class Rule:
    reauth_setting: str | None  # the setting of the sign-in's greatest age, or None for any age
    budget: str | None  # the budget's name, or None for no budget
    limit_setting: str | None = None  # (limit, window seconds)


RULES = {
    Access.SECRET: Rule("REVEAL_REAUTH_SECONDS", "secret", "REVEAL_RATE_LIMIT"),
    Access.BULK: Rule("BULK_REAUTH_SECONDS", "bulk", "BULK_RATE_LIMIT"),
    Access.TOKEN: Rule("REVEAL_REAUTH_SECONDS", None),
    Access.PHONE: Rule(None, None),
}


class RevealRefused(Exception):
    """The guard said no; `status_code` and `retry_after` (seconds) say how to answer."""

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


class GuardUnavailable(RevealRefused):
    status_code = 503
    code = "guard_unavailable"


def mark_authenticated(session) -> None:
    """Remember when the user last proved their password (sign-in or re-entry)."""
    session[SESSION_AUTH_TIME] = int(time.time())


def is_recently_authenticated(session, *, within: int | None = None) -> bool:
    auth_time = session.get(SESSION_AUTH_TIME)
    within = settings.REVEAL_REAUTH_SECONDS if within is None else within
    return auth_time is not None and time.time() - auth_time <= within


def reauth_seconds(access: Access) -> int | None:
    setting = RULES[access].reauth_setting
    return None if setting is None else getattr(settings, setting)


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def guard_access(*, user, session=None, access: Access = Access.SECRET, count: int = 1) -> None:
    """Raise a `RevealRefused` unless `user` may obtain this access now; when allowed, spend
    `count` secrets (SECRET) or one operation (BULK) of the user's budget."""
    rule = RULES[access]
    within = reauth_seconds(access)
    if access == Access.PHONE and session is None:
        raise RevealRefused(_("The web phone signs in only from the dashboard, in a signed-in browser."))
    if within is not None and session is not None and not is_recently_authenticated(session, within=within):
        raise ReauthenticationRequired(
            _(
                "For your security, enter your password again first "
                "(this needs a sign-in within the last %(minutes)d minutes)."
            )
            % {"minutes": _minutes(within)}
        )
    if rule.budget is None or rule.limit_setting is None:
        return
    limit, window = getattr(settings, rule.limit_setting)
    weight = count if access == Access.SECRET else 1
    if weight > limit:
        raise RevealRateLimited(
            ngettext(
                "This would give out %(count)d passwords at once; at most %(limit)d may be obtained "
                "per %(minutes)d minutes. Do it in smaller parts, or let the passwords be generated.",
                "This would give out %(count)d passwords at once; at most %(limit)d may be obtained "
                "per %(minutes)d minutes. Do it in smaller parts, or let the passwords be generated.",
                weight,
            )
            % {"count": weight, "limit": limit, "minutes": _minutes(window)},
            retry_after=window,
        )
    try:
        wait = ratelimit.take(
            f"{rule.budget}:{user.pk}", limit=limit, window=window, weight=weight, durable=True
        )
    except Exception as exc:  # noqa: BLE001 - any cache failure: refuse, never admit uncounted
        raise GuardUnavailable(
            _("Login info cannot be given out right now; try again in a minute."), retry_after=60
        ) from exc
    if wait:
        retry_after = math.ceil(wait)
        message = (
            _("Too many login-info requests. Try again in %(minutes)d minutes.")
            if access == Access.SECRET
            else _("Too many bulk operations with passwords. Try again in %(minutes)d minutes.")
        )
        raise RevealRateLimited(message % {"minutes": _minutes(retry_after)}, retry_after=retry_after)


def check_reveal_allowed(*, user, session=None, count: int = 1) -> None:
    """One extension's secret (the SECRET row of the table)."""
    guard_access(user=user, session=session, access=Access.SECRET, count=count)
