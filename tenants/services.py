"""Writes of tenants and accounts: a new tenant with its first admin, a user's API token."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit.choices import Action
from audit.services import audit_record

from .authentication import hash_key
from .choices import Role
from .models import ApiToken, Membership, Tenant
from .selectors import membership_for


@transaction.atomic
def tenant_create(
    *, slug: str, name: str, admin_username: str, admin_password: str, admin_email: str = ""
) -> Membership:
    """A tenant (khách hàng), its first admin user and their membership, in one transaction.

    Every rule runs before anything is written, and all their errors come together in one
    ValidationError keyed `slug`, `name`, `username`, `email` or `password`: the tenant's
    fields, the user's (a username already taken is refused; an existing user is made a
    tenant's admin in Django admin instead) and the password policy (`validate_password`).
    """
    tenant = Tenant(slug=slug, name=name)
    user = get_user_model()(username=admin_username, email=admin_email)
    errors: dict[str, list[str]] = {}
    for obj, exclude in ((tenant, None), (user, ["password"])):
        try:
            obj.full_clean(exclude=exclude)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        validate_password(admin_password, user)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    tenant.save()
    user.set_password(admin_password)
    user.save()
    membership = Membership(user=user, tenant=tenant, role=Role.ADMIN)
    membership.full_clean()
    membership.save()
    # Who and which tenant; the password is not part of the record in any form.
    audit_record(
        action=Action.CREATE,
        obj=tenant,
        tenant_id=tenant.pk,
        changes={"name": [None, name], "slug": [None, slug], "admin": [None, admin_username]},
    )
    return membership


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
