from django.db import models
from django.utils.translation import gettext_lazy as _


class SecurityEventKind(models.TextChoices):
    """What Kamailio locked (route[AUTH_FAILED], route[FLOOD] in deploy/kamailio/kamailio.cfg)."""

    IP_BLOCKED = "ip_blocked", _("Address blocked")
    EXTENSION_LOCKED = "extension_locked", _("Extension locked")
    FLOOD = "flood", _("Flood dropped")


class LockKind(models.TextChoices):
    """A lock Kamailio holds now (its htables `ipban` and `extlock`)."""

    ADDRESS = "address", _("Address")
    EXTENSION = "extension", _("Extension")


class CallDirection(models.TextChoices):
    INTERNAL = "internal", _("Internal")
    OUTBOUND = "outbound", _("Outbound")
    INBOUND = "inbound", _("Inbound")
    SUPERVISION = "supervision", _("Supervision")


class Disposition(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    BUSY = "busy", _("Busy")
    NO_ANSWER = "no_answer", _("No answer")
    CANCELLED = "cancelled", _("Cancelled")
    REFUSED = "refused", _("Refused")
    FAILED = "failed", _("Failed")


class CallerIdFormat(models.TextChoices):
    """How a carrier wants the caller ID (a hotline number, stored national)."""

    NATIONAL = "national", _("National (0912345678, 19001234)")
    E164 = "e164", _("E.164 (+84912345678, +8419001234)")


class GatewayTransport(models.TextChoices):
    UDP = "udp", "UDP"
    TCP = "tcp", "TCP"
    TLS = "tls", "TLS"


class GatewayState(models.TextChoices):
    """A gateway's state as Kamailio's dispatcher reports it (`dispatcher.list`)."""

    ACTIVE = "active", _("Active")
    TRYING = "trying", _("Trying (a probe failed)")
    INACTIVE = "inactive", _("Inactive (not answering)")
    DISABLED = "disabled", _("Disabled")
    NOT_LOADED = "not_loaded", _("Not loaded by the SIP server")
    UNKNOWN = "unknown", _("Unknown (SIP server not answering)")


class ExportStatus(models.TextChoices):
    """A background call-history export's state (sip.call_exports)."""

    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
