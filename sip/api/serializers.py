"""The call history in the API (contract: ../shared/DESIGN.md, "Calls")."""

from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import CallDirection, Disposition, ExportStatus
from ..models import Call, CallExport


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
