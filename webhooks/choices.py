from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Event(models.TextChoices):
    """What a webhook endpoint can subscribe to (names in DESIGN.md, "Webhooks")."""

    EXTENSION_CREATED = "extension.created", _("Extension created")
    EXTENSION_UPDATED = "extension.updated", _("Extension changed")
    EXTENSION_DELETED = "extension.deleted", _("Extension deleted")
    EXTENSION_PASSWORD_CHANGED = "extension.password_changed", _("Extension password changed")
    REGISTRATION_ONLINE = "registration.online", _("Extension came online")
    REGISTRATION_OFFLINE = "registration.offline", _("Extension went offline")
    CALL_ENDED = "call.ended", _("Call ended")


# Sent by the "Send test" button to one endpoint, whatever it subscribes to.
TEST_EVENT = "webhook.test"


class DeliveryStatus(models.TextChoices):
    """Where one delivery stands: waiting for its (next) attempt, delivered, or given up."""

    PENDING = "pending", pgettext_lazy("webhook", "Pending")
    SUCCEEDED = "succeeded", pgettext_lazy("webhook", "Delivered")
    FAILED = "failed", pgettext_lazy("webhook", "Failed")
