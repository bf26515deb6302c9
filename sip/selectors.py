"""Registration status (online / offline) for the dashboard, read from Kamailio's `location`.

A contact counts while its `expires` is in the future. Kamailio matches an extension by
`username = number` and `domain = hotline.sip_domain`; so do these queries, as correlated
subqueries, so a list of any length costs one query.

Note: status is about registrations only. Disabling an extension refuses its next REGISTER
at once, but a contact it registered before stays listed until it expires (at most
MAX_EXPIRES, an hour by default) unless sip.services.sip_registrations_remove drops it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from urllib.parse import unquote

from django.db import connection
from django.db.models import Count, Field, IntegerField, OuterRef, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.expressions import RowSQL
from extensions.models import Extension
from hotlines.models import Hotline

from .models import KamailioDateTimeField, Location, SipAccount
from .schema import CALLER_ID_VIEW, SUPERVISION_VIEW


def live_locations(*, now: dt.datetime | None = None) -> QuerySet[Location]:
    """Contacts that have not expired."""
    return Location.objects.filter(expires__gt=now or timezone.now())


def _contact_count_sql(*, per_row_domain: bool):
    """SQL of the outer extension's live registrations: `location` rows of its number and SIP
    domain whose `expires` is after the first param. The domain is the second param, or with
    `per_row_domain` the outer extension's hotline's (a list spanning hotlines)."""
    location, hotline, extension = Location._meta, Hotline._meta, Extension._meta
    expires, domain_, username = (
        location.get_field(name).column for name in ("expires", "domain", "username")
    )
    sip_domain = hotline.get_field("sip_domain").column
    number, hotline_id = (extension.get_field(name).column for name in ("number", "hotline"))

    def sql(vendor: str, ops) -> str:
        q = ops.quote_name
        # Names come from the models; values are params.
        domain = (
            f"(SELECT h.{q(sip_domain)} FROM {q(hotline.db_table)} h "  # noqa: S608
            f"WHERE h.{q(hotline.pk.column)} = {{row}}.{q(hotline_id)})"
            if per_row_domain
            else "%s"
        )
        # A COUNT without GROUP BY is 0, not NULL, when there is none.
        return (
            f"(SELECT COUNT(*) FROM {q(location.db_table)} l "  # noqa: S608
            f"WHERE l.{q(expires)} > %s AND l.{q(domain_)} = {domain} "
            f"AND l.{q(username)} = {{row}}.{q(number)})"
        )

    sql.__name__ = "contact_count_per_row_domain" if per_row_domain else "contact_count"
    return sql


_CONTACT_COUNT = _contact_count_sql(per_row_domain=False)
_CONTACT_COUNT_PER_ROW_DOMAIN = _contact_count_sql(per_row_domain=True)


def with_online_status(
    queryset: QuerySet[Extension], *, hotline: Hotline | None = None, now: dt.datetime | None = None
) -> QuerySet[Extension]:
    """Annotate each extension with `contact_count` (int: its live registrations, e.g. 2 when
    the desk phone and the WebRTC extension are both signed in; online when above 0). One
    correlated subquery per row, so a list of any length costs one query. Pass `hotline` when
    every row is on it: its SIP domain is then a parameter instead of a lookup per row."""
    expires = ((now or timezone.now()), Location._meta.get_field("expires"))
    if hotline is not None:
        count = RowSQL(_CONTACT_COUNT, (expires, hotline.sip_domain), output_field=IntegerField())
    else:
        count = RowSQL(_CONTACT_COUNT_PER_ROW_DOMAIN, (expires,), output_field=IntegerField())
    return queryset.annotate(contact_count=count)


@dataclass(frozen=True)
class Registration:
    """One registered device of an extension, as the dashboard shows it."""

    contact: str
    user_agent: str
    source: str  # ip:port the REGISTER came from
    transport: str  # udp, tcp, ws, wss, tls
    socket: str  # where Kamailio received it, e.g. "udp:203.0.113.10:5060"
    expires: dt.datetime
    last_modified: dt.datetime

    @property
    def expires_in(self) -> int:
        """Seconds left, never negative."""
        return max(0, int((self.expires - timezone.now()).total_seconds()))


def _uri_param(uri: str, name: str) -> str | None:
    for part in uri.strip("<>").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == name:
            return unquote(value.strip().strip(">")) or None
    return None


def _host_port(uri: str) -> str:
    address = uri.strip("<>").split(";", 1)[0]
    if ":" in address and address.split(":", 1)[0] in ("sip", "sips"):
        address = address.split(":", 1)[1]
    return address.rsplit("@", 1)[-1]


def _registration(row: Location) -> Registration:
    received = row.received or ""
    socket = row.socket or ""
    transport = (
        _uri_param(received, "transport")
        or _uri_param(row.contact, "transport")
        or socket.split(":", 1)[0]
        or "udp"
    ).lower()
    if transport == "ws" and socket.startswith("tls:"):
        # Kamailio notes a secure WebSocket's source as transport=ws; its socket says TLS.
        transport = "wss"
    return Registration(
        contact=row.contact,
        user_agent=row.user_agent,
        source=_host_port(received) if received else _host_port(row.contact),
        transport=transport,
        socket=socket,
        expires=row.expires,
        last_modified=row.last_modified,
    )


def contacts_for(extension: Extension, *, now: dt.datetime | None = None) -> list[Registration]:
    """The extension's live registrations, newest first (one query)."""
    rows = (
        live_locations(now=now)
        .filter(username=extension.number, domain=extension.hotline.sip_domain)
        .order_by("-last_modified", "-id")
    )
    return [_registration(row) for row in rows]


def _column(model, name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), name  # a column, not a reverse relation
    return field.column


