"""Writing the audit trail. Call inside the service's transaction, so the record and the change
commit (or roll back) together."""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from django.db import connection, models
from django.utils import timezone

from core.net import client_ip
from core.services import bulk_insert_values

from .choices import COUNTED_ACTIONS, Action
from .context import current_request
from .models import AuditEvent

REDACTED = "••••••"
# How long one counted row keeps adding up (audit_count).
COUNT_WINDOW = timedelta(hours=1)
# Field names whose values never reach the audit trail.
SECRET_FIELDS = frozenset({"password", "password_encrypted", "ha1", "ha1b", "token", "key"})


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    """Plain values of `fields` (ids for relations, sorted id lists for many-to-many)."""
    values = {}
    for name in fields:
        field = obj._meta.get_field(name)
        if field.many_to_many:
            values[name] = sorted(o.pk for o in getattr(obj, name).all())
        elif field.is_relation:
            values[name] = getattr(obj, field.attname)
        else:
            values[name] = getattr(obj, name)
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """{field: [old, new]} for fields that changed; secrets only say that they changed."""
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            changes[name] = [REDACTED, REDACTED] if name in SECRET_FIELDS else [old, new]
    return changes


def _redact(changes: dict) -> dict:
    return {k: ([REDACTED, REDACTED] if k in SECRET_FIELDS else v) for k, v in changes.items()}


def _context(actor) -> dict[str, Any]:
    """Who, from where: the current request's user, IP and user agent unless `actor` is given."""
    request = current_request.get()
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return {
        "actor": actor,
        "actor_label": actor.get_username() if actor is not None else "",
        "ip": client_ip(request) if request is not None else None,
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else "",
    }


def _event_values(*, action, obj, tenant_id, changes, object_repr, context) -> dict[str, Any]:
    actor = context["actor"]
    return {
        "tenant_id": tenant_id,
        "action": action,
        "object_type": obj._meta.label_lower if obj is not None else "",
        "object_id": str(obj.pk) if obj is not None and obj.pk is not None else "",
        "object_repr": (object_repr or (str(obj) if obj is not None else ""))[:200],
        "changes": _redact(changes or {}),
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": context["actor_label"],
        "ip": context["ip"],
        "user_agent": context["user_agent"],
        "count": 1,
    }


def audit_record(
    *,
    action: Action | str,
    obj: models.Model | None = None,
    tenant_id: int | None = None,
    changes: dict | None = None,
    actor=None,
    object_repr: str = "",
) -> AuditEvent:
    """Record one event. Who/IP/user agent come from the current request unless given."""
    event = AuditEvent(
        **_event_values(
            action=action,
            obj=obj,
            tenant_id=tenant_id,
            changes=changes,
            object_repr=object_repr,
            context=_context(actor),
        )
    )
    event.save()
    return event


def audit_record_many(
    *,
    action: Action | str,
    entries: Iterable[tuple[models.Model, dict | None, str]],
    tenant_id: int | None,
    actor=None,
) -> int:
    """One event per `(obj, changes, object_repr)` entry, written with one INSERT per 1,000
    rows and no model instance per event (bulk work records every object it touched; an import
    of 10,000 rows writes 10,000 events). Returns how many were written."""
    context = _context(actor)
    now = timezone.now()
    rows = [
        {
            **_event_values(
                action=action,
                obj=obj,
                tenant_id=tenant_id,
                changes=changes,
                object_repr=object_repr,
                context=context,
            ),
            "created_at": now,
        }
        for obj, changes, object_repr in entries
    ]
    bulk_insert_values(AuditEvent, rows)
    return len(rows)


def audit_record_each(
    *,
    action: Action | str,
    objects: Iterable[tuple[models.Model, str]],
    changes: dict | None,
    tenant_id: int | None,
    actor=None,
) -> int:
    """One event per `(obj, object_repr)`, all with the same `changes`: what `audit_record_many`
    writes, on PostgreSQL as one `INSERT … SELECT … FROM unnest(…)`: the values the events
    share are adapted and sent once, each event's object as three arrays. 2,000 events cost
    70 ms with their commit instead of 264 ms, and an export with passwords of 100,000
    extensions writes 100,000 (docs/performance.md, "Export"). Returns how many were written."""
    objects = list(objects)
    if not objects:
        return 0
    if connection.vendor != "postgresql":
        return audit_record_many(
            action=action,
            tenant_id=tenant_id,
            actor=actor,
            entries=((obj, changes, object_repr) for obj, object_repr in objects),
        )
    shared = _event_values(
        action=action, obj=None, tenant_id=tenant_id, changes=changes, object_repr="", context=_context(actor)
    )
    shared["created_at"] = timezone.now()
    for name in ("object_type", "object_id", "object_repr"):
        del shared[name]
    meta = AuditEvent._meta
    by_name = {field.attname: field for field in meta.concrete_fields}
    fields = [by_name[name] for name in shared]
    quote = connection.ops.quote_name
    each = [by_name[name] for name in ("object_type", "object_id", "object_repr")]
    columns = ", ".join(quote(cast(str, field.column)) for field in (*fields, *each))
    casts = ", ".join(f"%s::{field.db_type(connection)}" for field in fields)
    params = [
        field.get_db_prep_save(shared[name], connection) for name, field in zip(shared, fields, strict=True)
    ]
    params += [
        [obj._meta.label_lower for obj, _ in objects],
        [str(obj.pk) for obj, _ in objects],
        [(object_repr or str(obj))[:200] for obj, object_repr in objects],
    ]
    with connection.cursor() as cursor:
        # Only quoted identifiers and database types are interpolated; values are parameters.
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT {casts}, u.t, u.i, u.r FROM unnest(%s::text[], %s::text[], %s::text[]) AS u (t, i, r)",
            params,
        )
    return len(objects)


def audit_count(
    *, action: Action | str, tenant_id: int | None = None, object_repr: str = ""
) -> AuditEvent | None:
    """Count one more event that an outsider can repeat as often as they like (a sign-in refused by
    the lockout, an unknown username): the row for the same action, tenant, object and source IP
    started within COUNT_WINDOW gets `count + 1`, so the table grows by one row per source and
    hour, not one per attempt. Returns the new row, or None when an existing one was counted.
    (Two first attempts at the same instant may both start a row; still a handful, not a flood.)"""
    if action not in COUNTED_ACTIONS:  # the index that finds the row covers these only
        raise ValueError(f"{action} is not a counted action")
    context = _context(None)
    same = AuditEvent.objects.filter(
        action=action,
        tenant_id=tenant_id,
        object_repr=object_repr[:200],
        ip=context["ip"],
        created_at__gte=timezone.now() - COUNT_WINDOW,
    )
    latest = same.order_by("-created_at", "-id").values("pk")[:1]
    if AuditEvent.objects.filter(pk__in=latest).update(count=models.F("count") + 1):
        return None
    return audit_record(action=action, tenant_id=tenant_id, object_repr=object_repr)
