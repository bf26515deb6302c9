"""Bulk work on extensions (máy lẻ): a range at once, one change to many, new passwords for many.

Thin entry points over `batch`: the same rules and the same writer as a single create or
update, run once over the whole batch. Errors about single extensions are reported per extension
number (`{"105": ["Alias: …"]}`), next to errors about the request itself (`{"last": ["…"]}`), in
one `BulkValidationError`; then nothing is written.
"""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record_many
from core.guard import Access, guard_access
from hotlines.models import Hotline, NumberGroup

from ..choices import CallPermission
from ..models import Extension
from ..validators import validate_extension_number
from . import batch
from .rules import CONTROL_FIELDS, Draft, field_label, labelled

MAX_BATCH = 1000  # extensions per range create, bulk edit or bulk password regeneration
NUMBER_PLACEHOLDER = "{n}"
BULK_EDITABLE_FIELDS = (
    "call_permission",
    "supervisor",
    "outbound_hotlines",
    "outbound_groups",
    "enabled",
    *CONTROL_FIELDS,
)
# Errors a range's numbers and aliases have each; others are the same for every number.
PER_NUMBER_FIELDS = ("number", "alias")


class BulkValidationError(ValidationError):
    """Errors keyed by extension number (and by request field); nothing was written."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__({key: list(messages) for key, messages in errors.items()})


def _by_number(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    return dict(sorted(errors.items(), key=lambda item: (len(item[0]), item[0])))


def _raise_for(drafts: list[Draft], *, shared_fields: Iterable[str] = ()) -> None:
    """One BulkValidationError for every draft's problems: fields in `shared_fields` are said
    once, about the request; the rest per extension number."""
    shared: dict[str, list[str]] = {}
    per_number: dict[str, list[str]] = {}
    for draft in drafts:
        for name, messages in draft.errors.items():
            if name in shared_fields:
                known = shared.setdefault(name, [])
                known.extend(m for m in messages if m not in known)
            else:
                per_number.setdefault(draft.key, []).extend(labelled({name: messages}))
    if shared or per_number:
        raise BulkValidationError({**shared, **_by_number(per_number)})


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
    drafts = []
    for number in numbers:
        extension = Extension(
            hotline=hotline,
            number=number,
            alias=alias_pattern.replace(NUMBER_PLACEHOLDER, number),
            description=description,
            enabled=enabled,
        )
        if supervisor is not None:
            extension.supervisor = supervisor
        if call_permission is not None:
            extension.call_permission = call_permission
        drafts.append(
            Draft(extension=extension, key=number, hotlines=outbound_hotlines, groups=outbound_groups)
        )
    if not batch.check(drafts, tenant_id=hotline.tenant_id):
        shared = {name for d in drafts for name in d.errors if name not in PER_NUMBER_FIELDS}
        _raise_for(drafts, shared_fields=shared)
    batch.write(drafts, tenant_id=hotline.tenant_id)
    return [d.extension for d in drafts]


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


def _lock_drafts(extensions: Iterable[Extension]) -> list[Draft]:
    ids = {e.pk for e in extensions}
    _check_batch_size(len(ids))
    locked = batch.lock_extensions(ids)
    if len(locked) != len(ids):
        raise ValidationError(
            _("Some of the selected extensions were deleted meanwhile; reload the list and select again."),
            code="stale",
        )
    return batch.drafts_for(locked)


def _plan_bulk_update(*, extensions, data) -> list[Draft]:
    unknown = set(data) - set(BULK_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not bulk-editable: {sorted(unknown)}")
    drafts = _lock_drafts(extensions)
    for draft in drafts:
        extension = draft.extension
        for name in ("call_permission", "enabled", "supervisor", *CONTROL_FIELDS):
            if name in data:
                setattr(extension, name, data[name])
        if "outbound_hotlines" in data:
            draft.hotlines = list(data["outbound_hotlines"])
        if "outbound_groups" in data:
            draft.groups = list(data["outbound_groups"])
    if not batch.check(drafts, tenant_id=drafts[0].extension.hotline.tenant_id):
        _raise_for(drafts)
    return drafts


def preview_bulk_update(
    *, extensions: Iterable[Extension], data: dict[str, Any]
) -> list[tuple[Extension, dict[str, list[str]]]]:
    """What `extension_bulk_update` would change, without writing: for each extension that
    would change, {field label: [old, new]} as people read them (numbers and names, not ids).
    Raises BulkValidationError like the update itself."""
    with transaction.atomic():
        drafts = _plan_bulk_update(extensions=extensions, data=data)
        transaction.set_rollback(True)  # releases the row locks; nothing was written anyway
    changed = [(d.extension, changes) for d in drafts if (changes := batch.planned_changes(d))]
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


@transaction.atomic
def extension_bulk_update(*, extensions: Iterable[Extension], data: dict[str, Any]) -> list[Extension]:
    """Give many extensions the same call permission, supervisor, caller-ID hotlines, number
    groups and/or enabled flag (`data` holds only what changes). The rules are checked for
    every extension first — a supervisor may not supervise itself or close a supervision
    cycle — then one UPDATE and one audit record per extension that changed."""
    drafts = _plan_bulk_update(extensions=extensions, data=data)
    written = batch.write(drafts, tenant_id=drafts[0].extension.hotline.tenant_id)
    return [d.extension for d in written]


@sensitive_variables()
@transaction.atomic
def extension_bulk_regenerate_passwords(
    *, extensions: Iterable[Extension], user=None, session=None
) -> list[tuple[Extension, str]]:
    """A new generated password for each extension; returns them with their passwords.

    With a `user` the passwords are for that user's eyes: a bulk operation of the guard
    (recent sign-in, the bulk budget), and each reveal is audited too; without one (the
    dashboard, which shows no password here) only the regeneration is recorded.
    """
    drafts = _lock_drafts(extensions)
    if user is not None:
        guard_access(user=user, session=session, access=Access.BULK)
    for draft in drafts:
        draft.regenerate = True
    tenant_id = drafts[0].extension.hotline.tenant_id
    batch.write(drafts, tenant_id=tenant_id, update_action=Action.ROTATE_PASSWORD)
    if user is not None:
        audit_record_many(
            action=Action.REVEAL,
            tenant_id=tenant_id,
            actor=user,
            entries=(
                (d.extension, {"count": [0, len(drafts)]}, f"{d.extension.number} ({d.extension.alias})")
                for d in drafts
            ),
        )
    return [(d.extension, d.new_password) for d in drafts]
