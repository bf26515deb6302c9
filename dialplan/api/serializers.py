"""The dial check in the API (`GET /api/v1/extensions/{id}/dial-check/?number=…`)."""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from extensions.api.serializers import CallPermissionField
from extensions.choices import CallPermission
from hotlines.choices import GroupStrategy
from hotlines.schedules import TIME_ZONE, validate_moment

from ..choices import DestinationClass, Outcome, SuperviseMode
from ..validators import DIALLED_INPUT_MAX_LENGTH, validate_dialled


class MomentField(serializers.DateTimeField):
    """A moment to decide for: without an offset it is Vietnam's time, as on the dashboard's
    form; outside the years schedules are asked about (hotlines.schedules.validate_moment) it
    is that field error, checked before DRF converts it (which near year 1 or 9999 overflows)."""

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            value = value.replace(tzinfo=TIME_ZONE)
        try:
            validate_moment(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="out_of_range") from None
        return super().enforce_timezone(value)


class DialCheckQuerySerializer(serializers.Serializer):
    number = serializers.CharField(
        max_length=DIALLED_INPUT_MAX_LENGTH,
        help_text=_(
            "The number to check, as dialled: digits with + * #; spaces, dots, dashes "
            "and brackets are ignored (e.g. 0912 345 678, +84912345678, *33101)."
        ),
    )

    at = MomentField(
        required=False,
        help_text=_(
            "The moment to decide for, ISO 8601 with an offset (e.g. 2025-03-03T16:59:59+07:00); "
            "without an offset it is Vietnam's time (UTC+7); default now; from the year 2000 to "
            "2999. Schedules are in Vietnam's time; call counters apply only to now."
        ),
    )

    def validate_number(self, value: str) -> str:
        return validate_dialled(value)


class DialRuleBriefSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    pattern = serializers.CharField()


class CallerIdSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=GroupStrategy.choices)
    pool = serializers.ListField(
        child=serializers.CharField(), help_text=_("The caller-ID numbers, in the order used.")
    )
    number = serializers.CharField(
        allow_null=True,
        help_text=_(
            "The number the carrier sees, when certain (strategy first, or same_carrier "
            "with a number on the callee's carrier); null: one of `candidates`."
        ),
    )
    candidates = serializers.ListField(child=serializers.CharField())
    # Declared fields leave the class (the serializer's metaclass): this shadows nothing at run time.
    format = serializers.ChoiceField(  # type: ignore[assignment]
        choices=[("national", "national"), ("e164", "e164")],
        help_text=_("How the carrier is sent it (the caller-ID format of the gateway the call tries first)."),
    )
    gateway = serializers.CharField(
        help_text=_("The carrier gateway the call tries first; empty: the one of SIP_GATEWAY_URI.")
    )


class ScheduleStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    # Declared fields leave the class (the serializer's metaclass): this shadows nothing at run time.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=[("extension", "extension"), ("hotline", "hotline")],
        help_text=_("Whose schedule applies: the extension's own, or its hotline's."),
    )
    open = serializers.BooleanField()
    next_open = serializers.DateTimeField(
        allow_null=True, help_text=_("When closed: when it opens next (null: never).")
    )
    closes_at = serializers.DateTimeField(allow_null=True, help_text=_("When open: when it closes."))


class CountersSerializer(serializers.Serializer):
    last_minute = serializers.IntegerField(help_text=_("Calls out in the last 60 seconds."))
    today = serializers.IntegerField(help_text=_("Calls out today (Vietnam's time)."))


class LimitsSerializer(serializers.Serializer):
    max_calls_per_minute = serializers.IntegerField(allow_null=True)
    max_calls_per_day = serializers.IntegerField(allow_null=True)
    max_call_seconds = serializers.IntegerField(allow_null=True)
    counters = CountersSerializer(
        allow_null=True,
        help_text=_(
            "Kamailio's counters, read now; null when not read (no limit, another moment) or unreadable."
        ),
    )
    counters_error = serializers.CharField(
        help_text=_("Why the counters could not be read; empty otherwise.")
    )


def _slug(permission) -> str | None:
    return CallPermission(permission).slug if permission is not None else None


class CheckedExtensionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    alias = serializers.CharField()
    call_permission = CallPermissionField()


