from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from .choices import Action
from .services import audit_record


@receiver(user_login_failed)
def record_failed_sign_in(sender, credentials, request=None, **kwargs):
    from django.contrib.auth import get_user_model

    username = str(credentials.get("username", ""))[:150]
    user = get_user_model().objects.filter(username=username).select_related("membership").first()
    tenant_id = getattr(getattr(user, "membership", None), "tenant_id", None) if user else None
    audit_record(
        action=Action.LOGIN_FAILED,
        tenant_id=tenant_id,
        object_repr=username,
        changes={"username": [None, username]},
    )
