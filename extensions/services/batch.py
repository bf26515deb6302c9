"""The one write path for extensions (máy lẻ): load → check → write, for one or ten thousand.

Entry points (`single`, `bulk`, `extensions.imports`) turn their input into `Draft`s, then:

1. `lock_drafts()` locks the stored rows a write changes (by primary key, in id order) and
   gives each its draft with the values it has now;
2. `check()` runs `rules` over all drafts at once, asking the database only for what the drafts
   could clash with (numbers and aliases, supervisor chains);
3. `write()` writes every draft in a few statements — `bulk_create`, one `UPDATE … FROM
   (VALUES …)` per 1,000 rows, the caller-ID pools — with an audit row per extension in the same
   transaction, and sends `extensions.signals` on commit (a disabled extension's phones are
   signed out by the SIP side).

A password someone chose is checked by the rules, counted by the guard (`guard_chosen`) and
audited as a reveal: knowing a password you just set is the same as revealing it.
"""

from collections.abc import Iterable, Sequence

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.context import current_request
from audit.services import audit_record_many, diff
from core.guard import Access, guard_access
from core.services import bulk_update_values, integrity_as_validation
from hotlines.models import Hotline, NumberGroup

from ..models import Extension
from ..passwords import generate_sip_password
from ..provisioning import provisioning_links_revoke
from ..signals import (
    extensions_created,
    extensions_disabled,
    extensions_password_changed,
    extensions_updated,
)
from ..validators import clean_sip_password
from .rules import CONTROL_FIELDS, Draft, audit_values, draft_errors, duplicate_errors, supervision_cycles

WRITE_BATCH = 1000
HotlineThrough = Extension.outbound_hotlines.through
GroupThrough = Extension.outbound_groups.through
# Columns an update writes: every editable one, the secrets (the row's own values when the
# password does not change) and the bookkeeping.
UPDATE_COLUMNS = [
    "alias",
    "call_permission",
    "supervisor",
    "description",
    "enabled",
    *CONTROL_FIELDS,
    "password_encrypted",
    "ha1",
    "ha1b",
    "version",
    "updated_at",
]


# --- loading --------------------------------------------------------------------------------


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


def lock_extensions(pks: Iterable[int]) -> list[Extension]:
    """The rows, locked by primary key in id order (every writer locks in the same order, so
    two writers cannot deadlock), with their hotlines."""
    return list(
        Extension.objects.select_for_update(of=("self",))
        .select_related("hotline")
        .filter(pk__in=set(pks))
        .order_by("pk")
    )


def drafts_for(extensions: Sequence[Extension], *, key=lambda e: e.number) -> list[Draft]:
    """A draft per stored extension, its `before` as it is stored (two queries)."""
    hotlines_of, groups_of = m2m_ids(e.pk for e in extensions)
    drafts = []
    for extension in extensions:
        draft = Draft(extension=extension, key=key(extension))
        draft.before = audit_values(
            draft, hotline_ids=hotlines_of.get(extension.pk, ()), group_ids=groups_of.get(extension.pk, ())
        )
        drafts.append(draft)
    return drafts


# --- checking -------------------------------------------------------------------------------


def _cached_supervisor(extension: Extension) -> Extension | None:
    """The supervisor object an entry point set (None when it set none or left it alone)."""
    if Extension.supervisor.is_cached(extension):
        return extension.supervisor
    return None


def check(drafts: list[Draft], *, tenant_id: int) -> bool:
    """Run every rule over the drafts; problems go to each draft's `errors`. True when none."""
    for draft in drafts:
        draft.password = clean_sip_password(draft.password)
        draft.add_errors(draft_errors(draft, tenant_id=tenant_id))
    hotline_ids = {d.extension.hotline_id for d in drafts}
    # A chain can only close through a supervisor this batch changes: a stored extension given
    # a new one, or a new extension supervised by another new one.
    nodes = {id(d.extension): (d.extension.pk if not d.is_new else -(i + 1)) for i, d in enumerate(drafts)}
    changed_chain = False
    for draft in drafts:
        supervisor = _cached_supervisor(draft.extension)
        if supervisor is not None and (not draft.is_new or supervisor.pk is None):
            changed_chain = True
    if changed_chain:
        stored = list(
            Extension.objects.filter(hotline_id__in=hotline_ids).values_list(
                "pk", "hotline_id", "number", "alias", "supervisor_id"
            )
        )
        graph: dict[int, tuple[int | None, str]] = {pk: (sup, number) for pk, _h, number, _a, sup in stored}
        for draft in drafts:
            extension = draft.extension
            supervisor = _cached_supervisor(extension)
            if supervisor is not None:
                sup_node = nodes.get(id(supervisor), supervisor.pk)
            elif Extension.supervisor.is_cached(extension):  # explicitly none
                sup_node = None
            else:
                sup_node = extension.supervisor_id
            graph[nodes[id(extension)]] = (sup_node, extension.number)
        by_node = {nodes[id(d.extension)]: d for d in drafts}
        for node, chain in supervision_cycles(graph, by_node).items():
            by_node[node].add_errors(
                {"supervisor": [_cycle_message(chain)]},
            )
        clash_rows = [(pk, h, number, alias) for pk, h, number, alias, _s in stored]
    else:
        numbers = [d.extension.number for d in drafts]
        aliases = [d.extension.alias for d in drafts if d.extension.alias]
        clash_rows = list(
            Extension.objects.filter(hotline_id__in=hotline_ids)
            .filter(Q(number__in=numbers) | Q(alias__in=aliases))
            .values_list("pk", "hotline_id", "number", "alias")
        )
    for draft, errors in duplicate_errors(drafts, clash_rows).items():
        draft.add_errors(errors)
    return not any(d.errors for d in drafts)


