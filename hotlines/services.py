"""Writes to number groups (hotlines themselves are managed by the platform operator)."""

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audit.choices import Action
from audit.services import audit_record, diff
from core.services import integrity_as_validation
from tenants.models import Tenant

from .models import Hotline, NumberGroup, NumberGroupMember


def _state(group: NumberGroup) -> dict:
    return {
        "name": group.name,
        "strategy": group.strategy,
        "hotlines": list(group.members.order_by("position").values_list("hotline__number", flat=True)),
    }


def _audit(action: str, group: NumberGroup, changes: dict) -> None:
    audit_record(action=action, obj=group, tenant_id=group.tenant_id, changes=changes)


def _set_members(group: NumberGroup, hotlines: Sequence[Hotline]) -> None:
    if any(h.tenant_id != group.tenant_id for h in hotlines):
        raise ValidationError({"hotlines": _("A hotline belongs to another customer.")})
    if len({h.pk for h in hotlines}) != len(hotlines):
        raise ValidationError({"hotlines": _("A hotline is listed twice.")})
    group.members.all().delete()
    NumberGroupMember.objects.bulk_create(
        NumberGroupMember(group=group, hotline=hotline, position=position)
        for position, hotline in enumerate(hotlines)
    )


@transaction.atomic
def number_group_create(
    *, tenant: Tenant, name: str, strategy: str, hotlines: Sequence[Hotline]
) -> NumberGroup:
    group = NumberGroup(tenant=tenant, name=name.strip(), strategy=strategy)
    group.full_clean()
    with integrity_as_validation(NumberGroup), transaction.atomic():
        group.save()
    _set_members(group, list(hotlines))
    _audit(Action.CREATE, group, diff({}, _state(group)))
    return group


@transaction.atomic
def number_group_update(
    *,
    group: NumberGroup,
    name: str | None = None,
    strategy: str | None = None,
    hotlines: Sequence[Hotline] | None = None,
) -> NumberGroup:
    before = _state(group)
    if name is not None:
        group.name = name.strip()
    if strategy is not None:
        group.strategy = strategy
    group.full_clean()
    with integrity_as_validation(NumberGroup), transaction.atomic():
        group.save()
    if hotlines is not None:
        _set_members(group, list(hotlines))
    _audit(Action.UPDATE, group, diff(before, _state(group)))
    return group


@transaction.atomic
def number_group_delete(*, group: NumberGroup) -> None:
    """Delete a group; extensions that used it fall back to their other caller IDs."""
    _audit(Action.DELETE, group, diff(_state(group), {}))
    group.delete()
