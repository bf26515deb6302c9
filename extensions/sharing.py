"""One-time share links for login info: create, open (once), revoke."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record
from core.guard import check_reveal_allowed

from .credentials import LoginInfo, login_info
from .models import Extension, ShareLink


class ShareLinkUnavailable(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


_hash = ShareLink.hash_token


def _audit(action: str, link: ShareLink, actor=None) -> None:
    ext = link.extension
    audit_record(
        action=action,
        obj=ext,
        tenant_id=ext.hotline.tenant_id,
        actor=actor,
        object_repr=f"{ext.number} ({ext.alias})",
        changes={"share_link": [None, link.pk], "expires_at": [None, link.expires_at.isoformat()]},
    )


@sensitive_variables()
@transaction.atomic
def share_link_create(
    *, extension: Extension, user, session=None, hours: int | None = None
) -> tuple[ShareLink, str]:
    """A new link; returns it and its token (shown once; only the hash is stored).

    Creating a link hands the password out, so the reveal guard applies.
    """
    check_reveal_allowed(user=user, session=session)
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        extension=extension,
        token_hash=_hash(token),
        created_by=user,
        expires_at=timezone.now() + timedelta(hours=hours or settings.SHARE_LINK_HOURS),
    )
    _audit(Action.SHARE_CREATE, link, actor=user)
    return link, token


@sensitive_variables()
def share_link_peek(*, token: str) -> ShareLink:
    """The link behind a token, if it can still be opened (does not use it)."""
    link = ShareLink.objects.select_related("extension__hotline").filter(token_hash=_hash(token)).first()
    _raise_unless_active(link)
    return link


def _raise_unless_active(link: ShareLink | None) -> None:
    if link is None:
        raise ShareLinkUnavailable(_("This link does not exist. Ask your administrator for a new one."))
    messages = {
        "used": _("This link was already used on %(when)s. Ask your administrator for a new one."),
        "expired": _("This link expired on %(when)s. Ask your administrator for a new one."),
        "revoked": _("This link was revoked by your administrator."),
    }
    state = link.state
    if state != "active":
        when = date_format(timezone.localtime(link.used_at or link.expires_at), "DATETIME_FORMAT")
        raise ShareLinkUnavailable(messages[state] % {"when": when})


@sensitive_variables()
@transaction.atomic
def share_link_open(*, token: str, ip: str | None = None) -> tuple[ShareLink, LoginInfo]:
    """Use the link: exactly once, even if two requests race (one conditional UPDATE)."""
    now = timezone.now()
    used = ShareLink.objects.filter(
        Q(token_hash=_hash(token)),
        used_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).update(used_at=now, used_ip=ip)
    link = ShareLink.objects.select_related("extension__hotline").filter(token_hash=_hash(token)).first()
    if not used:
        _raise_unless_active(link)
        raise ShareLinkUnavailable(_("This link cannot be used."))  # raced with a revoke/expiry
    assert link is not None  # used by this very transaction
    _audit(Action.SHARE_USE, link)
    return link, login_info(link.extension, link.extension.get_sip_password())


@transaction.atomic
def share_link_retire(*, token: str) -> None:
    """Cancel the link behind a token that reached the server in a URL (the old
    /share/<token>/ form): the token is now in access logs, where anyone reading them could
    use it. Audited as a revoke without an actor; a used, expired or unknown link is left as
    it is."""
    now = timezone.now()
    retired = ShareLink.objects.filter(
        token_hash=_hash(token), used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).update(revoked_at=now)
    if retired:
        _audit(
            Action.SHARE_REVOKE,
            ShareLink.objects.select_related("extension__hotline").get(token_hash=_hash(token)),
        )


@transaction.atomic
def share_link_revoke(*, link: ShareLink, user) -> None:
    if link.revoked_at is None and link.used_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        _audit(Action.SHARE_REVOKE, link, actor=user)
