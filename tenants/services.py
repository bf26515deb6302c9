"""Writes that concern a user's account: their API token."""

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit.choices import Action
from audit.services import audit_record

from .authentication import hash_key
from .models import ApiToken
from .selectors import membership_for


def _audit(action: Action, user) -> None:
    # Never the key itself: the record only says whose token was created or revoked.
    membership = membership_for(user)
    audit_record(
        action=action,
        obj=user,
        tenant_id=membership.tenant_id if membership else None,
        object_repr=f"API token of {user.get_username()}",
    )


@transaction.atomic
def api_token_create(*, user, replace: bool = False) -> ApiToken:
    """A new API token for the user (one token per user). With `replace`, an old one stops
    working at once; without it, a user who has one is refused rather than silently losing it.

    The returned object carries the key in `.key` for this once; only its hash is stored.
    """
    existing = ApiToken.objects.select_for_update().filter(user=user)
    if existing.exists() and not replace:
        raise ValidationError(
            _("You already have an API token. Replace it (the old one stops working) or revoke it first."),
            code="token_exists",
        )
    existing.delete()
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(user=user, key_hash=hash_key(key), prefix=key[:8])
    token.key = key
    _audit(Action.TOKEN_CREATE, user)
    return token


@transaction.atomic
def api_token_revoke(*, user) -> bool:
    """Delete the user's API token; False when there was none."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    if deleted:
        _audit(Action.TOKEN_REVOKE, user)
    return deleted > 0
