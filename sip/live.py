"""Live status: who is online, who is on a call and since when, for open pages that poll.

A page polls `GET /hotlines/<pk>/status/` once a second (static/js/live.js; sync gunicorn
workers cannot hold 100 open streams). Every page open on a hotline gets the same answer, so it
is read once per LIVE_STATUS_CACHE_SECONDS (0.5 s) for all of them and kept in the shared cache
(Redis) as a snapshot: its JSON and an ETag; a page whose copy is current gets 304 without a
body (`status_snapshot`, `cached_status_snapshot`). A change reaches the pages within the cache
time plus their pause (1 s) plus a request, under 2 s (docs/performance.md, "Live status: 100
open pages", bench/status_poll_bench.py). Reading the snapshot is one:

- the extensions' live registrations (`location`, one query, as the list's status column);
- the calls in progress (Kamailio's `dialog` table, db_mode 1: a row per answered call until
  it ends, its `pbx_caller`/`pbx_callee` variables in `dialog_vars`; one query on a table as
  small as the number of calls going on) — cheaper than asking Kamailio (`dlg.list` over the
  control socket is a process round trip per poll);
- the presence check: each change since the last look is written once (a conditional UPDATE,
  so two pollers cannot both report it) and reported through `sip.signals.registration_changed`.

Registration changes must not wait for a page, though: `registration.online|offline` webhooks
and the "went offline during its schedule" alert are due whether anyone looks or not. So
`manage.py import_call_records --follow` (a service beside Kamailio; `make sip` runs it) also
runs `presence_sync_all()` every second: one query over every hotline returns only the
extensions whose registration differs from what was recorded, and the same `presence_record`
writes and reports them. Pages and the loop may see a change at the same moment; whichever
writes first reports it, once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from extensions.models import Extension
from hotlines.models import Hotline

from .models import Call, ExtensionPresence, Location
from .selectors import with_online_status

logger = logging.getLogger(__name__)


def during_schedule(extension: Extension, at: dt.datetime) -> bool:
    """Whether `extension` is expected to be reachable at `at`: inside its outbound schedule
    (its own, else its hotline's); always, when neither has one."""
    schedule = extension.outbound_schedule or extension.hotline.outbound_schedule
    return schedule is None or schedule.open_hours().is_open(at)


@dataclass(frozen=True)
class LiveCall:
    peer: str
    since: dt.datetime


def calls_in_progress(*, hotline: Hotline) -> dict[str, LiveCall]:
    """Extension number → its call in progress (the other party, answered since), from the
    `dialog` table Kamailio keeps (answered calls; state 4 = confirmed).

    Kamailio deletes a dialog's row only when it frees the dialog, about 5 s after the BYE (once
    the BYE's transaction is gone), and leaves it "confirmed" meanwhile; its CDR is written at
    the BYE. So a dialog whose CDR is waiting in `acc_cdrs`, or already imported as an ended
    call, is over (both looked up by Call-ID: a table as small as the calls that just ended, and
    the call history's unique index)."""
    suffix = f"@{hotline.sip_domain}"
    call = Call._meta
    q = connection.ops.quote_name
    # Names come from the model; no value is formatted in.
    ended = (
        f"SELECT 1 FROM {q(call.db_table)} c "  # noqa: S608
        f"WHERE c.{q(call.get_field('sip_call_id').column)} = d.callid "
        f"AND c.{q(call.get_field('ended_at').column)} IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id, d.start_time, v.dialog_key, v.dialog_value FROM dialog d "  # noqa: S608
            "JOIN dialog_vars v ON v.hash_entry = d.hash_entry AND v.hash_id = d.hash_id "
            "WHERE d.state IN (3, 4) AND v.dialog_key IN ('pbx_caller', 'pbx_callee', 'acc_callee') "
            "AND NOT EXISTS (SELECT 1 FROM acc_cdrs a WHERE a.callid = d.callid) "
            f"AND NOT EXISTS ({ended}) "
            "ORDER BY d.id",
        )
        rows = cursor.fetchall()
    dialogs: dict[int, dict] = {}
    for dialog_id, start, key, value in rows:
        dialogs.setdefault(dialog_id, {"start": start})[key] = value
    found: dict[str, LiveCall] = {}
    for dialog in dialogs.values():
        since = dt.datetime.fromtimestamp(int(dialog["start"] or 0), tz=dt.UTC)
        caller, callee = dialog.get("pbx_caller", ""), dialog.get("pbx_callee", "")
        if caller.endswith(suffix):
            peer = callee.removesuffix(suffix) if callee else dialog.get("acc_callee", "")
            found[caller.removesuffix(suffix)] = LiveCall(peer=peer, since=since)
        if callee.endswith(suffix):
            found[callee.removesuffix(suffix)] = LiveCall(peer=caller.removesuffix(suffix), since=since)
    return found


@dataclass(frozen=True)
class LiveStatus:
    extension_id: int
    number: str
    online: bool
    contacts: int
    since: dt.datetime | None
    alert: bool
    call: LiveCall | None


@dataclass(frozen=True)
class Reading:
    """One extension's registration now (`online`) against the state last recorded for it
    (`was_online` and `since`; None when none is recorded yet)."""

    extension_id: int
    online: bool
    was_online: bool | None
    since: dt.datetime | None


def presence_record(readings: list[Reading], *, now: dt.datetime) -> dict[int, bool]:
    """Record the changes among `readings` and report each through `registration_changed`
    (after the commit); return {extension id: alert} of the changes this call recorded.

    Several processes look at once (the pages' polls, `import_call_records --follow`): a change
    is written with one conditional UPDATE on the state its reading saw, online flag and `since`
    both. Of two readers of one change only the first flips the row, and a reading taken before
    the row's last change (a slow poll that read "online" before the loop recorded online, then
    offline) writes nothing, so no change is reported twice or out of date. An extension seen
    for the first time is recorded as it is, without a report."""
    from .signals import registration_changed

    first_seen = [
        ExtensionPresence(extension_id=r.extension_id, online=r.online, since=now)
        for r in readings
        if r.was_online is None
    ]
    if first_seen:
        ExtensionPresence.objects.bulk_create(first_seen, ignore_conflicts=True)
    # (extension, online now, the state read: online, since)
    changed = [
        (r.extension_id, r.online, r.was_online, r.since)
        for r in readings
        if r.was_online is not None and r.since is not None and r.was_online != r.online
    ]
    if not changed:
        return {}
    # The schedules' windows and holidays in a few queries, whatever the number of changes.
    extensions = (
        Extension.objects.select_related("hotline__outbound_schedule", "outbound_schedule")
        .prefetch_related(
            "outbound_schedule__windows",
            "outbound_schedule__holidays",
            "hotline__outbound_schedule__windows",
            "hotline__outbound_schedule__holidays",
        )
        .in_bulk([pk for pk, *_rest in changed])
    )
    reported: list[tuple[Extension, bool, bool]] = []
    with transaction.atomic():
        for pk, online, was_online, since in changed:
            extension = extensions.get(pk)
            if extension is None:
                continue  # deleted since the reading
            alert = not online and during_schedule(extension, now)
            if ExtensionPresence.objects.filter(pk=pk, online=was_online, since=since).update(
                online=online, since=now, alert=alert
            ):
                reported.append((extension, online, alert))
        if reported:
            transaction.on_commit(
                lambda: [
                    registration_changed.send(sender=Extension, extension=e, online=o, alert=a)
                    for e, o, a in reported
                ]
            )
    return {e.pk: a for e, _o, a in reported}


def presence_sync(*, hotline: Hotline, now: dt.datetime | None = None) -> list[LiveStatus]:
    """The hotline's extensions' live status; records and reports changes since the last look."""
    now = now or timezone.now()
    rows = list(
        with_online_status(Extension.objects.filter(hotline_id=hotline.pk), hotline=hotline, now=now)
        .order_by()
        .values_list(
            "pk", "number", "contact_count", "presence__online", "presence__since", "presence__alert"
        )
    )
    calls = calls_in_progress(hotline=hotline)
    recorded = presence_record(
        [Reading(pk, contacts > 0, was_online, since) for pk, _n, contacts, was_online, since, _a in rows],
        now=now,
    )
    statuses = []
    for pk, number, contacts, was_online, since, alert in rows:
        online = contacts > 0
        if was_online is None or was_online != online:
            # Recorded now, by this look or by another process's.
            since, alert = now, recorded.get(pk, False)
        statuses.append(LiveStatus(pk, number, online, contacts, since, bool(alert), calls.get(number)))
    return statuses


def _readings_sql() -> str:
    """Extensions whose registration differs from their recorded presence, or that have none:
    the live contacts counted once per (username, domain) and hash-joined to the extensions
    (about 15 ms for 10,000 extensions, where a subquery per extension took 130: see
    docs/performance.md, "The registration watch")."""
    q = connection.ops.quote_name
    extension, hotline, presence, location = (
        Extension._meta,
        Hotline._meta,
        ExtensionPresence._meta,
        Location._meta,
    )

    def col(meta, name: str) -> str:
        return q(meta.get_field(name).column)

    return (
        f"SELECT e.{col(extension, 'id')}, l.n IS NOT NULL, p.{col(presence, 'online')}, "  # noqa: S608
        f"p.{col(presence, 'since')} "
        f"FROM {q(extension.db_table)} e "
        f"JOIN {q(hotline.db_table)} h ON h.{col(hotline, 'id')} = e.{col(extension, 'hotline')} "
        f"LEFT JOIN (SELECT {col(location, 'username')} AS username, {col(location, 'domain')} AS domain, "
        f"COUNT(*) AS n FROM {q(location.db_table)} WHERE {col(location, 'expires')} > %s "
        f"GROUP BY {col(location, 'username')}, {col(location, 'domain')}) l "
        f"ON l.username = e.{col(extension, 'number')} AND l.domain = h.{col(hotline, 'sip_domain')} "
        f"LEFT JOIN {q(presence.db_table)} p ON p.{col(presence, 'extension')} = e.{col(extension, 'id')} "
        f"WHERE p.{col(presence, 'extension')} IS NULL OR p.{col(presence, 'online')} <> (l.n IS NOT NULL)"
    )


def _since_from_db(value):
    """`since` as the ORM reads it (SQLite returns text), to compare it in presence_record."""
    field = ExtensionPresence._meta.get_field("since")
    expression = field.get_col(ExtensionPresence._meta.db_table)
    for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
        value = converter(value, expression, connection)
    return value


def presence_readings(*, now: dt.datetime) -> list[Reading]:
    """The extensions, of every hotline, whose registration differs from the state last
    recorded (or that have none recorded): one query, whatever the number of hotlines.
    Registrations and presence are read in the same statement, so they are of one moment."""
    expires = Location._meta.get_field("expires").get_db_prep_value(now, connection)
    with connection.cursor() as cursor:
        cursor.execute(_readings_sql(), [expires])
        rows = cursor.fetchall()
    return [
        Reading(pk, bool(online), None if was_online is None else bool(was_online), _since_from_db(since))
        for pk, online, was_online, since in rows
    ]


def presence_sync_all(*, now: dt.datetime | None = None) -> dict[int, bool]:
    """Notice the registration changes of every hotline without a page open: what
    `import_call_records --follow` runs every second beside the call records. Returns
    {extension id: alert} of the changes it recorded (and reported)."""
    now = now or timezone.now()
    return presence_record(presence_readings(now=now), now=now)


@dataclass(frozen=True)
class StatusSnapshot:
    """A hotline's live status as the open pages get it: the JSON body, an ETag that changes
    only when the extensions' status does, and the tenant the hotline belongs to."""

    tenant_id: int
    body: bytes
    etag: str


def _cache_key(hotline_pk: int) -> str:
    return f"live-status:{hotline_pk}"


def status_snapshot(*, hotline: Hotline) -> StatusSnapshot:
    """Read the hotline's live status now (presence_sync: changes recorded and reported) and
    share it with the other open pages for LIVE_STATUS_CACHE_SECONDS."""
    extensions = {
        str(s.extension_id): {
            "number": s.number,
            "online": s.online,
            "contacts": s.contacts,
            "since": s.since.isoformat() if s.since else None,
            "alert": s.alert,
            "call": {"peer": s.call.peer, "since": s.call.since.isoformat()} if s.call else None,
        }
        for s in presence_sync(hotline=hotline)
    }
    encoded = json.dumps(extensions, separators=(",", ":"), sort_keys=True)
    # `at`: when the status was read (a 304 keeps the page's older copy, and its `at`).
    body = f'{{"extensions":{encoded},"at":{json.dumps(timezone.now().isoformat())}}}'.encode()
    etag = '"' + hashlib.blake2b(encoded.encode(), digest_size=12).hexdigest() + '"'
    snapshot = StatusSnapshot(tenant_id=hotline.tenant_id, body=body, etag=etag)
    seconds = settings.LIVE_STATUS_CACHE_SECONDS
    if seconds > 0:
        try:
            cache.set(_cache_key(hotline.pk), snapshot, seconds)
        except Exception as error:  # noqa: BLE001 - without the cache every poll reads afresh
            logger.warning("Live status: the cache did not take the snapshot (%s).", error)
    return snapshot


def cached_status_snapshot(*, hotline_pk: int) -> StatusSnapshot | None:
    """The snapshot another page's poll read less than LIVE_STATUS_CACHE_SECONDS ago, if any
    (None too when the cache does not answer). The caller checks `tenant_id`."""
    if settings.LIVE_STATUS_CACHE_SECONDS <= 0:
        return None
    try:
        snapshot = cache.get(_cache_key(hotline_pk))
    except Exception as error:  # noqa: BLE001 - without the cache every poll reads afresh
        logger.warning("Live status: the cache did not answer (%s).", error)
        return None
    return snapshot if isinstance(snapshot, StatusSnapshot) else None
