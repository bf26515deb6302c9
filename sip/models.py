"""Read-only models over what Kamailio reads (`sip_subscriber`) and writes (`location`).

Both are unmanaged: the migrations and `sip/schema.py` own their SQL, because Kamailio fixes
their shape (and `sip_subscriber` is kept by triggers on PostgreSQL, a view on SQLite).
"""

import datetime as dt
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from extensions.choices import CallPermission

from .choices import (
    CallDirection,
    CallerIdFormat,
    Disposition,
    ExportStatus,
    GatewayTransport,
    SecurityEventKind,
)
from .schema import SET_ID_STRIDE

UNIX_EPOCH_JULIAN_DAY = 2440587.5


class KamailioDateTimeField(models.DateTimeField):
    """A timestamp as Kamailio writes it: naive UTC on PostgreSQL (Kamailio runs with TZ=UTC),
    a Julian day number (REAL) on SQLite, which is how db_sqlite stores datetimes.

    Values come back aware (UTC) and lookups convert to the stored form, so
    `expires__gt=timezone.now()` works on both databases.
    """

    def get_internal_type(self) -> str:
        # Not "DateTimeField": the SQLite backend would try to parse the Julian day as text.
        return "KamailioDateTimeField"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        if isinstance(value, int | float):
            seconds = (float(value) - UNIX_EPOCH_JULIAN_DAY) * 86400.0
            return dt.datetime.fromtimestamp(round(seconds), tz=dt.UTC)
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if timezone.is_naive(value):
            return value.replace(tzinfo=dt.UTC)
        return value

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
        if timezone.is_naive(value):
            value = value.replace(tzinfo=dt.UTC)
        if connection.vendor == "sqlite":
            return value.timestamp() / 86400.0 + UNIX_EPOCH_JULIAN_DAY
        return value.astimezone(dt.UTC).replace(tzinfo=None)


class SipAccount(models.Model):
    """An extension (máy lẻ) as the SIP server sees it: one row of `sip_subscriber`, present
    only while the extension and its hotline are enabled. Read-only: on PostgreSQL a table the
    database's triggers keep current with every write to extensions and hotlines (sip/schema.py),
    on SQLite a view."""

    extension = models.OneToOneField(
        "extensions.Extension",
        verbose_name=_("extension"),
        primary_key=True,
        db_column="id",
        on_delete=models.DO_NOTHING,
        related_name="sip_account",
    )
    username = models.CharField(_("username"), max_length=64)
    domain = models.CharField(_("SIP domain"), max_length=255)
    ha1 = models.CharField(max_length=64)
    ha1b = models.CharField(max_length=64)
    call_permission = models.PositiveSmallIntegerField(_("call permission"), choices=CallPermission.choices)
    # Comma-separated CIDRs ('' = anywhere) and the device limit (0 = none), as Kamailio loads them.
    allowed_networks = models.CharField(_("allowed networks"), max_length=1024)
    max_contacts = models.IntegerField(_("maximum devices"))

    class Meta:
        managed = False
        db_table = "sip_subscriber"
        ordering = ["domain", "username"]
        verbose_name = _("SIP account")
        verbose_name_plural = _("SIP accounts")

    def __str__(self) -> str:
        return f"{self.username}@{self.domain}"


class Location(models.Model):
    """One registered contact of a softphone (a row of Kamailio's `location` table): the
    extension `username@domain` is reachable at `contact` until `expires`. Written by Kamailio."""

    id = models.AutoField(primary_key=True)
    ruid = models.CharField(max_length=64, unique=True)
    username = models.CharField(_("username"), max_length=64)
    domain = models.CharField(_("SIP domain"), max_length=255, null=True)
    contact = models.CharField(_("contact"), max_length=512)
    received = models.CharField(_("source address"), max_length=128, null=True)
    path = models.CharField(max_length=512, null=True)
    expires = KamailioDateTimeField(_("expires"))
    q = models.FloatField(default=1.0)
    callid = models.CharField(max_length=255)
    cseq = models.IntegerField()
    last_modified = KamailioDateTimeField(_("last modified"))
    flags = models.IntegerField(default=0)
    cflags = models.IntegerField(default=0)
    user_agent = models.CharField(_("user agent"), max_length=255)
    socket = models.CharField(_("socket"), max_length=64, null=True)
    methods = models.IntegerField(null=True)
    instance = models.CharField(max_length=255, null=True)
    reg_id = models.IntegerField(default=0)
    server_id = models.IntegerField(default=0)
    connection_id = models.IntegerField(default=0)
    keepalive = models.IntegerField(default=0)
    partition = models.IntegerField(default=0)

    class Meta:
        managed = False
        db_table = "location"
        ordering = ["username", "domain", "-expires"]
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")

    def __str__(self) -> str:
        return f"{self.username}@{self.domain} → {self.contact}"


