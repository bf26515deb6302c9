from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from .choices import Action
from .services import audit_count, audit_record


def refused_by_lockout(request) -> bool:
    """django-axes refused the sign-in before checking the password. Its backend sets
    `axes_locked_out` on the request before the signal (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT
    is off); its handler sets it too on the failure that reaches the limit, but only then computes
    `axes_failures_since_start`, so the two tell a refusal from that last real failure whichever
    receiver runs first."""
    return bool(getattr(request, "axes_locked_out", False)) and (
        getattr(request, "axes_failures_since_start", None) is None
    )


@receiver(user_login_failed)
def record_failed_sign_in(sender, credentials, request=None, **kwargs):
    """A wrong password for a known user is one row each (the lockout keeps them few per source).
    A refused sign-in and an unknown username are counted: anyone can send as many as they like.
    The typed text of an unknown username is not kept: it is often a password typed in the
    wrong box."""
    from django.contrib.auth import get_user_model

    username = str(credentials.get("username", ""))[:150]
    user = get_user_model().objects.filter(username=username).select_related("membership").first()
    if user is None:
        audit_count(action=Action.LOGIN_UNKNOWN_USER)
        return
    tenant_id = getattr(getattr(user, "membership", None), "tenant_id", None)
    if refused_by_lockout(request):
        audit_count(action=Action.LOGIN_LOCKED_OUT, tenant_id=tenant_id, object_repr=username)
        return
    audit_record(
        action=Action.LOGIN_FAILED,
        tenant_id=tenant_id,
        object_repr=username,
        changes={"username": [None, username]},
    )
