"""Writes that concern a user's account: their API token."""

from django.db import transaction
from rest_framework.authtoken.models import Token

from audit.choices import Action
from audit.services import audit_record

from .selectors import membership_for


def _audit(action: Action, user) -> None:
    # Never the key itself: the record only says whose token was created or revoked.
    membership = membership_for(user)
    audit_record(action=action, obj=user, tenant_id=membership.tenant_id if membership else None,
                 object_repr=f"API token of {user.get_username()}")


@transaction.atomic
def api_token_create(*, user) -> Token:
    """A new API token for the user; an old one stops working at once (one token per user)."""
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    _audit(Action.TOKEN_CREATE, user)
    return token


@transaction.atomic
def api_token_revoke(*, user) -> bool:
    """Delete the user's API token; False when there was none."""
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        _audit(Action.TOKEN_REVOKE, user)
    return deleted > 0
