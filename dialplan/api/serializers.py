"""The dial check in the API (`GET /api/v1/extensions/{id}/dial-check/?number=…`)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from extensions.api.serializers import CallPermissionField
from extensions.choices import CallPermission
from hotlines.choices import GroupStrategy

from ..choices import DestinationClass, Outcome, SuperviseMode
from ..validators import DIALLED_INPUT_MAX_LENGTH, validate_dialled


class DialCheckQuerySerializer(serializers.Serializer):
    number = serializers.CharField(
        max_length=DIALLED_INPUT_MAX_LENGTH,
        help_text=_(
            "The number to check, as dialled: digits with + * #; spaces, dots, dashes "
            "and brackets are ignored (e.g. 0912 345 678, +84912345678, *33101)."
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
        }


def _rule(rule) -> dict | None:
    if rule is None:
        return None
    return {"name": rule.name, "description": rule.description, "pattern": rule.pattern}
