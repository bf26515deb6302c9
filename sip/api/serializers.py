"""The call history in the API (contract: ../shared/DESIGN.md, "Calls"), and the SIP server's
brute-force locks and security events (sip.protection)."""

from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from ..choices import CallDirection, Disposition, ExportStatus, LockKind, SecurityEventKind
from ..models import Call, CallExport, SecurityEvent


class CallSerializer(serializers.ModelSerializer):
    """One call attempt. `duration` is the talk time in seconds (0 unless answered); `reason`
    the SIP reason of a call that did not connect (e.g. "Call permission: international
    required")."""

    class Meta:
        model = Call
        fields = [
            "id",
            "caller",
            "callee",
            "direction",
            "caller_id",
            "hotline",
            "started_at",
            "answered_at",
            "ended_at",
            "duration",
            "disposition",
            "reason",
        ]
        read_only_fields = fields


class CallExportRequestSerializer(serializers.Serializer):
    """What to export: the filters of `GET /api/v1/calls/`, all optional (none: every call you
    may see)."""

    extension = serializers.IntegerField(required=False, min_value=1, help_text="An extension's id.")
    hotline = serializers.IntegerField(required=False, min_value=1, help_text="A hotline's id.")
    since = serializers.CharField(
        required=False, max_length=40, help_text="A date or an ISO 8601 date and time (from, inclusive)."
    )
    until = serializers.CharField(
        required=False,
        max_length=40,
        help_text="A date (that whole day included) or an ISO 8601 date and time (inclusive).",
    )
    direction = serializers.ChoiceField(required=False, choices=CallDirection.choices)
    disposition = serializers.ChoiceField(required=False, choices=Disposition.choices)
    number = serializers.CharField(
        required=False, max_length=64, help_text="The caller or the callee, exactly."
    )


class CallExportSerializer(serializers.ModelSerializer):
    """A CSV export prepared in the background: `queued` → `running` → `done` (then `download`
    is its file's URL until it is deleted, CALL_EXPORT_RETENTION_HOURS after it was asked) or
    `failed` (`error` says why). `rows` counts the calls written so far."""

    error = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = CallExport
        fields = [
            "id",
            "status",
            "filters",
            "filename",
            "rows",
            "size",
            "error",
            "created_at",
            "finished_at",
            "download",
        ]
        read_only_fields = fields

    def get_error(self, job: CallExport) -> str:
        return gettext(job.error) if job.error else ""

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download(self, job: CallExport) -> str | None:
        if job.status != ExportStatus.DONE:
            return None
        url = reverse("api:callexport-download", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class LockedExtensionSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True, help_text=_("The extension's id; null when no extension has that number any more.")
    )
    number = serializers.CharField()
    domain = serializers.CharField(help_text=_("The hotline's SIP domain."))


class SipLockSerializer(serializers.Serializer):
    """A brute-force lock the SIP server holds now."""

    # Serialises a sip.protection.Lock; `extension` comes from the context's `extensions`
    # ({lock key: Extension}, sip.protection.lock_extensions), `remaining` from its `now`.

    id = serializers.CharField(
        help_text=_(
            "`<kind>:<key>`, e.g. `address:203.0.113.7` or `extension:101@19001234.sip.example.vn`: "
            "what `sip-locks/{lock_id}/unblock/` takes."
        )
    )
    kind = serializers.ChoiceField(choices=LockKind.choices)
    key = serializers.CharField(
        help_text=_("What is locked: the source address, or the extension as number@domain.")
    )
    extension = LockedExtensionSerializer(
        allow_null=True, help_text=_("An extension lock's extension; null for an address.")
    )
    until = serializers.DateTimeField(help_text=_("When the lock ends."))
    remaining = serializers.IntegerField(help_text=_("Seconds until it ends."))
    reason = serializers.CharField(help_text=_("Why, in the request's language."))
    sip_reply = serializers.CharField(
        help_text=_("What the SIP server answers while it lasts, even to the right password.")
    )

    def to_representation(self, lock) -> dict:
        extension = None
        if lock.kind == LockKind.EXTENSION:
            found = self.context.get("extensions", {}).get(lock.key)
            extension = {"id": found.pk if found else None, "number": lock.number, "domain": lock.domain}
        return {
            "id": lock.id,
            "kind": lock.kind,
            "key": lock.key,
            "extension": extension,
            "until": serializers.DateTimeField().to_representation(lock.until),
            "remaining": lock.remaining(self.context.get("now")),
            "reason": lock.reason,
            "sip_reply": lock.sip_reply,
        }


@extend_schema_serializer(many=False)  # the whole answer of `list`, not one of its items
class SipLockListSerializer(serializers.Serializer):
    readable = serializers.BooleanField(
        help_text=_("False: the SIP server did not answer, and `results` is empty for that reason.")
    )
    results = SipLockSerializer(many=True)


class SecurityEventSerializer(serializers.ModelSerializer):
    """A lock or a flood the SIP server recorded (Kamailio writes these rows)."""

    kind = serializers.ChoiceField(choices=SecurityEventKind.choices)
    number = serializers.CharField(
        source="username", help_text=_("The extension number tried; empty for a flood.")
    )
    extension = serializers.SerializerMethodField()
    failures = serializers.IntegerField(source="count", help_text=_("How many failures led to it."))
    released_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When an admin lifted the lock; null: not lifted.")
    )

    class Meta:
        model = SecurityEvent
        fields = [
            "id",
            "created_at",
            "kind",
            "source_ip",
            "number",
            "domain",
            "extension",
            "failures",
            "released_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.IntegerField(
            allow_null=True,
            help_text=_("The id of the extension tried; null: none has that number on that domain."),
        )
    )
    def get_extension(self, event: SecurityEvent) -> int | None:
        return getattr(event, "extension_pk", None)
