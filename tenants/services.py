"""Writes that concern a user's account: their API token."""

from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def api_token_create(*, user) -> Token:
    """A new API token for the user; an old one stops working at once (one token per user)."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def api_token_revoke(*, user) -> bool:
    """Delete the user's API token; False when there was none."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