class DialCheckSerializer(serializers.Serializer):
    """What the SIP server does when this extension dials the number."""

    extension = CheckedExtensionSerializer(help_text=_("The extension checked (the caller)."))
    dialled = serializers.CharField(help_text=_("The number checked, separators removed."))
    number = serializers.CharField(help_text=_("After normalisation: what the carrier is sent."))
    allowed = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    reason = serializers.CharField()
    summary = serializers.CharField(
        help_text=_(
            "The answer in one plain sentence, in the request's language: which kind of number "
            "it is, whether the extension may call it, why, and the caller ID shown."
        )
    )
    sip_reply = serializers.CharField(
        help_text=_(
            "The SIP server's refusal, e.g. “403 Call permission: mobile required”; "
            "empty when the call goes on."
        )
    )
    destination = serializers.ChoiceField(choices=DestinationClass.choices, allow_null=True)
    # Plain text, not a second enum of the same slugs (one CallPermissionEnum in the schema).
    required_permission = serializers.CharField(
        allow_null=True,
        help_text=_(
            "The call permission the destination needs (internal, landline, mobile or "
            "international); null: always allowed (emergency) or no destination."
        ),
    )
    rule = DialRuleBriefSerializer(allow_null=True, help_text=_("The classify rule that decided."))
    normalised_by = DialRuleBriefSerializer(allow_null=True)
    caller_id = CallerIdSerializer(allow_null=True, help_text=_("For calls out through the carrier."))
    target = serializers.CharField(
        allow_null=True, help_text=_("The extension called, or the one supervised.")
    )
    supervise_mode = serializers.ChoiceField(choices=SuperviseMode.choices, allow_null=True)
    at = serializers.DateTimeField(help_text=_("The moment decided for."))
    decided_by = serializers.ChoiceField(
        choices=[
            ("lock", "lock"),
            ("permission", "permission"),
            ("schedule", "schedule"),
            ("limit", "limit"),
        ],
        allow_null=True,
        help_text=_("What refused the call: lock, permission, schedule or limit; null otherwise."),
    )
    lock_state = serializers.ChoiceField(
        choices=[("locked", "locked"), ("unlocked", "unlocked"), ("unknown", "unknown")],
        allow_null=True,
        help_text=_(
            "The extension's wrong-password lock in the SIP server, read when the check is for "
            "now: locked, unlocked, or unknown when the SIP server does not answer; null for "
            "another moment."
        ),
    )
    locked_until = serializers.DateTimeField(allow_null=True, help_text=_("When the lock ends."))
    schedule = ScheduleStateSerializer(
        allow_null=True,
        help_text=_("Calls out through the carrier: the outbound schedule; null: always open."),
    )
    limits = LimitsSerializer(
        allow_null=True, help_text=_("Calls out through the carrier (not emergency): the call limits.")
    )

    def to_representation(self, check) -> dict:
        classification = check.classification
        extension = check.extension
        return {
            "extension": {
                "id": extension.pk,
                "number": extension.number,
                "alias": extension.alias,
                "call_permission": _slug(extension.call_permission),
            },
            "dialled": check.dialled,
            "number": check.number,
            "allowed": check.allowed,
            "outcome": str(check.outcome),
            "reason": check.reason,
            "summary": check.summary,
            "sip_reply": check.sip_reply,
            "destination": check.destination or None,
            "required_permission": _slug(check.required_permission),
            "rule": _rule(check.rule),
            "normalised_by": _rule(classification.normalised_by if classification else None),
            "caller_id": CallerIdSerializer(check.caller_id).data if check.caller_id else None,
            "target": check.target or None,
            "supervise_mode": str(check.supervise_mode) if check.supervise_mode else None,
            "at": _iso(check.at),
            "decided_by": check.decided_by or None,
            "lock_state": check.lock_state or None,
            "locked_until": check.lock.until if check.lock else None,
            "schedule": _schedule(check.controls),
            "limits": _limits(check.controls),
        }


def _iso(moment) -> str | None:
    return serializers.DateTimeField().to_representation(moment) if moment else None


def _schedule(controls) -> dict | None:
    if controls is None or controls.schedule is None:
        return None
    return {
        "id": controls.schedule.pk,
        "name": controls.schedule.name,
        "source": controls.schedule_source,
        "open": controls.open,
        "next_open": _iso(controls.next_open),
        "closes_at": _iso(controls.closes_at),
    }


def _limits(controls) -> dict | None:
    if controls is None:
        return None
    counters = controls.counters
    return {
        "max_calls_per_minute": controls.max_calls_per_minute,
        "max_calls_per_day": controls.max_calls_per_day,
        "max_call_seconds": controls.max_call_seconds,
        "counters": {"last_minute": counters.last_minute, "today": counters.today} if counters else None,
        "counters_error": controls.counters_error,
    }


def _rule(rule) -> dict | None:
    if rule is None:
        return None
    return {"name": rule.name, "description": rule.description, "pattern": rule.pattern}
