"""Bulk work on extensions (máy lẻ): a range at once, one change to many, new passwords for many.

The rules are the ones `services.extension_create` / `extension_update` apply to one extension
(the field validators, `Extension.clean()` for the supervisor, the caller-ID pool check, the
password generator and `Extension.set_sip_password`), run over the whole batch in memory; the
database is asked once for what the batch could clash with, then written with `bulk_create` /
`update()` in one transaction, with one audit record per extension. The database's unique
constraints stay the last guard against a concurrent writer.

Errors about single extensions are reported per extension number (`{"105": ["Alias: …"]}`), next
to errors about the request itself (`{"last": ["…"]}`), in one `BulkValidationError`; then
nothing is written.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxLengthValidator
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record_many, diff
from core.services import bulk_update_values, integrity_as_validation
from hotlines.models import Hotline, NumberGroup

from .choices import CallPermission
from .guard import check_reveal_allowed
from .models import Extension
from .passwords import generate_sip_password
from .services import AUDITED_FIELDS, _validate_caller_id_pool
from .validators import validate_extension_number

MAX_BATCH = 1000  # extensions per range create, bulk edit or bulk password regeneration
NUMBER_PLACEHOLDER = "{n}"
BULK_EDITABLE_FIELDS = ("call_permission", "supervisor", "outbound_hotlines", "outbound_groups", "enabled")
# Checked elsewhere (relations, uniqueness) or not typed by anyone (secrets, bookkeeping).
NOT_FIELD_CHECKED = [
    "id",
    "hotline",
    "supervisor",
    "password_encrypted",
    "ha1",
    "ha1b",
    "version",
    "created_at",
    "updated_at",
]
DESCRIPTION_MAX_LENGTH = Extension._meta.get_field("description").max_length

HotlineThrough = Extension.outbound_hotlines.through
GroupThrough = Extension.outbound_groups.through


class BulkValidationError(ValidationError):
    """Errors keyed by extension number (and by request field); nothing was written."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__({key: list(messages) for key, messages in errors.items()})


# --- the per-extension rules, reused from the model ---------------------------------------------


def field_label(name: str) -> str:
    try:
        return capfirst(Extension._meta.get_field(name).verbose_name)
    except Exception:  # noqa: BLE001 - not a model field (e.g. "password")
        return capfirst(_(name))


def rule_errors(extension: Extension) -> dict[str, list[str]]:
    """Every problem of one extension the model knows without asking the database: its
    fields' validators, choices and blanks, and `Extension.clean()` (supervisor on the same
    hotline, not itself, no cycle — walked through supervisor objects already in memory)."""
    errors: dict[str, list] = {}
    try:
        extension.clean_fields(exclude=NOT_FIELD_CHECKED)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    try:
        MaxLengthValidator(DESCRIPTION_MAX_LENGTH)(extension.description)
    except ValidationError as exc:
        errors.setdefault("description", []).extend(exc.error_list)
    try:
        extension.clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    return ValidationError(errors).message_dict if errors else {}


def labelled(errors: dict[str, list[str]]) -> list[str]:
    """`{"alias": ["…"]}` → `["Alias: …"]`, for a list of one extension's problems."""
    return [
        message if field == NON_FIELD_ERRORS else f"{field_label(field)}: {message}"
        for field, messages in errors.items()
        for message in messages
    ]


def constraint_message(name: str) -> str:
    return next(str(c.violation_error_message) for c in Extension._meta.constraints if c.name == name)


def audit_values(
    extension: Extension, hotline_ids: Iterable[int], group_ids: Iterable[int]
) -> dict[str, Any]:
    """What `audit.services.snapshot(extension, AUDITED_FIELDS)` records, from values in memory
    (snapshot would read both many-to-many relations per extension)."""
    values = {
        name: getattr(extension, name)
        for name in AUDITED_FIELDS
        if name not in ("supervisor", "outbound_hotlines", "outbound_groups")
    }
    values["supervisor"] = extension.supervisor_id
    values["outbound_hotlines"] = sorted(hotline_ids)
    values["outbound_groups"] = sorted(group_ids)
    return values


