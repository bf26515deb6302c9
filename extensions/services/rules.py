"""The rules for a set of extensions (máy lẻ) as a write would leave them, in memory.

Every entry point — the form, the API, range create, bulk edit, CSV — builds `Draft`s and
`batch.check()` runs these same functions over them, so one rule gives one answer wherever the
change comes from. Nothing here queries the database: `batch` loads what the rules need.

- `draft_errors`: one extension — its fields (the model owns every limit), `Extension.clean()`
  (supervisor on the same hotline, not itself), the caller-ID pool's tenant, a chosen password's
  policy.
- `supervision_cycles`: supervisor chains that come back to where they start, over the stored
  extensions with the drafts in place of their rows.
- `duplicate_errors`: numbers and aliases used twice on a hotline, by drafts or stored rows.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from hotlines.models import Hotline, NumberGroup

from ..models import Extension
from ..validators import canonical_networks, validate_sip_password

# Controls the SIP server enforces (outbound schedule, where from, how much): plain columns.
CONTROL_FIELDS = [
    "outbound_schedule",
    "allowed_networks",
    "max_contacts",
    "max_calls_per_minute",
    "max_calls_per_day",
    "max_call_seconds",
]

# Not typed by anyone (secrets, bookkeeping) or checked by the batch (relations, uniqueness).
NOT_FIELD_CHECKED = [
    "id",
    "hotline",
    "supervisor",
    "outbound_schedule",
    "password_encrypted",
    "ha1",
    "ha1b",
    "version",
    "created_at",
    "updated_at",
]
AUDITED_FIELDS = [
    "number",
    "alias",
    "call_permission",
    "supervisor",
    "outbound_hotlines",
    "outbound_groups",
    "description",
    "enabled",
    *CONTROL_FIELDS,
]
PASSWORD = "password"


@dataclass(eq=False)
class Draft:
    """One extension as the write would leave it.

    `extension` is a new instance or the stored row (locked) with the new values set;
    `hotlines`/`groups` are its caller-ID pool after the write, or None when the write leaves
    them alone; `password` is a password someone chose (policy-checked, and counted by the
    guard), `regenerate` asks for a generated one (new extensions always get one otherwise).
    `key` names the extension in errors about a batch (its number, or the CSV line's number).
    """

    extension: Extension
    key: str
    before: dict[str, Any] | None = None  # audit values of the stored row; None: new
    hotlines: list[Hotline] | None = None
    groups: list[NumberGroup] | None = None
    password: str = field(default="", repr=False)
    regenerate: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Filled by the writer.
    changes: dict[str, list] = field(default_factory=dict)
    new_password: str = field(default="", repr=False)

    @property
    def is_new(self) -> bool:
        return self.before is None

    def add_errors(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            known = self.errors.setdefault(name, [])
            known.extend(str(m) for m in messages if str(m) not in known)


def field_label(name: str) -> str:
    if name == PASSWORD:
        return str(capfirst(_("password")))
    try:
        return str(capfirst(getattr(Extension._meta.get_field(name), "verbose_name", name)))
    except Exception:  # noqa: BLE001 - not a model field
        return str(capfirst(_(name)))


def labelled(errors: dict[str, list[str]]) -> list[str]:
    """`{"alias": ["…"]}` → `["Alias: …"]`, for a list of one extension's problems."""
    return [
        message if name in (NON_FIELD_ERRORS, "") else f"{field_label(name)}: {message}"
        for name, messages in errors.items()
        for message in messages
    ]


def constraint_message(name: str) -> str:
    return next(str(c.violation_error_message) for c in Extension._meta.constraints if c.name == name)


def audit_values(draft: Draft, *, hotline_ids: Iterable[int], group_ids: Iterable[int]) -> dict[str, Any]:
    """What the audit trail records of an extension, from values in memory."""
    extension = draft.extension
    return {
        "number": extension.number,
        "alias": extension.alias,
        "call_permission": extension.call_permission,
        "supervisor": extension.supervisor_id if (extension.supervisor_id or 0) > 0 else None,
        "outbound_hotlines": sorted(hotline_ids),
        "outbound_groups": sorted(group_ids),
        "description": extension.description,
        "enabled": extension.enabled,
        "outbound_schedule": extension.outbound_schedule_id,
        "allowed_networks": list(extension.allowed_networks or []),
        "max_contacts": extension.max_contacts,
        "max_calls_per_minute": extension.max_calls_per_minute,
        "max_calls_per_day": extension.max_calls_per_day,
        "max_call_seconds": extension.max_call_seconds,
    }


@sensitive_variables()
def draft_errors(draft: Draft, *, tenant_id: int) -> dict[str, list[str]]:
    """Every problem of one extension that needs no other row (see the module's docstring)."""
    extension = draft.extension
    errors: dict[str, list] = {}
    try:
        extension.clean_fields(exclude=NOT_FIELD_CHECKED)
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if "allowed_networks" not in errors and extension.allowed_networks:
        extension.allowed_networks = canonical_networks(extension.allowed_networks)
    # The alias rule's one message already says when it is too long: not the field's too.
    alias_errors = errors.get("alias", [])
    if any(getattr(e, "code", None) == "alias_invalid" for e in alias_errors):
        errors["alias"] = [e for e in alias_errors if getattr(e, "code", None) != "max_length"]
    # Only a supervisor the entry point set is checked here (a stored one passed when it was
    # set), and without a query: it is the object in memory, perhaps a new row of the batch.
    supervisor = extension.supervisor if Extension.supervisor.is_cached(extension) else None
    if supervisor is not None:
        if supervisor is extension or (extension.pk is not None and supervisor.pk == extension.pk):
            errors.setdefault("supervisor", []).append(_("An extension cannot supervise itself."))
        elif supervisor.hotline_id != extension.hotline_id:
            errors.setdefault("supervisor", []).append(
                _("The supervisor must be an extension of the same hotline.")
            )
    if draft.hotlines is not None and any(h.tenant_id != tenant_id for h in draft.hotlines):
        errors.setdefault("outbound_hotlines", []).append(
            _("A caller-ID hotline belongs to another customer.")
        )
    # A schedule the entry point set (the object in memory, no query) is the tenant's own.
    schedule = extension.outbound_schedule if Extension.outbound_schedule.is_cached(extension) else None
    if schedule is not None and schedule.tenant_id != tenant_id:
        errors.setdefault("outbound_schedule", []).append(_("This schedule belongs to another customer."))
    if draft.groups is not None and any(g.tenant_id != tenant_id for g in draft.groups):
        errors.setdefault("outbound_groups", []).append(_("A number group belongs to another customer."))
    if draft.password:
        try:
            validate_sip_password(draft.password, number=extension.number, alias=extension.alias)
        except ValidationError as exc:
            errors.setdefault(PASSWORD, []).extend(exc.messages)
    return ValidationError(errors).message_dict if errors else {}


def supervision_cycles(graph: dict[int, tuple[int | None, str]], keys: Iterable[int]) -> dict[int, str]:
    """For each node of `keys` that lies on a supervision cycle, the cycle from it as numbers
    ("100 → 101 → 100"). `graph` maps node → (its supervisor's node or None, its number); every
    node has at most one supervisor, so each walk ends or loops. Linear in the graph's size:
    every node is walked once."""
    state: dict[int, int] = {}  # 1: on the current walk, 2: done
    on_cycle: set[int] = set()
    for start in graph:
        if start in state:
            continue
        path: list[int] = []
        node: int | None = start
        while node is not None and node in graph and node not in state:
            state[node] = 1
            path.append(node)
            node = graph[node][0]
        if node is not None and state.get(node) == 1:  # came back into this walk: a cycle
            on_cycle.update(path[path.index(node) :])
        for visited in path:
            state[visited] = 2
    result = {}
    for key in keys:
        if key in on_cycle and graph[key][0] != key:  # supervising itself is said as such
            chain, node = [graph[key][1]], graph[key][0]
            while node is not None and node != key:  # on a cycle, so never None
                chain.append(graph[node][1])
                node = graph[node][0]
            chain.append(graph[key][1])
            result[key] = " → ".join(chain)
    return result


def duplicate_errors(
    drafts: list[Draft], stored: Iterable[tuple[int, int, str, str]]
) -> dict[Draft, dict[str, list[str]]]:
    """Numbers and aliases that two extensions of one hotline would share. `stored` holds
    `(pk, hotline_id, number, alias)` of rows the drafts could clash with; rows that are drafts
    count with their new values."""
    in_batch = {d.extension.pk for d in drafts if not d.is_new}
    numbers: dict[tuple, list] = defaultdict(list)
    aliases: dict[tuple, list] = defaultdict(list)
    for pk, hotline_id, number, alias in stored:
        if pk not in in_batch:
            numbers[(hotline_id, number)].append(number)
            aliases[(hotline_id, alias)].append(number)
    for draft in drafts:
        extension = draft.extension
        numbers[(extension.hotline_id, extension.number)].append(draft)
        if extension.alias:
            aliases[(extension.hotline_id, extension.alias)].append(draft)
    found: dict[Draft, dict[str, list[str]]] = defaultdict(dict)
    for holders, name, constraint in (
        (numbers, "number", "extension_unique_number_per_hotline"),
        (aliases, "alias", "extension_unique_alias_per_hotline"),
    ):
        message = constraint_message(constraint)
        for holding in holders.values():
            if len(holding) < 2:
                continue
            for draft in holding:
                if isinstance(draft, Draft):
                    others = sorted(
                        {h if isinstance(h, str) else h.key for h in holding if h is not draft},
                        key=lambda n: (len(n), n),
                    )
                    if name == "alias" and others:  # say with whom: "… (sale01: 101)."
                        text = f"{message.rstrip('.')} ({draft.extension.alias}: {', '.join(others)})."
                    else:
                        text = message
                    found[draft].setdefault(name, []).append(text)
    return found
