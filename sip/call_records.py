"""Call history (lịch sử cuộc gọi) from Kamailio's own accounting, and its retention.

Kamailio writes raw rows (deploy/kamailio/kamailio.cfg, CALL RECORDS section):

- `acc`: one per final reply to a call's INVITE that Kamailio relayed (200 answered, 486 busy,
  487 cancelled, 408 no answer, …) and one per refusal it sent itself (`acc_db_request`: 403
  "Call permission: international required", 404 "No such extension", …), each with our
  extras: caller extension, hotline domain, callee, direction, caller ID, start and reply time;
- `acc_cdrs`: one per answered call when its dialog ends (BYE or DIALOG_TIMEOUT).

`call_records_import()` turns them into `Call` rows and deletes what it used, in one
transaction: a failed attempt becomes a finished Call at once; an answered one is a Call in
progress (answered, not ended) until its CDR gives the end and the duration. Concurrent runs
skip each other's rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer).

It runs where someone needs it fresh: before the history pages, their exports and the API read
calls, and in `manage.py import_call_records --follow` (one second apart; `make sip` runs it
beside Kamailio, production as a service of its own: docs/deployment.md), so a call is in the
history, and its `call.ended` webhook on its way, within a second or two of its end. After the
commit, `sip.signals.call_ended` is sent once per batch with the calls that ended.

Retention: `call_records_purge()` (`manage.py purge_call_records`, from cron, nightly) deletes each
tenant's calls older than `Tenant.call_retention_days` (default 365), in batches, and audits
the count per tenant.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from django.utils import timezone

from audit.choices import Action
from audit.services import audit_record
from extensions.models import Extension
from hotlines.models import Hotline
from tenants.models import Tenant

from .choices import CallDirection, Disposition
from .models import Call

logger = logging.getLogger(__name__)

BATCH = 2000
# A CDR whose call never had an answered row (Kamailio restarted between them): dropped after this.
ORPHAN_CDR_SECONDS = 3600

REFUSED_CODES = {401, 403, 404, 405, 484, 501, 603}
BUSY_CODES = {486, 600}
NO_ANSWER_CODES = {408, 480}


def disposition_for(code: int) -> str:
    """The disposition a final SIP status means (200 answered, 486 busy, 487 cancelled by the
    caller, 408/480 nobody answered or not reachable, 403/404/501/603 refused, else failed)."""
    if 200 <= code < 300:
        return Disposition.ANSWERED
    if code in BUSY_CODES:
        return Disposition.BUSY
    if code == 487:
        return Disposition.CANCELLED
    if code in NO_ANSWER_CODES:
        return Disposition.NO_ANSWER
    if code in REFUSED_CODES:
        return Disposition.REFUSED
    return Disposition.FAILED


def _epoch(value: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC) if value else None
    except (TypeError, ValueError):
        return None


def _locked(sql: str) -> str:
    # Rows another importer holds are skipped, not waited for (PostgreSQL); SQLite serialises
    # writers anyway (Django's IMMEDIATE transactions).
    return sql + (" FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else "")


def _fetch(sql: str, params: Iterable = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _delete(table: str, ids: list[int]) -> None:
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))})", ids)  # noqa: S608


def _pending() -> bool:
    # One statement, no transaction: what every history read pays when nothing is new (the
    # usual case with `import_call_records --follow` running), instead of a transaction of two
    # locking SELECTs.
    return bool(_fetch("SELECT EXISTS (SELECT 1 FROM acc) OR EXISTS (SELECT 1 FROM acc_cdrs)")[0][0])


def call_records_import(*, batch: int = BATCH) -> list[Call]:
    """Import what Kamailio accounted since the last run; return the calls that ended (and
    send `call_ended` for them after the commit)."""
    if not _pending():
        return []
    with transaction.atomic():
        acc_rows = _fetch(
            _locked(
                "SELECT id, callid, sip_code, sip_reason, caller, callee, domain, direction, caller_id, "
                "started, at FROM acc ORDER BY id LIMIT %s"
            ),
            [batch],
        )
        cdr_rows = _fetch(
            _locked("SELECT id, callid, ended, duration FROM acc_cdrs ORDER BY id LIMIT %s"), [batch]
        )
        if not acc_rows and not cdr_rows:
            return []
        ended = _import(acc_rows, cdr_rows)
    if ended:
        from .signals import call_ended

        transaction.on_commit(lambda: call_ended.send(sender=Call, calls=ended))
    return ended


def _import(acc_rows: list[tuple], cdr_rows: list[tuple]) -> list[Call]:
    domains = {row[6] for row in acc_rows if row[6]}
    hotlines = {
        h.sip_domain: h
        for h in Hotline.objects.filter(sip_domain__in=domains).only("pk", "tenant_id", "sip_domain")
    }
    numbers = {(row[6], n) for row in acc_rows for n in (row[4], row[5]) if n}
    extensions = {
        (e.hotline.sip_domain, e.number): e.pk
        for e in Extension.objects.filter(
            hotline__sip_domain__in=domains, number__in={n for _d, n in numbers}
        )
        .select_related("hotline")
        .only("pk", "number", "hotline__sip_domain")
    }
    call_ids = {row[1] for row in acc_rows} | {row[1] for row in cdr_rows if row[1]}
    calls = {c.sip_call_id: c for c in Call.objects.filter(sip_call_id__in=call_ids)}
    new: dict[str, Call] = {}
    changed: dict[str, Call] = {}
    ended: list[Call] = []
    used_acc: list[int] = []
    for row_id, call_id, code, reason, caller, callee, domain, direction, caller_id, started, at in acc_rows:
        used_acc.append(row_id)
        hotline = hotlines.get(domain or "")
        if hotline is None:
            logger.warning("call record %s of unknown domain %r dropped", call_id, domain)
            continue
        code = int(code or 0)
        when = _epoch(at) or dt.datetime.now(dt.UTC)
        answered = 200 <= code < 300
        call = calls.get(call_id) or new.get(call_id)
        if call is None:
            call = Call(
                sip_call_id=call_id,
                tenant_id=hotline.tenant_id,
                hotline_id=hotline.pk,
                caller=caller or "",
                callee=callee or "",
                # A call from a carrier: the caller is a number outside, whatever it looks like.
                caller_extension_id=(
                    extensions.get((domain, caller)) if direction != CallDirection.INBOUND else None
                ),
                callee_extension_id=(
                    extensions.get((domain, callee)) if direction != CallDirection.OUTBOUND else None
                ),
                direction=direction if direction in CallDirection.values else CallDirection.OUTBOUND,
                caller_id=caller_id or "",
                started_at=_epoch(started) or when,
            )
            new[call_id] = call
        elif call.pk:
            changed[call_id] = call
        call.sip_code = code
        call.disposition = disposition_for(code)
        call.reason = (reason or "")[:128]
        if answered:
            call.answered_at = when
        else:
            call.ended_at = when
            ended.append(call)
    Call.objects.bulk_create(new.values())
    calls.update(new)

    used_cdr: list[int] = []
    now = dt.datetime.now(dt.UTC)
    for row_id, call_id, ended_at, duration in cdr_rows:
        call = calls.get(call_id)
        end = _epoch(ended_at) or now
        if call is None:
            if (now - end).total_seconds() > ORPHAN_CDR_SECONDS or not call_id:
                used_cdr.append(row_id)
            continue
        used_cdr.append(row_id)
        if call.ended_at is not None and call.disposition != Disposition.ANSWERED:
            continue  # a failed dialog's CDR: the failure is the record
        call.ended_at = end
        start = call.answered_at or call.started_at
        call.duration = max(0, round((end - start).total_seconds())) if start else round(float(duration or 0))
        changed[call_id] = call
        ended.append(call)
    to_update = [c for c in changed.values() if c.pk]
    if to_update:
        Call.objects.bulk_update(
            to_update, ["sip_code", "disposition", "reason", "answered_at", "ended_at", "duration"]
        )
    _delete("acc", used_acc)
    _delete("acc_cdrs", used_cdr)
    return ended


KEY = Tuple(F("started_at"), F("id"))


def call_records_purge(*, batch: int = 5000, now=None) -> dict[str, int]:
    """Delete each tenant's call records older than its `call_retention_days`, `batch` rows per
    transaction (short locks; cron can run it at any hour), and record one audit row per tenant
    with the count (changes {"deleted": n, "older_than": …}). Returns tenant name → count.

    Each batch starts after the last one's newest (started_at, id) instead of at the oldest
    end again, where the index entries of the rows just deleted wait for VACUUM: reading past
    them made every batch slower than the one before (docs/performance.md, "Call history")."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    for tenant in Tenant.objects.order_by("pk"):
        cutoff = now - dt.timedelta(days=tenant.call_retention_days)
        old = Call.objects.filter(tenant_id=tenant.pk, started_at__lt=cutoff).order_by("started_at", "id")
        deleted, after = 0, None
        while True:
            rows = old if after is None else old.filter(TupleGreaterThan(KEY, after))
            with transaction.atomic():
                keys = list(rows.values_list("started_at", "id")[:batch])
                if not keys:
                    break
                deleted += Call.objects.filter(pk__in=[pk for _started, pk in keys]).delete()[0]
            after = keys[-1]
        if deleted:
            audit_record(
                action=Action.DELETE,
                tenant_id=tenant.pk,
                object_repr=f"call records older than {tenant.call_retention_days} days",
                changes={"deleted": deleted, "older_than": cutoff.isoformat(timespec="seconds")},
            )
            counts[tenant.name] = deleted
    return counts


def calls_of_extension(extension_id: int) -> Q:
    """The calls an extension made or received."""
    return Q(caller_extension_id=extension_id) | Q(callee_extension_id=extension_id)