def _cycle_message(chain: str) -> str:
    return _("This would make a supervision cycle (%(chain)s).") % {"chain": chain}


# --- the guard for chosen passwords ----------------------------------------------------------


@sensitive_variables()
def guard_chosen(drafts: Iterable[Draft], *, user, session) -> int:
    """Count the passwords these drafts set by choice against the user's single budget (after a
    recent sign-in, for browser sessions). Inside a request the user must be given: a route
    that forgot it would otherwise hand out passwords unguarded."""
    count = sum(1 for d in drafts if d.password)
    if not count:
        return 0
    if user is None:
        request = current_request.get()
        if request is not None and getattr(getattr(request, "user", None), "is_authenticated", False):
            raise ImproperlyConfigured("A chosen SIP password inside a request needs the guard (user=…).")
        return count
    guard_access(user=user, session=session, access=Access.SECRET, count=count)
    return count


# --- writing --------------------------------------------------------------------------------


def _pool_ids(draft: Draft, attr: str, stored_attr: str) -> list[int]:
    chosen = getattr(draft, attr)
    if chosen is not None:
        return sorted({o.pk for o in chosen})
    return list(draft.before[stored_attr]) if draft.before is not None else []


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
            (  # type: ignore[misc]  # the two through models share this loop
                through(extension_id=ext_id, **{column: target_id})
                for ext_id in extension_ids
                for target_id in mapping.get(ext_id, ())
            ),
            batch_size=2000,
        )


def planned_changes(draft: Draft) -> dict[str, list]:
    """{field: [old, new]} of what writing the draft changes, as the audit trail records it."""
    after = audit_values(
        draft,
        hotline_ids=_pool_ids(draft, "hotlines", "outbound_hotlines"),
        group_ids=_pool_ids(draft, "groups", "outbound_groups"),
    )
    changes = diff(draft.before or {}, after)
    if draft.password or draft.regenerate or draft.is_new:
        changes["password"] = ["", "generated" if draft.regenerate else "set"]
    return changes


# Relations the audit trail names as people know them: {field: (model, attribute shown)}.
NAMED_RELATIONS = {
    "supervisor": (Extension, "number"),
    "outbound_hotlines": (Hotline, "number"),
    "outbound_groups": (NumberGroup, "name"),
}


def name_relations(changes_of: Sequence[dict[str, list]], known: dict[str, dict[int, str]]) -> None:
    """Replace the ids of relations in audited changes, in place, by what people read: the
    supervisor's extension number, the caller-ID hotlines' numbers, the number groups' names
    (the audit trail then reads right even after the row is renamed or deleted). `known` holds
    what is in memory already; the rest costs one query per relation, whatever the batch size,
    and none when no relation changed."""
    missing: dict[str, set[int]] = {name: set() for name in NAMED_RELATIONS}
    for changes in changes_of:
        for name in NAMED_RELATIONS:
            for value in changes.get(name, ()):
                for pk in value if isinstance(value, list) else [value]:
                    if isinstance(pk, int) and pk not in known.get(name, {}):
                        missing[name].add(pk)
    names = {name: dict(known.get(name, {})) for name in NAMED_RELATIONS}
    for name, pks in missing.items():
        if pks:
            model, attribute = NAMED_RELATIONS[name]
            names[name].update(model._default_manager.filter(pk__in=pks).values_list("pk", attribute))

    def shown(name: str, value):
        if isinstance(value, list):
            return [names[name].get(pk, str(pk)) for pk in value]
        return None if value is None else names[name].get(value, str(value))

    for changes in changes_of:
        for name in NAMED_RELATIONS:
            if name in changes:
                changes[name] = [shown(name, value) for value in changes[name]]


def _known_names(drafts: Iterable[Draft]) -> dict[str, dict[int, str]]:
    """Numbers and names the drafts hold in memory, by id."""
    known: dict[str, dict[int, str]] = {name: {} for name in NAMED_RELATIONS}
    for draft in drafts:
        extension = draft.extension
        known["supervisor"][extension.pk] = extension.number
        if (supervisor := _cached_supervisor(extension)) is not None:
            known["supervisor"][supervisor.pk] = supervisor.number
        known["outbound_hotlines"].update((h.pk, h.number) for h in draft.hotlines or ())
        known["outbound_groups"].update((g.pk, g.name) for g in draft.groups or ())
    return known


