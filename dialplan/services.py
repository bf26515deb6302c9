"""Writes to dial rules (platform operator): audited, and announced on commit with
`dialplan.signals.dial_rules_changed` so the SIP side reloads them. The dial check that reads
them the way Kamailio does is `sip.dialcheck`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.choices import Action
from audit.services import audit_record, diff
from core.services import integrity_as_validation

from .models import DialRule
from .signals import dial_rules_changed

RULE_FIELDS = [
    "name",
    "stage",
    "priority",
    "pattern",
    "replacement",
    "destination",
    "carrier",
    "description",
    "enabled",
]


# --- Dial rules --------------------------------------------------------------------------------


def _announce() -> None:
    dial_rules_changed.send(sender=DialRule)


def _state(rule: DialRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in RULE_FIELDS}


def _save(rule: DialRule, action: str, before: dict[str, Any]) -> DialRule:
    rule.full_clean()
    with integrity_as_validation(DialRule), transaction.atomic():
        rule.save()
    audit_record(action=action, obj=rule, changes=diff(before, _state(rule)))
    # Kamailio keeps the rules in memory: reload them once this is committed (best effort;
    # it also re-reads them on its own timer).
    transaction.on_commit(_announce)
    return rule


@transaction.atomic
def dial_rule_create(**fields: Any) -> DialRule:
    """Create a dial rule; its pattern must keep to the subset Python and Kamailio share."""
    return _save(DialRule(**fields), Action.CREATE, {})


@transaction.atomic
def dial_rule_update(*, rule: DialRule, data: dict[str, Any]) -> DialRule:
    before = _state(DialRule.objects.get(pk=rule.pk))
    for name in RULE_FIELDS:
        if name in data:
            setattr(rule, name, data[name])
    return _save(rule, Action.UPDATE, before)


@transaction.atomic
def dial_rule_delete(*, rule: DialRule) -> None:
    audit_record(action=Action.DELETE, obj=rule, changes=diff(_state(rule), {}))
    rule.delete()
    transaction.on_commit(_announce)
