from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import COUNTED_ACTIONS, Action


class AuditEvent(models.Model):
    """One entry of the audit trail (nhật ký): who did what to which object, when, from where,
    with field-level changes. Secrets are redacted before they get here."""

    tenant = models.ForeignKey(
        "tenants.Tenant",
        verbose_name=_("tenant"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Kept even if the user is deleted later, and for events without a user (share links).
    actor_label = models.CharField(_("who"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("source IP"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    # 1 for an event written on its own. Events an outsider can repeat at will (sign-ins refused
    # by the lockout, unknown usernames) are counted into one row per source IP and hour instead.
    # The database default lets raw INSERTs (bulk_insert_values) leave it out.
    count = models.PositiveIntegerField(_("count"), default=1, db_default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="audit_tenant_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            # Finds the row a counted event adds to; only those rows are in it.
            models.Index(
                fields=["action", "ip", "created_at"],
                name="audit_counted",
                condition=models.Q(action__in=COUNTED_ACTIONS),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"
