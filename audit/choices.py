from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Changed")
    DELETE = "delete", _("Deleted")
    REVEAL = "reveal", _("Login info revealed")
    ROTATE_PASSWORD = "rotate_password", _("Password regenerated")
    SHARE_CREATE = "share_create", _("Share link created")
    SHARE_USE = "share_use", _("Share link opened")
    SHARE_REVOKE = "share_revoke", _("Share link revoked")
    PROVISION_CREATE = "provision_create", _("Phone setup link created")
    PROVISION_USE = "provision_use", _("Phone set up by its link")
    IMPORT = "import", _("Imported")
    EXPORT = "export", _("Exported")
    TOKEN_CREATE = "token_create", _("API token created")
    TOKEN_REVOKE = "token_revoke", _("API token revoked")
    # Short-lived credentials for the web phone (never the stored password); the row holds when
    # they expire, never the credentials.
    PHONE_SIGN_IN = "phone_sign_in", _("Web phone signed in")
    LOGIN_FAILED = "login_failed", _("Failed sign-in")
    # Counted, not written one by one (AuditEvent.count): attackers choose how many there are.
    LOGIN_LOCKED_OUT = "login_locked_out", _("Sign-in refused: locked out")
    LOGIN_UNKNOWN_USER = "login_unknown_user", _("Sign-in with an unknown username")
    CALL_LIMITS_LIFT = "call_limits_lift", _("Call limits lifted")
    SIP_UNBLOCK = "sip_unblock", _("SIP lock lifted")


# Written as one row per (action, tenant, object, source IP) and hour whose count goes up.
COUNTED_ACTIONS = (Action.LOGIN_LOCKED_OUT.value, Action.LOGIN_UNKNOWN_USER.value)