def _repr(extension: Extension) -> str:
    return f"{extension.number} ({extension.alias})"


@sensitive_variables()
def write(
    drafts: list[Draft],
    *,
    tenant_id: int,
    progress=None,
    actor=None,
    update_action: Action = Action.UPDATE,
) -> list[Draft]:
    """Write checked drafts (inside the caller's transaction: all or nothing); returns the
    drafts that created or changed something, each with its `changes` as audited.
    `progress(done, total)` is told after each statement."""
    assert transaction.get_connection().in_atomic_block, "write() runs inside the caller's transaction"
    progress = progress or (lambda done, total: None)
    total = len(drafts)
    for draft in drafts:
        if draft.password:
            draft.extension.set_sip_password(draft.password)
        elif draft.regenerate or draft.is_new:
            draft.new_password = generate_sip_password()
            draft.extension.set_sip_password(draft.new_password)
    created = [d for d in drafts if d.is_new]
    stored = [d for d in drafts if not d.is_new]
    # Every supervisor set by an entry point, kept across the INSERT: one that is itself new
    # gets its id only then.
    supervisors = {id(d): s for d in drafts if (s := _cached_supervisor(d.extension)) is not None}
    for draft in created:
        if id(draft) in supervisors:
            draft.extension.supervisor = None
        draft.extension.pk = None
    with integrity_as_validation(Extension), transaction.atomic():
        for start in range(0, len(created), WRITE_BATCH):
            Extension.objects.bulk_create([d.extension for d in created[start : start + WRITE_BATCH]])
            progress(min(start + WRITE_BATCH, len(created)), total)
        for draft in drafts:
            if id(draft) in supervisors:
                draft.extension.supervisor = supervisors[id(draft)]
        bulk_update_values(
            Extension,
            [d.extension for d in created if id(d) in supervisors],
            ["supervisor"],
            batch_size=WRITE_BATCH,
        )
        for draft in drafts:
            draft.changes = planned_changes(draft)
        updated = [d for d in stored if d.changes]
        now = timezone.now()
        for draft in updated:
            draft.extension.version += 1
            draft.extension.updated_at = now
        for start in range(0, len(updated), WRITE_BATCH):
            bulk_update_values(
                Extension, [d.extension for d in updated[start : start + WRITE_BATCH]], UPDATE_COLUMNS
            )
            progress(len(created) + min(start + WRITE_BATCH, len(updated)), total)
    progress(total, total)

    for attr, stored_attr in (("hotlines", "outbound_hotlines"), ("groups", "outbound_groups")):
        mapping = {
            d.extension.pk: _pool_ids(d, attr, stored_attr)
            for d in created + updated
            if (getattr(d, attr) if d.is_new else getattr(d, attr) is not None and stored_attr in d.changes)
        }
        if mapping and attr == "hotlines":
            replace_m2m(extension_ids=list(mapping), hotlines=dict(mapping))
        elif mapping:
            replace_m2m(extension_ids=list(mapping), groups=dict(mapping))

    name_relations([d.changes for d in created + updated], _known_names(drafts))
    for action, written in ((Action.CREATE, created), (update_action, updated)):
        audit_record_many(
            action=action,
            tenant_id=tenant_id,
            actor=actor,
            entries=((d.extension, d.changes, _repr(d.extension)) for d in written),
        )
    # Whoever chose a password knows it: recorded as a reveal, as the guard counted it.
    audit_record_many(
        action=Action.REVEAL,
        tenant_id=tenant_id,
        actor=actor,
        entries=(
            (d.extension, {"password": ["", "chosen"]}, _repr(d.extension)) for d in drafts if d.password
        ),
    )
    disabled = [d.extension for d in updated if (d.before or {}).get("enabled") and not d.extension.enabled]
    if disabled:
        provisioning_links_revoke(extensions=disabled)
        transaction.on_commit(lambda: extensions_disabled.send(sender=Extension, extensions=disabled))
    _announce(created, updated)
    return created + updated


def _announce(created: list[Draft], updated: list[Draft]) -> None:
    """Tell the apps above (webhooks) what was written, once it has committed."""
    changed = {d.extension.pk: {k: v for k, v in d.changes.items() if k != "password"} for d in updated}
    changed = {pk: changes for pk, changes in changed.items() if changes}
    new_password = [d.extension for d in updated if "password" in d.changes]
    by_pk = {d.extension.pk: d.extension for d in updated}

    def send() -> None:
        if created:
            extensions_created.send(sender=Extension, extensions=[d.extension for d in created])
        if changed:
            extensions_updated.send(
                sender=Extension, extensions=[by_pk[pk] for pk in changed], changes=changed
            )
        if new_password:
            extensions_password_changed.send(sender=Extension, extensions=new_password)

    if created or changed or new_password:
        transaction.on_commit(send)
