"""Writes to hotlines and number groups.

Each service checks the model's rules itself (`full_clean`), writes its audit row in the same
transaction, and a hotline change sends `hotlines.signals.hotline_changed` once committed, to
which the apps above subscribe (sip reloads Kamailio's domains). The dashboard, the API, the
Django admin and the commands all write through here, so none of them can skip a rule.
"""

import datetime as dt
import logging
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.choices import Action
from audit.services import audit_record, diff
from core.services import integrity_as_validation
from tenants.models import Tenant

from .models import Hotline, NumberGroup, NumberGroupMember, Schedule, ScheduleHoliday, ScheduleWindow
from .numbering import parse_vn_number
from .schedules import Window, parse_holidays, parse_windows
from .signals import hotline_changed

logger = logging.getLogger(__name__)

# -- Hotlines (đầu số): the platform operator's, from the Django admin and the commands. ----------


def _hotline_state(hotline: Hotline) -> dict:
    return {
        "tenant": hotline.tenant_id,
        "number": hotline.number,
        "name": hotline.name,
        "kind": hotline.kind,
        "carrier": hotline.carrier,
        "sip_domain": hotline.sip_domain,
        "enabled": hotline.enabled,
    }


def _announce(action: str, hotline_ids: list[int], *, moved_from_tenant_id: int | None = None) -> None:
    """Send hotline_changed after the commit. A subscriber's failure is logged, not raised: the
    change has committed by then, and the operator must not see an error for it."""

    def send() -> None:
        for receiver, result in hotline_changed.send_robust(
            sender=Hotline,
            hotline_ids=hotline_ids,
            action=str(action),
            moved_from_tenant_id=moved_from_tenant_id,
        ):
            if isinstance(result, Exception):
                logger.error("hotline_changed receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)


def hotline_uses(*, hotline: Hotline) -> list[str]:
    """What still ties the hotline to its tenant, as phrases for a message; empty when nothing
    does. Its own extensions, its places in number groups and its use as caller ID: each would
    point across tenants after a move, and would vanish unaudited with a delete."""
    uses = []
    if own := hotline.extensions.count():
        uses.append(ngettext("%(count)d extension on it", "%(count)d extensions on it", own) % {"count": own})
    groups = list(
        NumberGroup.objects.filter(members__hotline=hotline).order_by("name").values_list("name", flat=True)
    )
    if groups:
        names = ", ".join(f"“{name}”" for name in groups)
        uses.append(
            ngettext("number group %(names)s", "number groups %(names)s", len(groups)) % {"names": names}
        )
    if callers := hotline.outbound_extensions.exclude(hotline=hotline).count():
        uses.append(
            ngettext(
                "caller ID of %(count)d other extension",
                "caller ID of %(count)d other extensions",
                callers,
            )
            % {"count": callers}
        )
    return uses


def hotline_validate_change(*, hotline: Hotline, tenant_id: int, number: str) -> None:
    """Refuse a change that would break what uses the stored `hotline`: a move to another
    tenant while it is in use (see hotline_uses), and a new number while it has extensions
    (their SIP domain, and the digests of their passwords, come from the number). Each
    message says what to do. `number` may be in any spelling; an invalid one is left to
    Hotline.clean() to report."""
    errors = {}
    if tenant_id != hotline.tenant_id and (uses := hotline_uses(hotline=hotline)):
        errors["tenant"] = _(
            "This hotline is in use, so it cannot move to another tenant: %(uses)s. Delete or "
            "move its extensions, and take it out of those number groups and caller IDs first."
        ) % {"uses": "; ".join(uses)}
    try:
        national = parse_vn_number(number).national
    except ValidationError:
        national = hotline.number
    if national != hotline.number and hotline.extensions.exists():
        errors["number"] = _(
            "This hotline has extensions, so its number cannot change: their SIP domain and the "
            "digests of their passwords come from it. Add the new number as another hotline."
        )
    if errors:
        raise ValidationError(errors)


def hotline_validate_delete(*, hotline: Hotline) -> None:
    """Refuse to delete a hotline that is in use, saying what to detach. Its extensions are
    accounts with registrations, which only extensions.services may remove."""
    if uses := hotline_uses(hotline=hotline):
        raise ValidationError(
            _(
                "This hotline is in use, so it cannot be deleted: %(uses)s. Delete or move its "
                "extensions, and take it out of those number groups and caller IDs first."
            )
            % {"uses": "; ".join(uses)}
        )


@transaction.atomic
def hotline_create(
    *, tenant: Tenant, number: str, name: str = "", carrier: str = "", enabled: bool = True
) -> Hotline:
    """Assign a new hotline to a tenant; its number is normalised and its kind and SIP domain
    derived by Hotline.clean()."""
    hotline = Hotline(tenant=tenant, number=number, name=name.strip(), carrier=carrier, enabled=enabled)
    hotline.full_clean()
    hotline.save()
    audit_record(
        action=Action.CREATE,
        obj=hotline,
        tenant_id=hotline.tenant_id,
        changes=diff({}, _hotline_state(hotline)),
    )
    _announce(Action.CREATE, [hotline.pk])
    return hotline


@transaction.atomic
def hotline_update(
    *,
    hotline: Hotline,
    tenant: Tenant | None = None,
    number: str | None = None,
    name: str | None = None,
    carrier: str | None = None,
    enabled: bool | None = None,
) -> Hotline:
    """Change a hotline (None leaves a field as it is). What would break its users is refused
    (hotline_validate_change); a move to another tenant is audited for both tenants."""
    # The stored row, locked, is the "before": the caller's instance may already hold the new
    # values (a Django admin form writes them onto it while validating).
    stored = Hotline.objects.select_for_update().get(pk=hotline.pk)
    before = _hotline_state(stored)
    for field, value in {"tenant": tenant, "number": number, "carrier": carrier, "enabled": enabled}.items():
        if value is not None:
            setattr(hotline, field, value)
    if name is not None:
        hotline.name = name.strip()
    hotline_validate_change(hotline=stored, tenant_id=hotline.tenant_id, number=hotline.number)
    hotline.full_clean()
    moved_from = stored.tenant_id if hotline.tenant_id != stored.tenant_id else None
    changes = diff(before, _hotline_state(hotline))
    if not changes:
        return hotline
    hotline.save()
    audit_record(action=Action.UPDATE, obj=hotline, tenant_id=hotline.tenant_id, changes=changes)
    if moved_from is not None:
        # The previous tenant's trail shows where its hotline went.
        audit_record(action=Action.UPDATE, obj=hotline, tenant_id=moved_from, changes=changes)
    _announce(Action.UPDATE, [hotline.pk], moved_from_tenant_id=moved_from)
    return hotline


@transaction.atomic
def hotline_delete(*, hotline: Hotline) -> None:
    """Delete a hotline that nothing uses any more (see hotline_validate_delete)."""
    stored = Hotline.objects.select_for_update().get(pk=hotline.pk)
    hotline_validate_delete(hotline=stored)
    audit_record(
        action=Action.DELETE,
        obj=stored,
        tenant_id=stored.tenant_id,
        changes=diff(_hotline_state(stored), {}),
    )
    pk = stored.pk
    stored.delete()
    _announce(Action.DELETE, [pk])


# -- Number groups (nhóm đầu số): the tenant admin's, from the dashboard and the API. ------------


def _state(group: NumberGroup) -> dict:
    return {
        "name": group.name,
        "strategy": group.strategy,
        "hotlines": list(group.members.order_by("position").values_list("hotline__number", flat=True)),
    }


def _audit(action: str, group: NumberGroup, changes: dict) -> None:
    audit_record(action=action, obj=group, tenant_id=group.tenant_id, changes=changes)


def validate_number_group_hotlines(*, tenant_id: int, hotlines: Sequence[Hotline]) -> None:
    """Every member of a number group is one of the group's tenant's hotlines, once. The one
    home of this rule: the services below, and the Django admin's member rows, call it."""
    if any(h.tenant_id != tenant_id for h in hotlines):
        raise ValidationError({"hotlines": _("A hotline belongs to another customer.")})
    if len({h.pk for h in hotlines}) != len(hotlines):
        raise ValidationError({"hotlines": _("A hotline is listed twice.")})


def _set_members(group: NumberGroup, hotlines: Sequence[Hotline]) -> None:
    validate_number_group_hotlines(tenant_id=group.tenant_id, hotlines=hotlines)
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
    """Change a group's name, strategy or members (None leaves it). Its tenant never changes:
    the extensions using it as caller ID belong to that tenant."""
    # The stored row, locked, is the "before" (the caller's instance may hold new values).
    stored = NumberGroup.objects.select_for_update().get(pk=group.pk)
    if group.tenant_id != stored.tenant_id:
        raise ValidationError({"tenant": _("A number group cannot move to another tenant.")})
    before = _state(stored)
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


# -- Outbound schedules (lịch gọi ra): the tenant admin's, from the dashboard and the API. -------


def _schedule_state(schedule: Schedule) -> dict:
    return {
        "name": schedule.name,
        "windows": [w.as_dict() for w in schedule.window_values()],
        "holidays": [d.isoformat() for d in schedule.holiday_dates()],
    }


def _set_schedule_rows(schedule: Schedule, windows: Sequence[Window], holidays: Sequence[dt.date]) -> None:
    schedule.windows.all().delete()
    schedule.holidays.all().delete()
    rows = [
        ScheduleWindow(schedule=schedule, days=w.mask, start_minute=w.start, end_minute=w.end, position=i)
        for i, w in enumerate(windows)
    ]
    for row in rows:
        row.full_clean(exclude=["schedule"])
    ScheduleWindow.objects.bulk_create(rows)
    ScheduleHoliday.objects.bulk_create(ScheduleHoliday(schedule=schedule, date=d) for d in holidays)


def _parse_schedule(windows, holidays) -> tuple[list[Window] | None, list[dt.date] | None]:
    """Windows (`[{days, start, end}]` or Window values) and holidays (dates or YYYY-MM-DD)."""
    errors: dict[str, list[str]] = {}
    parsed_windows = parsed_holidays = None
    if windows is not None:
        items = list(windows) if isinstance(windows, (list, tuple)) else windows
        try:
            is_parsed = isinstance(items, list) and all(isinstance(w, Window) for w in items)
            parsed_windows = items if is_parsed else parse_windows(items)
        except ValidationError as exc:
            errors["windows"] = exc.messages
    if holidays is not None:
        try:
            parsed_holidays = parse_holidays(
                list(holidays) if isinstance(holidays, (list, tuple)) else holidays
            )
        except ValidationError as exc:
            errors["holidays"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return parsed_windows, parsed_holidays


def _checked_schedule_save(schedule: Schedule, windows, holidays):
    """Check the schedule's own fields and its windows and holidays together (every message at
    once), then save the row; returns the parsed windows and holidays (None: leave them)."""
    errors: dict = {}
    parsed_windows = parsed_holidays = None
    try:
        schedule.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    try:
        parsed_windows, parsed_holidays = _parse_schedule(windows, holidays)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
    with integrity_as_validation(Schedule), transaction.atomic():
        schedule.save()
    return parsed_windows, parsed_holidays


@transaction.atomic
def schedule_create(
    *, tenant: Tenant, name: str, windows: Sequence = (), holidays: Sequence = ()
) -> Schedule:
    """A tenant's outbound schedule; `windows` as `[{days, start, end}]` (see hotlines.schedules)."""
    schedule = Schedule(tenant=tenant, name=name.strip())
    parsed_windows, parsed_holidays = _checked_schedule_save(schedule, windows, holidays)
    _set_schedule_rows(schedule, parsed_windows or [], parsed_holidays or [])
    audit_record(
        action=Action.CREATE, obj=schedule, tenant_id=tenant.pk, changes=diff({}, _schedule_state(schedule))
    )
    return schedule


@transaction.atomic
def schedule_update(
    *,
    schedule: Schedule,
    name: str | None = None,
    windows: Sequence | None = None,
    holidays: Sequence | None = None,
) -> Schedule:
    """Change a schedule's name, windows or holidays (None leaves it). Kamailio reads the rows on
    every call out, so the change applies to the next call."""
    stored = Schedule.objects.select_for_update().get(pk=schedule.pk)
    before = _schedule_state(stored)
    if name is not None:
        schedule.name = name.strip()
    parsed_windows, parsed_holidays = _checked_schedule_save(schedule, windows, holidays)
    if parsed_windows is not None or parsed_holidays is not None:
        _set_schedule_rows(
            schedule,
            parsed_windows if parsed_windows is not None else schedule.window_values(),
            parsed_holidays if parsed_holidays is not None else schedule.holiday_dates(),
        )
    changes = diff(before, _schedule_state(schedule))
    if changes:
        audit_record(action=Action.UPDATE, obj=schedule, tenant_id=schedule.tenant_id, changes=changes)
    return schedule


def schedule_uses(*, schedule: Schedule) -> list[str]:
    """Who calls out by the schedule, as phrases for a message; empty when nobody does: the
    hotlines that have it as their extensions' default, and the extensions that have it as their
    own. At most a few numbers of each are named (a hotline may have thousands of extensions)."""
    uses = []
    hotlines = [h.display_number for h in schedule.hotlines.order_by("number")]
    if hotlines:
        uses.append(
            ngettext("hotline %(numbers)s", "hotlines %(numbers)s", len(hotlines))
            % {"numbers": ", ".join(hotlines)}
        )
    extensions = schedule.extensions.order_by("hotline__number", "number")
    if count := extensions.count():
        shown = [f"{e.number}@{e.hotline.display_number}" for e in extensions.select_related("hotline")[:5]]
        listed = ", ".join(shown) + (", …" if count > len(shown) else "")
        uses.append(
            ngettext("%(count)d extension (%(numbers)s)", "%(count)d extensions (%(numbers)s)", count)
            % {"count": count, "numbers": listed}
        )
    return uses


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    """Delete a schedule nobody uses. One in use is refused, saying who uses it: deleting it
    would quietly let them call out at any hour (an extension falls back to its hotline's
    schedule, a hotline to none), which for advertising calls is a breach of Decree 91/2020
    rather than a clean-up. The admin moves them to another schedule (or none) first."""
    stored = Schedule.objects.select_for_update().get(pk=schedule.pk)
    if uses := schedule_uses(schedule=stored):
        raise ValidationError(
            _(
                "This schedule is in use, so it cannot be deleted: %(uses)s. Choose another "
                "schedule (or none) for them first."
            )
            % {"uses": "; ".join(uses)}
        )
    audit_record(
        action=Action.DELETE,
        obj=stored,
        tenant_id=stored.tenant_id,
        changes=diff(_schedule_state(stored), {}),
    )
    stored.delete()


@transaction.atomic
def hotline_set_outbound_schedule(*, hotline: Hotline, schedule: Schedule | None) -> Hotline:
    """The tenant admin's one change to a hotline: the default outbound schedule of its
    extensions (one of the tenant's schedules, or none: always open)."""
    stored = Hotline.objects.select_for_update().get(pk=hotline.pk)
    if schedule is not None and schedule.tenant_id != stored.tenant_id:
        raise ValidationError({"outbound_schedule": _("This schedule belongs to another customer.")})
    before = stored.outbound_schedule_id
    after = schedule.pk if schedule is not None else None
    if before == after:
        hotline.outbound_schedule = schedule
        return stored
    stored.outbound_schedule = schedule
    stored.save(update_fields=["outbound_schedule"])
    hotline.outbound_schedule = schedule  # the caller's instance tells the truth too
    audit_record(
        action=Action.UPDATE,
        obj=stored,
        tenant_id=stored.tenant_id,
        changes={"outbound_schedule": [before, after]},
    )
    return stored