class SecurityEvent(models.Model):
    """A lock the SIP server put in place (Kamailio writes these rows itself, with sqlops): a
    source address blocked after too many failed logins, an extension (máy lẻ) locked after too
    many wrong passwords, or a flood from one address. `username`/`domain` name the extension
    (number and hotline SIP domain) the attempts were for (for a flood: empty); `count` is how
    many failures led to it. The dashboard shows a tenant the events on its hotlines' domains."""

    created_at = models.DateTimeField(_("time"), db_index=True)
    kind = models.CharField(_("kind"), max_length=20, choices=SecurityEventKind.choices)
    source_ip = models.GenericIPAddressField(_("source address"))
    username = models.CharField(_("extension number"), max_length=64, blank=True)
    domain = models.CharField(_("SIP domain"), max_length=255, blank=True)
    count = models.PositiveIntegerField(_("failures"), default=0)
    # Set by the dashboard when an admin lifts the lock (sip.protection.sip_lock_release), so
    # that Kamailio, which reloads the locks still running from these rows when it starts
    # (route[RELOAD_LOCKS]), does not bring a lifted one back.
    released_at = models.DateTimeField(_("lifted at"), null=True, blank=True)

    class Meta:
        db_table = "sip_security_event"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["domain", "-created_at"], name="sip_secevent_domain_idx")]
        verbose_name = _("security event")
        verbose_name_plural = _("security events")

    def __str__(self) -> str:
        target = f"{self.username}@{self.domain}" if self.domain else self.source_ip
        return f"{self.get_kind_display()}: {target} ({self.source_ip})"


