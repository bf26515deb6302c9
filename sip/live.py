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
- the presence check: each change since the last poll is written once (a conditional UPDATE,
  so two pollers cannot both report it) and reported through `sip.signals.registration_changed`.
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

from .models import Call, ExtensionPresence
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


def presence_sync(*, hotline: Hotline, now: dt.datetime | None = None) -> list[LiveStatus]:
    """The hotline's extensions' live status; records and reports changes since the last look."""
    from .signals import registration_changed

    now = now or timezone.now()
    rows = list(
        with_online_status(Extension.objects.filter(hotline_id=hotline.pk), hotline=hotline, now=now)
        .order_by()
        .values_list(
            "pk", "number", "contact_count", "presence__online", "presence__since", "presence__alert"
        )
    )
    calls = calls_in_progress(hotline=hotline)
    statuses, changed, first_seen = [], [], []
    for pk, number, contacts, was_online, since, alert in rows:
        online = contacts > 0
        if was_online is None:
            first_seen.append(ExtensionPresence(extension_id=pk, online=online, since=now))
            since, alert = now, False
        elif was_online != online:
            changed.append((pk, online))
            since = now
            alert = not online  # refined below with the schedule
        statuses.append(LiveStatus(pk, number, online, contacts, since, bool(alert), calls.get(number)))
    if first_seen:
        ExtensionPresence.objects.bulk_create(first_seen, ignore_conflicts=True)
    if changed:
        extensions = Extension.objects.select_related(
            "hotline__outbound_schedule", "outbound_schedule"
        ).in_bulk([pk for pk, _o in changed])
        reported = []
        with transaction.atomic():
            for pk, online in changed:
                extension = extensions[pk]
                alert = not online and during_schedule(extension, now)
                # Only the poll that flips the row reports the change.
                if ExtensionPresence.objects.filter(pk=pk, online=not online).update(
                    online=online, since=now, alert=alert
                ):
                    reported.append((extension, online, alert))
            transaction.on_commit(
                lambda: [
                    registration_changed.send(sender=Extension, extension=e, online=o, alert=a)
                    for e, o, a in reported
                ]
            )
        alerts = {e.pk: a for e, _o, a in reported}
        statuses = [
            LiveStatus(**{**s.__dict__, "alert": alerts.get(s.extension_id, s.alert)}) for s in statuses
        ]
    return statuses


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
