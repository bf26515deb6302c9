import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from core import crypto
from core.models import ConstraintErrorsOnFieldsMixin

from .choices import CallPermission, ImportStatus
from .passwords import digest_ha1, digest_ha1b
from .validators import (
    ALIAS_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    validate_alias,
    validate_allowed_networks,
    validate_extension_number,
)


class Extension(ConstraintErrorsOnFieldsMixin, models.Model):
    """An extension (máy lẻ): one staff member's line on a hotline.

    It signs in to the SIP server as `number@hotline.sip_domain`; its password is stored
    encrypted (so an admin can reveal it) and as digest hashes (so the SIP server can check it),
    never in plaintext. Call permission, supervisor and caller-ID pool are enforced by the SIP
    server from these same rows.
    """

    hotline = models.ForeignKey(
        "hotlines.Hotline",
        verbose_name=_("hotline"),
        on_delete=models.CASCADE,
        related_name="extensions",
    )
    number = models.CharField(
        _("extension number"),
        max_length=6,
        validators=[validate_extension_number],
        help_text=_("2 to 6 digits, unique in the hotline, e.g. 101."),
    )
    alias = models.CharField(
        _("alias"),
        max_length=ALIAS_MAX_LENGTH,
        validators=[validate_alias],
        help_text=_("ASCII letters, digits, '.', '_' or '-', e.g. sale01."),
    )
    call_permission = models.PositiveSmallIntegerField(
        _("call permission"),
        choices=CallPermission.choices,
        default=CallPermission.MOBILE,
    )
    supervisor = models.ForeignKey(
        "self",
        verbose_name=_("supervisor extension"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="supervised",
    )
    outbound_hotlines = models.ManyToManyField(
        "hotlines.Hotline",
        verbose_name=_("caller-ID hotlines"),
        blank=True,
        related_name="outbound_extensions",
    )
    outbound_groups = models.ManyToManyField(
        "hotlines.NumberGroup",
        verbose_name=_("caller-ID number groups"),
        blank=True,
        related_name="extensions",
    )
    # A TextField's max_length is not checked by full_clean(); the validator makes it a rule of
    # the model, so every entry point (form, API, range, bulk, CSV) refuses the same text.
    description = models.TextField(
        _("description"),
        blank=True,
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[MaxLengthValidator(DESCRIPTION_MAX_LENGTH)],
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    # Controls at the SIP server (null = its hotline's schedule / no limit).
    outbound_schedule = models.ForeignKey(
        "hotlines.Schedule",
        verbose_name=_("outbound schedule"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="extensions",
        help_text=_(
            "When it may call out through the carrier; empty: its hotline's schedule (none: always)."
        ),
    )
    allowed_networks = models.JSONField(
        _("allowed networks"),
        default=list,
        blank=True,
        validators=[validate_allowed_networks],
        help_text=_("Networks it may register from, in CIDR form (e.g. 203.0.113.0/24); empty: anywhere."),
    )
    max_contacts = models.PositiveSmallIntegerField(
        _("maximum devices"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("How many devices may be registered at once; empty: no limit."),
    )
    max_calls_per_minute = models.PositiveIntegerField(
        _("calls out per minute"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text=_("Calls out through the carrier in any 60 seconds; empty: no limit."),
    )
    max_calls_per_day = models.PositiveIntegerField(
        _("calls out per day"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100000)],
        help_text=_("Calls out through the carrier per day (Vietnam's time); empty: no limit."),
    )
    max_call_seconds = models.PositiveIntegerField(
        _("maximum call length (seconds)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(43200)],
        help_text=_("An answered call out through the carrier is ended after this; empty: no limit."),
    )
    password_encrypted = models.TextField(editable=False)
    ha1 = models.CharField(max_length=32, editable=False)
    ha1b = models.CharField(max_length=32, editable=False)
    # Bumped on every save: an edit made from a stale page is refused instead of overwriting.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        # Numeric order (99 before 100) without a second column: shorter numbers first.
        ordering = ["hotline", Length("number"), "number"]
        verbose_name = _("extension")
        verbose_name_plural = _("extensions")
        constraints = [
            models.UniqueConstraint(
                fields=["hotline", "number"],
                name="extension_unique_number_per_hotline",
                violation_error_message=_("This extension number already exists on the hotline."),
            ),
            models.UniqueConstraint(
                fields=["hotline", "alias"],
                name="extension_unique_alias_per_hotline",
                violation_error_message=_("This alias is already used on the hotline."),
            ),
            models.CheckConstraint(
                condition=models.Q(call_permission__gte=1, call_permission__lte=4),
                name="extension_call_permission_range",
                violation_error_message=_("Unknown call permission."),
            ),
        ]
        indexes = [
            models.Index("hotline", Length("number"), "number", name="extension_number_order"),
            # The search's "number starts with" (LIKE 'x%'), next to the trigram index of the
            # alias (migration 0005): PostgreSQL then answers the search's OR from both
            # indexes. Pattern ops because the database collation is not "C"; SQLite ignores it.
            models.Index(
                fields=["number"], name="extension_number_prefix", opclasses=["varchar_pattern_ops"]
            ),
            # The list's filters: counting a hotline's extensions of one call permission (or
            # enabled state) reads this index only, not every row of the hotline.
            models.Index(fields=["hotline", "call_permission", "enabled"], name="extension_list_filters"),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.alias})"

    @sensitive_variables()
    def set_sip_password(self, password: str) -> None:
        """Set the password: encrypted for reveal, ha1/ha1b for the SIP server, all at once."""
        realm = self.hotline.sip_domain
        self.password_encrypted = crypto.encrypt(password)
        self.ha1 = digest_ha1(self.number, realm, password)
        self.ha1b = digest_ha1b(self.number, realm, password)

    @sensitive_variables()
    def get_sip_password(self) -> str:
        return crypto.decrypt(self.password_encrypted)

    def clean(self) -> None:
        errors: dict[str, str | Promise] = {}
        if self.supervisor_id is not None:
            if self.pk is not None and self.supervisor_id == self.pk:
                errors["supervisor"] = _("An extension cannot supervise itself.")
            elif self.supervisor.hotline_id != self.hotline_id:
                errors["supervisor"] = _("The supervisor must be an extension of the same hotline.")
            elif self.pk is not None and (cycle := self._supervision_cycle()):
                errors["supervisor"] = _("This would make a supervision cycle (%(chain)s).") % {
                    "chain": cycle
                }
        if errors:
            raise ValidationError(errors)

    def _supervision_cycle(self) -> str:
        """The chain back to this extension if the chosen supervisor leads to it, else ""."""
        chain = [self.number]
        seen = {self.pk}
        current = self.supervisor
        while current is not None:
            chain.append(current.number)
            if current.pk in seen:
                return " → ".join(chain)
            seen.add(current.pk)
            current = current.supervisor
        return ""


class OneTimeLink(models.Model):
    """What the one-time links (share links, phone-setup links) have in common: only a hash
    of the token is stored; a link expires, is used once (when and from where is kept) and can
    be revoked."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_ip = models.GenericIPAddressField(_("used from"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class ShareLink(OneTimeLink):
    """A one-time link ("gửi thông tin đăng nhập") that shows an extension's login info once,
    without signing in. Only a hash of its token is stored; it expires and can be revoked."""

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="share_links")

    class Meta(OneTimeLink.Meta):
        verbose_name = _("share link")
        verbose_name_plural = _("share links")

    def __str__(self) -> str:
        return f"{self.extension} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def state(self) -> str:
        from django.utils import timezone

        if self.revoked_at:
            return "revoked"
        if self.used_at:
            return "used"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"


class ProvisioningLink(OneTimeLink):
    """A one-time phone-setup link ("cài đặt điện thoại bằng mã QR"): Linphone fetches the
    extension's configuration from it once (remote provisioning), without anyone typing or
    seeing the SIP password; the configuration carries the digest `ha1`, not the password.

    It expires, is used up by its first softphone fetch, and is refused once the password
    changes (`ha1_check` no longer matches) or the extension is disabled (`revoked_at`, for
    good, even if it is enabled again); deleting the extension deletes it."""

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="provisioning_links")
    # A keyed hash of the extension's ha1 when the link was made (never the ha1 itself): a new
    # password, by whichever entry point, makes every older link unusable.
    ha1_check = models.CharField(max_length=64, editable=False)

    class Meta(OneTimeLink.Meta):
        verbose_name = _("phone setup link")
        verbose_name_plural = _("phone setup links")

    def __str__(self) -> str:
        return f"{self.extension} ({self.created_at:%Y-%m-%d %H:%M})"


class ImportJob(models.Model):
    """A CSV import of a hotline's extensions (nhập máy lẻ từ tệp CSV): the uploaded file, the
    dry-run preview of every row and, once applied, what it changed.

    The file may hold SIP passwords, so it is kept encrypted (like stored passwords) and only
    until it is applied; the preview never contains a password.
    """

    tenant = models.ForeignKey(
        "tenants.Tenant",
        verbose_name=_("tenant"),
        on_delete=models.CASCADE,
        related_name="import_jobs",
    )
    hotline = models.ForeignKey(
        "hotlines.Hotline",
        verbose_name=_("hotline"),
        on_delete=models.CASCADE,
        related_name="import_jobs",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    csv_encrypted = models.TextField(editable=False, blank=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ImportStatus.choices,
        default=ImportStatus.PREVIEWED,
    )
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("extension import")
        verbose_name_plural = _("extension imports")

    def __str__(self) -> str:
        return f"{self.filename or self.pk} ({self.get_status_display()})"

    def set_csv(self, text: str) -> None:
        self.csv_encrypted = crypto.encrypt(text) if text else ""

    def get_csv(self) -> str:
        return crypto.decrypt(self.csv_encrypted) if self.csv_encrypted else ""