# The columns of a live registration that with_contacts() carries, as JSON keys.
_CONTACT_COLUMNS = ("id", "contact", "received", "socket", "user_agent", "expires", "last_modified")


def _contacts_json_sql(vendor: str, ops) -> str:
    """SQL of the outer extension's live registrations as one JSON array text (NULL or "[]"
    when none): `location` rows of its number in its hotline's SIP domain whose `expires` is
    after the one param. Unordered; registrations() sorts them."""
    location, hotline = Location._meta, Hotline._meta
    q = ops.quote_name
    expires, domain, username = (_column(Location, name) for name in ("expires", "domain", "username"))
    sip_domain, hotline_pk = _column(Hotline, "sip_domain"), _column(Hotline, "id")
    number, hotline_id = (_column(Extension, name) for name in ("number", "hotline"))
    pairs = ", ".join(f"'{name}', l.{q(_column(Location, name))}" for name in _CONTACT_COLUMNS)
    array = (
        f"json_group_array(json_object({pairs}))"
        if vendor == "sqlite"
        else f"json_agg(json_build_object({pairs}))::text"
    )
    # Names come from the models; the time is a param.
    return (
        f"(SELECT {array} FROM {q(location.db_table)} l "  # noqa: S608
        f"WHERE l.{q(expires)} > %s AND l.{q(username)} = {{row}}.{q(number)} "
        f"AND l.{q(domain)} = (SELECT h.{q(sip_domain)} FROM {q(hotline.db_table)} h "
        f"WHERE h.{q(hotline_pk)} = {{row}}.{q(hotline_id)}))"
    )


def with_contacts(queryset: QuerySet, *, now: dt.datetime | None = None) -> QuerySet:
    """Annotate each extension (model instances, or the dicts of a `values()` queryset) with
    `contacts_json`: its live registrations, in the rows' own query whatever the list length
    (one correlated subquery per row). Read them with registrations()."""
    expires = ((now or timezone.now()), Location._meta.get_field("expires"))
    return queryset.annotate(contacts_json=RowSQL(_contacts_json_sql, (expires,), output_field=TextField()))


_TIMESTAMP = KamailioDateTimeField()


def registrations(contacts_json: str | None) -> list[Registration]:
    """The registrations with_contacts() carried (its `contacts_json`), newest first."""
    rows = json.loads(contacts_json) if contacts_json else []
    for row in rows:
        # Timestamps as the database stores them: naive UTC text (PostgreSQL) or a Julian day.
        for name in ("expires", "last_modified"):
            row[name] = _TIMESTAMP.from_db_value(row[name], None, None)
    rows.sort(key=lambda row: (row["last_modified"], row["id"]), reverse=True)
    return [_registration(Location(**row)) for row in rows]


def with_online_count(queryset: QuerySet[Hotline], *, now: dt.datetime | None = None) -> QuerySet[Hotline]:
    """Annotate each hotline with `online_count`: how many of its extensions have at least
    one live registration (one query for the whole list)."""
    numbers = Extension.objects.filter(hotline_id=OuterRef(OuterRef("pk"))).values("number")
    count = (
        live_locations(now=now)
        .filter(domain=OuterRef("sip_domain"), username__in=numbers)
        .order_by()
        .values("domain")
        .annotate(n=Count("username", distinct=True))
        .values("n")
    )
    return queryset.annotate(online_count=Coalesce(Subquery(count, output_field=IntegerField()), Value(0)))


# --- What Kamailio reads to route a call: the same views, the same queries as kamailio.cfg ---


@dataclass(frozen=True)
class PoolNumber:
    number: str
    carrier: str


@dataclass(frozen=True)
class CallerIdPool:
    """An extension's caller-ID pool (`sip_caller_id`), in the order the strategy uses it."""

    strategy: str
    numbers: tuple[PoolNumber, ...]


def caller_id_pool(extension_id: int) -> CallerIdPool:
    """The rows route[CALLER_ID] in kamailio.cfg reads for this extension (empty when the
    extension does not exist)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT number, carrier, strategy FROM {CALLER_ID_VIEW} "  # noqa: S608 — a constant
            "WHERE extension_id = %s ORDER BY position",
            [extension_id],
        )
        rows = cursor.fetchall()
    return CallerIdPool(
        strategy=rows[0][2] if rows else "",
        numbers=tuple(PoolNumber(number=number, carrier=carrier or "") for number, carrier, _ in rows),
    )


def supervises(*, domain: str, supervisor: str, supervised: str) -> bool:
    """Whether extension `supervisor` may listen to, whisper to or barge in on `supervised`
    (both enabled, on the same enabled hotline): the `sip_supervision` row route[SUPERVISE] reads."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {SUPERVISION_VIEW} "  # noqa: S608 — a constant
            "WHERE domain = %s AND supervisor = %s AND supervised = %s",
            [domain, supervisor, supervised],
        )
        return cursor.fetchone() is not None


def is_subscriber(*, domain: str, username: str) -> bool:
    """Whether `username@domain` is an enabled extension of an enabled hotline (Kamailio's
    `is_subscriber()` on `sip_subscriber`)."""
    return SipAccount.objects.filter(domain=domain, username=username).exists()


def with_offline_alert(queryset: QuerySet[Extension]) -> QuerySet[Extension]:
    """Annotate `offline_alert`: the extension went offline during its schedule and is not back
    (sip.live.presence_record), for the list's badge. One subquery per row of the page."""
    from django.db.models import BooleanField

    from .models import ExtensionPresence

    alert = ExtensionPresence.objects.filter(pk=OuterRef("pk")).values("alert")[:1]
    return queryset.annotate(
        offline_alert=Coalesce(Subquery(alert, output_field=BooleanField()), Value(False))
    )
