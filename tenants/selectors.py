"""Who may see what: every tenant-scoped query starts here."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ObjectDoesNotExist

from .choices import Role
from .models import ApiToken, Membership


def membership_for(user: AbstractBaseUser | AnonymousUser) -> Membership | None:
    """The user's membership, loaded once per request (cached on the user object)."""
    if not user.is_authenticated:
        return None
    if not hasattr(user, "_membership_cache"):
        user._membership_cache = Membership.objects.select_related("tenant").filter(user=user).first()
    return user._membership_cache


def remember_membership(user: AbstractBaseUser) -> None:
    """Cache for membership_for the membership loaded with the user (`select_related(
    "membership")` or `"membership__tenant"`), so it costs no query of its own."""
    try:
        user._membership_cache = user.membership
    except ObjectDoesNotExist:
        user._membership_cache = None


def admin_tenant_id(user) -> int | None:
    """The tenant the user administers, or None (agents, strangers, anonymous)."""
    membership = membership_for(user)
    if membership is None or membership.role != Role.ADMIN:
        return None
    return membership.tenant_id


def api_token_for(*, user) -> ApiToken | None:
    """The user's API token, if they have one (its key is shown only when it is created)."""
    return ApiToken.objects.filter(user=user).first()
