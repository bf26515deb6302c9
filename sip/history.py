"""Who sees which calls, and pages of them by keyset.

Visibility (the tenant rule, as for extensions): a tenant admin sees the tenant's calls; an
agent the calls their own extension made or received and those of the extensions it
supervises (máy giám sát); nobody another tenant's (absent from lists, 404 one by one).

Pages are keyset-paginated, newest first: a page is the next `size` rows after the last one
shown (`started_at`, `id`), which the (scope, -started_at, -id) indexes serve by reading one
page of index, however deep the page and however many million calls there are (an OFFSET
would read and skip every row before it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
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
    team = list(Extension.objects.filter(supervisor_id=membership.extension_id).values_list("pk", flat=True))
    return [membership.extension_id, *team]


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
    team = visible_extension_ids(user)
    if team is not None:
        qs = qs.filter(Q(caller_extension_id__in=team) | Q(callee_extension_id__in=team))
    return qs.select_related("hotline").order_by("-started_at", "-id")


def call_extension_get(*, user, pk) -> Extension:
    """An extension whose history `user` may open: the tenant's (admin), own or supervised
    (agent); anything else 404."""
    membership = membership_for(user)
    if membership is None:
        raise Http404
    qs = Extension.objects.filter(hotline__tenant_id=membership.tenant_id).select_related("hotline")
    team = visible_extension_ids(user)
    if team is not None:
        qs = qs.filter(pk__in=team)
    try:
        return qs.get(pk=pk)
    except (Extension.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


@dataclass
class KeysetPage:
    """One page of calls and the cursor of the next (older) one, or "" at the end."""

    object_list: list[Call]
    next_cursor: str
    first: bool


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _cursor(call: Call) -> str:
    """`<microseconds since 1970>_<id>` of the last row shown: URL-safe as it is."""
    micros = (call.started_at - EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}_{call.pk}"


def _parse_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    micros, _sep, pk = (cursor or "").partition("_")
    try:
        return EPOCH + dt.timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):
        return None


def keyset_page(queryset: QuerySet[Call], *, cursor: str = "", size: int = 50) -> KeysetPage:
    """The page after `cursor` (see `KeysetPage`); an invalid cursor is the first page."""
    after = _parse_cursor(cursor)
    if after is not None:
        started_at, pk = after
        queryset = queryset.filter(Q(started_at__lt=started_at) | Q(started_at=started_at, pk__lt=pk))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return KeysetPage(rows, _cursor(rows[-1]) if more else "", first=after is None)
