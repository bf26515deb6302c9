"""Who sees which calls, and pages of them by keyset.

Visibility (the tenant rule, as for extensions): a tenant admin sees the tenant's calls; an
agent the calls their own extension made or received and those of the extensions it
supervises (máy giám sát); nobody another tenant's (absent from lists, 404 one by one).

Pages are keyset-paginated, newest first: a page is the next `size` rows after the last one
shown, `(started_at, id) < (…, …)` (a row comparison, which PostgreSQL reads as one index
range; the equivalent `a < x OR (a = x AND b < y)` made it scan and sort every older row: 51 ms
for page 200 of 1,000,000 calls). The (scope, -started_at, -id) indexes then serve any page by
reading one page of index, however deep and however many million calls there are.

"Either side" filters (an extension's calls made *or* received, an agent's team as caller or
callee, a number as caller or callee) are ORs, and PostgreSQL cannot walk two indexes in one
order: it would collect every match and sort it. A page is therefore the UNION ALL of one query
per side, each reading its own index in order and stopping after a page (`_branches`); see
docs/performance.md, "Call history".
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass

from django.db import connections
from django.db.models import F, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan
from django.db.models.sql.where import AND, OR, WhereNode
from django.http import Http404

from extensions.models import Extension
from hotlines.models import Hotline
from tenants.choices import Role
from tenants.selectors import membership_for

from .call_records import calls_of_extension
from .models import Call


def visible_extension_ids(user) -> list[int] | None:
    """The extensions whose calls an agent sees (own + supervised); None for an admin (all of
    the tenant's)."""
    membership = membership_for(user)
    if membership is None or membership.role == Role.ADMIN:
        return None
    if not membership.extension_id:
        return []
    if not hasattr(user, "_visible_extension_ids"):  # once per request, as membership_for
        team = (
            Extension.objects.filter(supervisor_id=membership.extension_id)
            .order_by()
            .values_list("pk", flat=True)
        )
        user._visible_extension_ids = [membership.extension_id, *team]
    return user._visible_extension_ids


def call_list(*, user, hotline: Hotline | None = None, extension: Extension | None = None) -> QuerySet[Call]:
    """The calls `user` may see, newest first, optionally of one hotline or one extension."""
    membership = membership_for(user)
    if membership is None:
        return Call.objects.none()
    qs = Call.objects.filter(tenant_id=membership.tenant_id)
    if hotline is not None:
        qs = qs.filter(hotline_id=hotline.pk)
    if extension is not None:
        qs = qs.filter(calls_of_extension(extension.pk))
        if _sees_all_calls_of(membership, extension):  # no team to look up, no OR to add
            return qs.order_by("-started_at", "-id")
    team = visible_extension_ids(user)
    if team is not None:
        qs = qs.filter(Q(caller_extension_id__in=team) | Q(callee_extension_id__in=team))
    return qs.order_by("-started_at", "-id")


def _sees_all_calls_of(membership, extension: Extension) -> bool:
    """An admin (of the calls' tenant, which `call_list` filters on), or the agent of the
    extension or of its supervisor."""
    if membership.role == Role.ADMIN:
        return True
    own = membership.extension_id
    return own is not None and own in (extension.pk, extension.supervisor_id)


def call_extension_get(*, user, pk) -> Extension:
    """An extension whose history `user` may open: the tenant's (admin), own or supervised
    (agent); anything else 404."""
    membership = membership_for(user)
    if membership is None:
        raise Http404
    qs = Extension.objects.filter(hotline__tenant_id=membership.tenant_id).select_related("hotline")
    if membership.role != Role.ADMIN:
        own = membership.extension_id
        qs = qs.filter(Q(pk=own) | Q(supervisor_id=own)) if own else qs.none()
    try:
        return qs.get(pk=pk)
    except (Extension.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


# What a history page shows (sip/call_tables.py): no model instances for a page of HTML.
CALL_COLUMNS = (
    "id",
    "started_at",
    "caller",
    "callee",
    "direction",
    "caller_id",
    "disposition",
    "sip_code",
    "reason",
    "ended_at",
    "duration",
)


@dataclass
class KeysetPage:
    """One page of calls (model instances, or dicts of `columns`) and the cursor of the next
    (older) one, or "" at the end."""

    object_list: list
    next_cursor: str
    first: bool


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_BRANCHES = 8


def _cursor(started_at: dt.datetime, pk: int) -> str:
    """`<microseconds since 1970>_<id>` of the last row shown: URL-safe as it is."""
    micros = (started_at - EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}_{pk}"


def _parse_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    micros, _sep, pk = (cursor or "").partition("_")
    try:
        started_at, key = EPOCH + dt.timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        return None
    # A key no row can have (a bigint's range) is no cursor: SQLite refuses it as a parameter.
    return (started_at, key) if 0 < key < 2**63 else None


def _branches(queryset: QuerySet) -> list[QuerySet]:
    """`queryset` as OR-free querysets whose union it is: each top-level `a OR b` of its WHERE
    (at most 3 sides, at most MAX_BRANCHES combinations) becomes one queryset per side; [queryset]
    when there is nothing to split."""
    where = queryset.query.where
    if where.connector != AND or where.negated:
        return [queryset]
    fixed, either = [], []
    for child in where.children:
        split = isinstance(child, WhereNode) and child.connector == OR and not child.negated
        if split and len(child.children) <= 3:
            either.append(child.children)
        else:
            fixed.append(child)
    if not either or math.prod(len(sides) for sides in either) > MAX_BRANCHES:
        return [queryset]
    branches = []
    for sides in itertools.product(*either):
        branch = queryset.all()
        branch.query.where = WhereNode([*fixed, *sides], connector=AND)
        branches.append(branch)
    return branches


def _distinct(rows: list, columns: tuple[str, ...]) -> list:
    seen: set[int] = set()
    kept = []
    for row in rows:
        pk = row["id"] if columns else row.pk
        if pk not in seen:
            seen.add(pk)
            kept.append(row)
    return kept


def keyset_page(
    queryset: QuerySet[Call], *, cursor: str = "", size: int = 50, columns: tuple[str, ...] = ()
) -> KeysetPage:
    """The page after `cursor` (see `KeysetPage`), newest first; an invalid cursor is the first
    page. One query (two when a call on two sides left a full page short): the union of one per
    side of each "either side" filter (module docstring) where the database can order and limit
    each (PostgreSQL), else the query as it is."""
    after = _parse_cursor(cursor)
    if after is not None:
        queryset = queryset.filter(TupleLessThan(Tuple(F("started_at"), F("id")), after))
    if columns:
        queryset = queryset.values(*columns)
    ordering = ("-started_at", "-id")
    queryset = queryset.order_by(*ordering)
    branches = _branches(queryset)
    if len(branches) > 1 and connections[queryset.db].features.supports_slicing_ordering_in_compound:
        # UNION ALL, merged by the outer ORDER BY. A call can match two sides (101 calling 101's
        # own number): it is dropped here, not by UNION, whose hashing of whole rows cost more
        # than the sides' index scans (1.3 ms of 1.5). Only when that left a full page short is
        # the union read whole (at most len(branches) × (size + 1) rows).
        merged = branches[0][: size + 1].union(*(b[: size + 1] for b in branches[1:]), all=True)
        merged = merged.order_by(*ordering)
        fetched = list(merged[: size + 1])
        rows = _distinct(fetched, columns)
        if len(rows) < len(fetched) == size + 1:
            rows = _distinct(list(merged), columns)[: size + 1]
    else:
        rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if not more:
        return KeysetPage(rows, "", first=after is None)
    last = rows[-1]
    started_at, pk = (last["started_at"], last["id"]) if columns else (last.started_at, last.pk)
    return KeysetPage(rows, _cursor(started_at, pk), first=after is None)
