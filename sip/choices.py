from django.db import models
from django.utils.translation import gettext_lazy as _


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