class WebPhoneCutoff(models.Model):
    """Per extension (máy lẻ): how far the web phone's short-lived credentials issued for it
    reach, and which of them Kamailio refuses (route[EPHEMERAL]): those expiring at or before
    `refused_until`. A sign-out, an unlinked or deactivated user moves `refused_until` up to
    `issued_until`, so every credential issued until then stops working at once, not when it
    expires (up to 12 h later); credentials issued afterwards expire later, so they work
    (sip.webphone). Times are unix seconds, as in the credentials' usernames."""

    extension = models.OneToOneField(
        "extensions.Extension", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    issued_until = models.BigIntegerField(_("latest expiry issued"), default=0)
    refused_until = models.BigIntegerField(_("refused up to expiry"), default=0)

    class Meta:
        db_table = "sip_web_phone_cutoff"
        verbose_name = _("web phone cut-off")
        verbose_name_plural = _("web phone cut-offs")

    def __str__(self) -> str:
        return f"{self.extension_id}: refused ≤ {self.refused_until}, issued ≤ {self.issued_until}"


class Call(models.Model):
    """One call attempt (cuộc gọi) through Kamailio: an extension calling another extension of
    its hotline, a number outside through the carrier gateway, or a supervisor's *33 — answered
    or not, refused by Kamailio itself included. Built from Kamailio's own accounting (`acc`
    rows per final reply, `acc_cdrs` rows per ended dialog) by `sip.call_records`; the
    dashboard never writes one otherwise. Deleted after the tenant's retention period."""

    tenant = models.ForeignKey(
        "tenants.Tenant",
        verbose_name=_("tenant"),
        on_delete=models.CASCADE,
        related_name="calls",
        db_index=False,
    )
    hotline = models.ForeignKey(
        "hotlines.Hotline",
        verbose_name=_("hotline"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="calls",
        db_index=False,
    )
    caller_extension = models.ForeignKey(
        "extensions.Extension",
        verbose_name=_("caller extension"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="calls_made",
        db_index=False,
    )
    callee_extension = models.ForeignKey(
        "extensions.Extension",
        verbose_name=_("callee extension"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="calls_received",
        db_index=False,
    )
    caller = models.CharField(_("caller"), max_length=64)
    callee = models.CharField(_("callee"), max_length=64)
    direction = models.CharField(_("direction"), max_length=16, choices=CallDirection.choices)
    caller_id = models.CharField(_("caller ID"), max_length=32, blank=True)
    started_at = models.DateTimeField(_("started at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    duration = models.PositiveIntegerField(_("duration (seconds)"), default=0)
    disposition = models.CharField(_("disposition"), max_length=16, choices=Disposition.choices)
    sip_code = models.PositiveSmallIntegerField(_("SIP code"), default=0)
    reason = models.CharField(_("reason"), max_length=128, blank=True)
    sip_call_id = models.CharField(max_length=255)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        # Every history view is "newest first" within one of these scopes (keyset pagination
        # walks the index and stops after a page).
        # (The foreign keys have no index of their own: each leads one of these.)
        indexes = [
            models.Index(fields=["tenant", "-started_at", "-id"], name="call_tenant_started_idx"),
            models.Index(fields=["hotline", "-started_at", "-id"], name="call_hotline_started_idx"),
            models.Index(fields=["caller_extension", "-started_at", "-id"], name="call_caller_started_idx"),
            models.Index(fields=["callee_extension", "-started_at", "-id"], name="call_callee_started_idx"),
            # The "number" filter: a caller or callee of the tenant's calls.
            models.Index(fields=["tenant", "caller", "-started_at", "-id"], name="call_tenant_caller_idx"),
            models.Index(fields=["tenant", "callee", "-started_at", "-id"], name="call_tenant_callee_idx"),
            # The direction and result filters of a hotline's page and of the API: a rare value
            # (supervision, refused) would otherwise walk the whole scope's index to fill a page
            # (215 ms for direction=supervision at 1,000,000 calls).
            models.Index(
                fields=["hotline", "direction", "-started_at", "-id"], name="call_hotline_direction_idx"
            ),
            models.Index(
                fields=["hotline", "disposition", "-started_at", "-id"], name="call_hotline_disposition_idx"
            ),
            models.Index(
                fields=["tenant", "direction", "-started_at", "-id"], name="call_tenant_direction_idx"
            ),
            models.Index(
                fields=["tenant", "disposition", "-started_at", "-id"], name="call_tenant_disposition_idx"
            ),
        ]
        constraints = [
            # A constraint, not unique=True: the same index without the text-pattern twin
            # PostgreSQL gets for a unique CharField (nobody searches call ids by prefix).
            models.UniqueConstraint(fields=["sip_call_id"], name="call_sip_call_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.caller} → {self.callee} ({self.disposition})"


def export_file_name() -> str:
    return f"{uuid.uuid4().hex}.csv"


class CallExport(models.Model):
    """A CSV export of call history too large to stream in the request (CALL_EXPORT_INLINE_ROWS):
    the worker writes it under CALL_EXPORT_ROOT (outside every served directory) and its owner
    downloads it through a tenant-scoped view; file and row are deleted after
    CALL_EXPORT_RETENTION_HOURS (sip.call_exports)."""

    tenant = models.ForeignKey("tenants.Tenant", verbose_name=_("tenant"), on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    # The scope, one of the two (the history page it came from) or neither (the API's: every
    # call the user sees, narrowed by the filters); checked again when the job runs.
    hotline = models.ForeignKey(
        "hotlines.Hotline", verbose_name=_("hotline"), null=True, on_delete=models.CASCADE, related_name="+"
    )
    extension = models.ForeignKey(
        "extensions.Extension",
        verbose_name=_("extension"),
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # The history page's filters as they were asked ({name: value}, CallFilterSet's).
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    language = models.CharField(max_length=8)
    filename = models.CharField(_("file name"), max_length=100)
    # Where the file is, under CALL_EXPORT_ROOT: a random name in a folder per tenant.
    path = models.CharField(max_length=100, default=export_file_name, editable=False)
    status = models.CharField(
        _("status"), max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    rows = models.PositiveIntegerField(_("rows"), default=0)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    error = models.CharField(_("error"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on by the worker while it writes; a running job whose heartbeat is older than
    # CALL_EXPORT_STALE_SECONDS lost its worker and is marked failed by the sweep.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("call history export")
        verbose_name_plural = _("call history exports")
        indexes = [
            models.Index(fields=["tenant", "user", "-created_at"], name="callexport_owner_idx"),
            models.Index(fields=["status", "created_at"], name="callexport_status_idx"),
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def active(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)


class ExtensionPresence(models.Model):
    """The last registration state the dashboard saw of an extension (máy lẻ), so a change is
    noticed once: online or offline since when, and `alert` when it went offline during its
    schedule (the list shows a badge until it is back). Written by sip.live.presence_record."""

    extension = models.OneToOneField(
        "extensions.Extension", primary_key=True, on_delete=models.CASCADE, related_name="presence"
    )
    online = models.BooleanField(_("online"), default=False)
    since = models.DateTimeField(_("since"))
    alert = models.BooleanField(_("went offline during its schedule"), default=False)

    class Meta:
        verbose_name = _("presence")
        verbose_name_plural = _("presence")

    def __str__(self) -> str:
        return (
            f"{self.extension_id}: {'online' if self.online else 'offline'} since {self.since:%Y-%m-%d %H:%M}"
        )


# Kamailio's dispatcher sets (SET_ID_STRIDE: see sip/schema.py).
MAX_PRIORITY = SET_ID_STRIDE - 1

validate_gateway_host = RegexValidator(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    r"|^\[[0-9A-Fa-f:.]+\]$",
    _("Enter a host name or an IP address (an IPv6 address in brackets), without a port."),
)


class Gateway(models.Model):
    """A carrier gateway (cổng kết nối nhà mạng): the carrier's SBC that calls to numbers outside
    go to, and that calls from outside come from. The platform operator keeps them. Every tenant's
    calls use the provider's gateways (no tenant), a tenant with gateways of its own uses those
    first. Kamailio's dispatcher reads the enabled ones (view `sip_dispatcher`), probes them with
    OPTIONS and skips a dead one: lower priority numbers are tried first, gateways of equal
    priority share the calls by weight, and a failed call moves on to the next gateway."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    tenant = models.ForeignKey(
        "tenants.Tenant",
        verbose_name=_("tenant"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="gateways",
        help_text=_("Empty: the provider's gateway, for every tenant."),
    )
    host = models.CharField(_("host"), max_length=255, validators=[validate_gateway_host])
    port = models.PositiveIntegerField(
        _("port"), default=5060, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    transport = models.CharField(
        _("transport"), max_length=3, choices=GatewayTransport.choices, default=GatewayTransport.UDP
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_PRIORITY)],
        help_text=_("1 is tried first; a higher number only when those before it fail."),
    )
    weight = models.PositiveSmallIntegerField(
        _("weight"),
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Share of the calls among gateways of the same priority (1–100)."),
    )
    caller_id_format = models.CharField(
        _("caller ID format"), max_length=8, choices=CallerIdFormat.choices, default=CallerIdFormat.NATIONAL
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        db_table = "sip_gateway"
        ordering = ["tenant_id", "priority", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(priority__gte=1, priority__lte=MAX_PRIORITY),
                name="sip_gateway_priority_range",
                violation_error_message=_("The priority must be between 1 and 999."),
            ),
            models.CheckConstraint(
                condition=models.Q(weight__gte=1, weight__lte=100),
                name="sip_gateway_weight_range",
                violation_error_message=_("The weight must be between 1 and 100."),
            ),
            models.UniqueConstraint(
                fields=["tenant", "host", "port", "transport"],
                condition=models.Q(tenant__isnull=False),
                name="sip_gateway_unique_tenant_address",
                violation_error_message=_("There is already a gateway at this address."),
            ),
            models.UniqueConstraint(
                fields=["host", "port", "transport"],
                condition=models.Q(tenant__isnull=True),
                name="sip_gateway_unique_provider_address",
                violation_error_message=_("There is already a gateway at this address."),
            ),
        ]
        verbose_name = _("carrier gateway")
        verbose_name_plural = _("carrier gateways")

    def __str__(self) -> str:
        return f"{self.name} ({self.uri})"

    @property
    def uri(self) -> str:
        """The SIP URI Kamailio sends to: sip:host:port, with ;transport= unless UDP."""
        suffix = "" if self.transport == GatewayTransport.UDP else f";transport={self.transport}"
        return f"sip:{self.host}:{self.port}{suffix}"

    @property
    def set_id(self) -> int:
        """Its dispatcher set: one per scope and priority."""
        return (self.tenant_id or 0) * SET_ID_STRIDE + self.priority