def m2m_ids(extension_ids: Iterable[int]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """The caller-ID hotline ids and number-group ids of each extension: two queries."""
    hotlines: dict[int, list[int]] = {}
    groups: dict[int, list[int]] = {}
    ids = list(extension_ids)
    for ext_id, hotline_id in HotlineThrough.objects.filter(extension_id__in=ids).values_list(
        "extension_id", "hotline_id"
    ):
        hotlines.setdefault(ext_id, []).append(hotline_id)
    for ext_id, group_id in GroupThrough.objects.filter(extension_id__in=ids).values_list(
        "extension_id", "numbergroup_id"
    ):
        groups.setdefault(ext_id, []).append(group_id)
    return hotlines, groups


def replace_m2m(
    *,
    extension_ids: Sequence[int],
    hotlines: dict[int, Iterable[int]] | None = None,
    groups: dict[int, Iterable[int]] | None = None,
) -> None:
    """Set the caller-ID hotlines and/or number groups of many extensions: a DELETE and an
    INSERT per relation instead of a `.set()` per extension."""
    for mapping, through, column in (
        (hotlines, HotlineThrough, "hotline_id"),
        (groups, GroupThrough, "numbergroup_id"),
    ):
        if mapping is None:
            continue
        through.objects.filter(extension_id__in=extension_ids).delete()
        through.objects.bulk_create(
            (
                through(extension_id=ext_id, **{column: target_id})
                for ext_id in extension_ids
                for target_id in mapping.get(ext_id, ())
            ),
            batch_size=2000,
        )


def _audit_repr(extension: Extension) -> str:
    return f"{extension.number} ({extension.alias})"


# --- range create -------------------------------------------------------------------------------


def range_numbers(first: str, last: str) -> list[str]:
    """The extension numbers from `first` to `last`; zero-padded when both have the same width
    (`090`–`110` → `090`, `091`, …)."""
    errors: dict[str, list[str]] = {}
    for name, value in (("first", first), ("last", last)):
        try:
            validate_extension_number(value)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    start, end = int(first), int(last)
    if end < start:
        raise ValidationError({"last": _("The last number must not be smaller than the first.")})
    if end - start + 1 > MAX_BATCH:
        raise ValidationError(
            {
                "last": ngettext(
                    "A range has at most %(max)d number; this one has %(count)d.",
                    "A range has at most %(max)d numbers; this one has %(count)d.",
                    MAX_BATCH,
                )
                % {"max": MAX_BATCH, "count": end - start + 1}
            }
        )
    width = len(first) if len(first) == len(last) else 0
    return [str(n).zfill(width) for n in range(start, end + 1)]


@transaction.atomic
def extension_range_create(
    *,
    hotline: Hotline,
    first: str,
    last: str,
    alias_pattern: str,
    call_permission: int | None = None,
    supervisor: Extension | None = None,
    outbound_hotlines: Iterable[Hotline] = (),
    outbound_groups: Iterable[NumberGroup] = (),
    description: str = "",
    enabled: bool = True,
) -> list[Extension]:
    """Create extensions `first`…`last` (at most MAX_BATCH) with aliases from `alias_pattern`,
    where `{n}` stands for the number (`sale{n}` → sale100, sale101, …), sharing the other
    settings; each gets its own generated password. All or nothing."""
    numbers = range_numbers(first, last)
    if NUMBER_PLACEHOLDER not in alias_pattern:
        raise ValidationError(
            {"alias_pattern": _("Put {n} where the number goes, e.g. sale{n} for sale100, sale101, …")}
        )
    outbound_hotlines, outbound_groups = list(outbound_hotlines), list(outbound_groups)
    shared_errors: dict[str, list[str]] = {}
    try:
        _validate_caller_id_pool(
            hotline=hotline, outbound_hotlines=outbound_hotlines, outbound_groups=outbound_groups
        )
    except ValidationError as exc:
        shared_errors.update(exc.message_dict)
    per_number: dict[str, list[str]] = {}
    extensions = []
    for number in numbers:
        extension = Extension(
            hotline=hotline,
            number=number,
            alias=alias_pattern.replace(NUMBER_PLACEHOLDER, number),
            supervisor=supervisor,
            description=description,
            enabled=enabled,
        )
        if call_permission is not None:
            extension.call_permission = call_permission
        for field, messages in rule_errors(extension).items():
            if field in ("number", "alias"):
                per_number.setdefault(number, []).extend(labelled({field: messages}))
            else:  # the same for every number: said once, about the request
                shared_errors.setdefault(field, messages)
        extensions.append(extension)
    # One query for everything the batch could clash with on this hotline.
    wanted = set(numbers)
    aliases = {e.alias: e.number for e in extensions}
    for number, alias in (
        Extension.objects.filter(hotline=hotline)
        .filter(Q(number__in=numbers) | Q(alias__in=list(aliases)))
        .values_list("number", "alias")
    ):
        if number in wanted:
            per_number.setdefault(number, []).append(
                f"{field_label('number')}: {constraint_message('extension_unique_number_per_hotline')}"
            )
        if alias in aliases:
            per_number.setdefault(aliases[alias], []).append(
                f"{field_label('alias')} “{alias}”: "
                f"{constraint_message('extension_unique_alias_per_hotline')}"
            )
    if shared_errors or per_number:
        raise BulkValidationError(
            {**shared_errors, **dict(sorted(per_number.items(), key=lambda item: (len(item[0]), item[0])))}
        )

    for extension in extensions:
        extension.set_sip_password(generate_sip_password())
    with integrity_as_validation(Extension), transaction.atomic():
        Extension.objects.bulk_create(extensions, batch_size=MAX_BATCH)
    hotline_ids = [h.pk for h in outbound_hotlines]
    group_ids = [g.pk for g in outbound_groups]
    ids = [e.pk for e in extensions]
    replace_m2m(
        extension_ids=ids,
        hotlines=dict.fromkeys(ids, hotline_ids) if hotline_ids else None,
        groups=dict.fromkeys(ids, group_ids) if group_ids else None,
    )
    audit_record_many(
        action=Action.CREATE,
        tenant_id=hotline.tenant_id,
        entries=(
            (
                e,
                {**diff({}, audit_values(e, hotline_ids, group_ids)), "password": ["", "set"]},
                _audit_repr(e),
            )
            for e in extensions
        ),
    )
    return extensions


# --- one change to many extensions --------------------------------------------------------------


def _check_batch_size(count: int) -> None:
    if count == 0:
        raise ValidationError(_("Select at least one extension."), code="empty_selection")
    if count > MAX_BATCH:
        raise ValidationError(
            _("At most %(max)d extensions at once; %(count)d were selected.")
            % {"max": MAX_BATCH, "count": count},
            code="too_many",
        )


def _lock(extensions: Iterable[Extension]) -> list[Extension]:
    ids = {e.pk for e in extensions}
    _check_batch_size(len(ids))
    locked = list(
        Extension.objects.select_for_update(of=("self",))
        .select_related("hotline")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    if len(locked) != len(ids):
        raise ValidationError(
            _("Some of the selected extensions were deleted meanwhile; reload the list and select again."),
            code="stale",
        )
    return locked


def _link_supervisors(locked: list[Extension]) -> None:
    """Put every extension of the affected hotlines in memory, each pointing at its supervisor
    object, with the selected (changed) ones in place of their stored rows; then
    `Extension.clean()` walks supervision chains without a query per step. One query."""
    graph = {
        e.pk: e
        for e in Extension.objects.filter(hotline_id__in={e.hotline_id for e in locked}).only(
            "id", "number", "hotline_id", "supervisor_id"
        )
    }
    graph.update({e.pk: e for e in locked})
    for extension in graph.values():
        if extension.supervisor_id is not None:
            extension.supervisor = graph.get(extension.supervisor_id, extension.supervisor)


def preview_bulk_update(
    *, extensions: Iterable[Extension], data: dict[str, Any]
) -> list[tuple[Extension, dict[str, list[str]]]]:
    """What `extension_bulk_update` would change, without writing: for each extension that
    would change, {field label: [old, new]} as people read them (numbers and names, not ids).
    Raises BulkValidationError like the update itself."""
    with transaction.atomic():
        plan = _plan_bulk_update(extensions=extensions, data=data)
        transaction.set_rollback(True)  # releases the row locks; nothing was written anyway
    changed = [(extension, changes) for extension, _before, changes in plan if changes]
    ids: dict[str, set[int]] = {"supervisor": set(), "outbound_hotlines": set(), "outbound_groups": set()}
    for _extension, changes in changed:
        for field, pair in changes.items():
            if field in ids:
                for value in pair:
                    ids[field].update(value if isinstance(value, list) else [value])
    names = {
        "supervisor": dict(
            Extension.objects.filter(pk__in=ids["supervisor"] - {None}).values_list("pk", "number")
        ),
        "outbound_hotlines": {
            h.pk: h.display_number for h in Hotline.objects.filter(pk__in=ids["outbound_hotlines"])
        },
        "outbound_groups": dict(
            NumberGroup.objects.filter(pk__in=ids["outbound_groups"]).values_list("pk", "name")
        ),
    }

    def shown(field: str, value) -> str:
        if field == "call_permission":
            return str(CallPermission(value).label)
        if field == "enabled":
            return _("Yes") if value else _("No")
        if isinstance(value, list):
            return ", ".join(str(names[field].get(v, v)) for v in value) or "—"
        if field in names:
            return str(names[field].get(value, "—"))
        return str(value)

    return [
        (
            extension,
            {
                field_label(field): [shown(field, old), shown(field, new)]
                for field, (old, new) in changes.items()
            },
        )
        for extension, changes in changed
    ]


def _plan_bulk_update(*, extensions, data):
    unknown = set(data) - set(BULK_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not bulk-editable: {sorted(unknown)}")
    locked = _lock(extensions)
    hotlines_of, groups_of = m2m_ids(e.pk for e in locked)
    before = {e.pk: audit_values(e, hotlines_of.get(e.pk, ()), groups_of.get(e.pk, ())) for e in locked}
    for extension in locked:
        for field in ("call_permission", "enabled"):
            if field in data:
                setattr(extension, field, data[field])
        if "supervisor" in data:
            extension.supervisor = data["supervisor"]
    # Also without a new supervisor: clean() checks the current one's chain.
    _link_supervisors(locked)
    new_hotlines = list(data["outbound_hotlines"]) if "outbound_hotlines" in data else None
    new_groups = list(data["outbound_groups"]) if "outbound_groups" in data else None
    errors: dict[str, list[str]] = {}
    for extension in locked:
        problems = rule_errors(extension)
        try:
            _validate_caller_id_pool(
                hotline=extension.hotline,
                outbound_hotlines=new_hotlines or (),
                outbound_groups=new_groups or (),
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                problems.setdefault(field, []).extend(messages)
        if problems:
            errors[extension.number] = labelled(problems)
    if errors:
        raise BulkValidationError(errors)
    plan = []
    for extension in locked:
        after = audit_values(
            extension,
            [h.pk for h in new_hotlines] if new_hotlines is not None else hotlines_of.get(extension.pk, ()),
            [g.pk for g in new_groups] if new_groups is not None else groups_of.get(extension.pk, ()),
        )
        plan.append((extension, before[extension.pk], diff(before[extension.pk], after)))
    return plan


@transaction.atomic
def extension_bulk_update(*, extensions: Iterable[Extension], data: dict[str, Any]) -> list[Extension]:
    """Give many extensions the same call permission, supervisor, caller-ID hotlines, number
    groups and/or enabled flag (`data` holds only what changes). The rules are checked for
    every extension first — a supervisor may not supervise itself or close a supervision
    cycle — then one UPDATE and one audit record per extension that changed."""
    plan = _plan_bulk_update(extensions=extensions, data=data)
    changed = [(e, changes) for e, _before, changes in plan if changes]
    if not changed:
        return []
    ids = [e.pk for e, _changes in changed]
    now = timezone.now()
    columns = {field: data[field] for field in ("call_permission", "supervisor", "enabled") if field in data}
    with integrity_as_validation(Extension), transaction.atomic():
        Extension.objects.filter(pk__in=ids).update(**columns, version=F("version") + 1, updated_at=now)
    replace_m2m(
        extension_ids=ids,
        hotlines=dict.fromkeys(ids, [h.pk for h in data["outbound_hotlines"]])
        if "outbound_hotlines" in data
        else None,
        groups=dict.fromkeys(ids, [g.pk for g in data["outbound_groups"]])
        if "outbound_groups" in data
        else None,
    )
    for extension, _changes in changed:
        extension.version += 1
        extension.updated_at = now
    audit_record_many(
        action=Action.UPDATE,
        tenant_id=changed[0][0].hotline.tenant_id,
        entries=((e, changes, _audit_repr(e)) for e, changes in changed),
    )
    return [e for e, _changes in changed]


@sensitive_variables()
@transaction.atomic
def extension_bulk_regenerate_passwords(
    *, extensions: Iterable[Extension], user=None, session=None
) -> list[tuple[Extension, str]]:
    """A new generated password for each extension; returns them with their passwords.

    With a `user` the passwords are for that user's eyes, so the reveal guard applies first
    (as for `extension_rotate_password`) and each reveal is audited too; without one (the
    dashboard, which shows no password here) only the regeneration is recorded.
    """
    if user is not None:
        check_reveal_allowed(user=user, session=session)
    locked = _lock(extensions)
    now = timezone.now()
    result = []
    for extension in locked:
        password = generate_sip_password()
        extension.set_sip_password(password)
        extension.version += 1
        extension.updated_at = now
        result.append((extension, password))
    bulk_update_values(Extension, locked, ["password_encrypted", "ha1", "ha1b", "version", "updated_at"])
    tenant_id = locked[0].hotline.tenant_id
    audit_record_many(
        action=Action.ROTATE_PASSWORD,
        tenant_id=tenant_id,
        entries=((e, None, _audit_repr(e)) for e in locked),
    )
    if user is not None:
        audit_record_many(
            action=Action.REVEAL,
            tenant_id=tenant_id,
            actor=user,
            entries=((e, None, _audit_repr(e)) for e in locked),
        )
    return result
