"""The call history in the API (contract: ../shared/DESIGN.md, "Calls")."""

from rest_framework import serializers

from ..models import Call


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
