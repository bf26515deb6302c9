from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import Role


class Tenant(models.Model):
    """A customer company (khách hàng) that rents hotlines from the provider.

    Everything a tenant admin sees — hotlines, number groups, extensions — belongs to exactly
    one tenant, and no page or API route shows another tenant's objects.
    """

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Vietnam's personal-data decree expects purpose-limited retention: `purge_call_records`
    # (cron) deletes this tenant's call records older than this.
    call_retention_days = models.PositiveIntegerField(
        _("keep call records (days)"),
        default=365,
        help_text=_("Call records older than this are deleted every night."),
    )

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a tenant: a tenant admin, or an agent tied to one extension (máy lẻ).

    An admin may be linked to an extension too: the one they answer calls on. It gives them the
    web phone ("Điện thoại") on it and changes nothing else (admins see every extension anyway).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.ADMIN)
    extension = models.ForeignKey(
        "extensions.Extension",
        verbose_name=_("extension"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="agent_memberships",
        help_text=_(
            "The person's own extension: the web phone signs in on it, and an agent sees only its login info."
        ),
    )

    class Meta:
        ordering = ["tenant", "user"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.extension_id and self.extension.hotline.tenant_id != self.tenant_id:
            raise ValidationError({"extension": _("The extension belongs to another tenant.")})


class ApiToken(models.Model):
    """A user's API token for `Authorization: Token <key>`. Only a SHA-256 hash of the key is
    stored (like a password), so a database dump or backup cannot be used to call the API."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("starts with"), max_length=8, editable=False)
    created = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)
    # Not a field: the plain key, set only on the token api_token_create returns (never stored).
    key: str

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} ({self.prefix}…)"
