#!/usr/bin/env python
"""Call history at 1,000,000 calls next to the extension list, and the retention purge.

    make bench-calls-history                       # or: .venv/bin/python bench/bench_calls.py --help
    make bench-calls-history BENCH_ARGS="--calls=100000 --rounds=10"   # a quick run

1. A scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench_calls_history; created,
   migrated and dropped at the end unless --keep; --reuse takes a kept one as it is), with a
   tenant, a hotline of 1,000 extensions (bench/data.py) and N calls over the past year
   (`INSERT … SELECT generate_series`, 100,000 rows a statement, each its own transaction and
   retried once if the connection drops; then VACUUM ANALYZE): 80 % outbound to 50,000
   customer numbers, 20 % internal; 60 % answered, 15 % no answer, 10 % busy, 10 % cancelled,
   3 % refused, 2 % failed.
2. Medians over interleaved rounds (every case once per round, in a rotating order, so load
   from other processes hits all of them alike), through Django's test Client (the whole
   middleware stack): the history pages (hotline, one extension, each filter, a deep keyset
   page), the CSV export of one day, the API (admin, agent); next to the extension list page of
   the same hotline and a bare query (the page's own 51 rows, newest first). Ratios to both.
3. --purge: `call_records_purge` keeping half the calls' span (180 days of 1,000,000): total time,
   rows/s and the longest batch transaction (how long its row locks are held).
Results: docs/performance.md, "Call history". The live status poll at 100 open pages has a bench
of its own, on gunicorn: bench/status_poll_bench.py (`make bench-status-poll`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_scale import interleaved, queries_of  # noqa: E402
from bench.data import fill_hotline, hotline_create, machine, recreate_database, setup_django  # noqa: E402

CHUNK = 100_000
HOTLINE = "19001234"

# One statement per chunk of `g`: the call's extension is g % 1000, every fifth thousand is
# internal (to the next extension), outcomes by a multiplicative hash of g.
INSERT = """
INSERT INTO sip_call (tenant_id, hotline_id, caller_extension_id, callee_extension_id, caller, callee,
    direction, caller_id, started_at, answered_at, ended_at, duration, disposition, sip_code, reason,
    sip_call_id)
SELECT %(tenant)s, %(hotline)s, a.id, CASE WHEN internal THEN b.id END, a.number,
       CASE WHEN internal THEN b.number ELSE '09' || lpad(((g * 37) %% 50000)::text, 8, '0') END,
       CASE WHEN internal THEN 'internal' ELSE 'outbound' END, CASE WHEN internal THEN '' ELSE %(number)s END,
       start, CASE WHEN outcome < 60 THEN start + interval '8 seconds' END,
       start + CASE WHEN outcome < 60 THEN interval '8 seconds' ELSE interval '0' END
             + (g %% 300) * interval '1 second',
       CASE WHEN outcome < 60 THEN g %% 300 ELSE 0 END,
       CASE WHEN outcome < 60 THEN 'answered' WHEN outcome < 75 THEN 'no_answer' WHEN outcome < 85 THEN 'busy'
            WHEN outcome < 95 THEN 'cancelled' WHEN outcome < 98 THEN 'refused' ELSE 'failed' END,
       CASE WHEN outcome < 60 THEN 200 WHEN outcome < 75 THEN 480 WHEN outcome < 85 THEN 486
            WHEN outcome < 95 THEN 487 WHEN outcome < 98 THEN 403 ELSE 503 END,
       CASE WHEN outcome BETWEEN 95 AND 97 THEN 'Call permission: international required' ELSE '' END,
       'bench-' || g
FROM (SELECT g, (g / 1000) %% 5 = 0 AS internal, (g * 7919) %% 100 AS outcome,
             %(now)s - g * interval '31 seconds' AS start
      FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g) s
JOIN ext a ON a.i = s.g %% 1000
JOIN ext b ON b.i = (s.g + 1) %% 1000
"""


def insert_calls(*, tenant, hotline, calls: int, now: dt.datetime) -> float:
    """`calls` rows in chunks of CHUNK, each chunk one transaction; a chunk whose connection
    dropped is retried once on a new connection. Returns the seconds it took."""
    from django.db import OperationalError, connection

    started = time.perf_counter()
    params = {"tenant": tenant.pk, "hotline": hotline.pk, "number": HOTLINE, "now": now}
    ext = (
        "CREATE TEMP TABLE IF NOT EXISTS ext AS SELECT id, number, row_number() OVER (ORDER BY id) - 1 AS i "
        "FROM extensions_extension WHERE hotline_id = %s"
    )
    for lo in range(1, calls + 1, CHUNK):
        hi = min(calls, lo + CHUNK - 1)
        for attempt in (1, 2):
            try:
                with connection.cursor() as cursor:
                    cursor.execute(ext, [hotline.pk])
                    cursor.execute(INSERT, {**params, "lo": lo, "hi": hi})
                break
            except OperationalError as error:
                if attempt == 2:
                    raise
                print(f"  chunk {lo:,}–{hi:,}: {error!s:.80}; retrying on a new connection", flush=True)
                connection.close()
        print(f"  {hi:,} calls ({time.perf_counter() - started:.0f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sip_call")
    return time.perf_counter() - started


def build(args, url: str):
    """The scratch database, or the kept one with --reuse. Returns (tenant, hotline, admin)."""
    from django.core.management import call_command

    from hotlines.models import Hotline
    from tests.factories import TenantFactory, make_admin

    if not args.reuse:
        recreate_database(url)
    call_command("migrate", verbosity=0)
    hotline = Hotline.objects.filter(number=HOTLINE).select_related("tenant").first()
    if hotline is not None:
        from django.contrib.auth import get_user_model

        print("reusing the kept database (--reuse)")
        return hotline.tenant, hotline, get_user_model().objects.get(username="admin-bench")
    tenant = TenantFactory(slug="bench")
    hotline = hotline_create(tenant=tenant, number=HOTLINE)
    fill_hotline(hotline=hotline, count=1000, groups=[])
    admin = make_admin(tenant)
    seconds = insert_calls(tenant=tenant, hotline=hotline, calls=args.calls, now=dt.datetime.now(dt.UTC))
    print(f"{args.calls:,} calls inserted and analysed in {seconds:.0f} s ({args.calls / seconds:,.0f}/s)")
    return tenant, hotline, admin


def history_cases(tenant, hotline, admin) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from sip.history import call_list, keyset_page
    from sip.models import Call
    from tests.factories import make_agent

    page = Client()
    page.force_login(admin)
    extension = hotline.extensions.order_by("pk")[1]
    get_user_model().objects.filter(username="agent-bench").delete()  # a kept database's (--reuse)
    agent_user = make_agent(tenant, extension, username="agent-bench")
    agent = Client()
    agent.force_login(agent_user)
    base = f"/hotlines/{hotline.pk}"
    cursor_200 = ""
    for _ in range(200):
        cursor_200 = keyset_page(call_list(user=admin, hotline=hotline), cursor=cursor_200).next_cursor
    newest = Call.objects.filter(hotline=hotline).order_by("-started_at", "-id").first()
    outbound = Call.objects.filter(hotline=hotline, direction="outbound")
    number = outbound.order_by("-started_at", "-id").first().callee
    oldest = Call.objects.filter(hotline=hotline).order_by("started_at", "id").first()
    back = min(30, (newest.started_at - oldest.started_at).days // 2)  # inside a small run's span
    day = (newest.started_at - dt.timedelta(days=back)).date().isoformat()
    week = (newest.started_at - dt.timedelta(days=back + 7)).date().isoformat()

    def bare():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT * FROM sip_call WHERE tenant_id = %s AND hotline_id = %s "
                "ORDER BY started_at DESC, id DESC LIMIT 51",
                [tenant.pk, hotline.pk],
            )
            cur.fetchall()
        return SimpleNamespace(status_code=200, streaming=False)  # what bench_scale's timer reads

    return {
        "bare query (51 rows, newest first)": bare,
        "extension list page (1,000 extensions)": lambda: page.get(f"{base}/extensions/"),
        "history page, hotline": lambda: page.get(f"{base}/calls/"),
        "history page, one extension": lambda: page.get(f"/extensions/{extension.pk}/calls/"),
        "history page, one week": lambda: page.get(f"{base}/calls/?since={week}&until={day}"),
        "history page, direction=internal": lambda: page.get(f"{base}/calls/?direction=internal"),
        "history page, disposition=busy": lambda: page.get(f"{base}/calls/?disposition=busy"),
        "history page, disposition=refused": lambda: page.get(f"{base}/calls/?disposition=refused"),
        "history page, number": lambda: page.get(f"{base}/calls/?number={number}"),
        "history page, all filters": lambda: page.get(
            f"{base}/calls/?since={week}&until={day}&direction=outbound&disposition=answered"
        ),
        "history page 200 (keyset)": lambda: page.get(f"{base}/calls/?after={cursor_200}"),
        "extension page as its agent": lambda: agent.get(f"/extensions/{extension.pk}/calls/"),
        "API /api/v1/calls/": lambda: page.get("/api/v1/calls/"),
        "API ?extension=": lambda: page.get(f"/api/v1/calls/?extension={extension.pk}"),
        "API as an agent": lambda: agent.get("/api/v1/calls/"),
        "CSV export, one day (~2,800 calls)": lambda: page.get(
            f"{base}/calls/export/?since={day}&until={day}"
        ),
    }


def measure_purge(tenant, *, batch: int) -> None:
    """Purge the older half of the calls (180 days of 1,000,000), timing every statement."""
    from django.db import connection
    from django.utils import timezone

    from sip.call_records import call_records_purge
    from sip.models import Call

    statements: list[tuple[float, str]] = []

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - start, sql.split(None, 1)[0]))

    oldest = Call.objects.filter(tenant=tenant).order_by("started_at", "id").first().started_at
    tenant.call_retention_days = max(1, (timezone.now() - oldest).days // 2)
    tenant.save(update_fields=["call_retention_days"])
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        counts = call_records_purge(batch=batch)
    seconds = time.perf_counter() - started
    deleted = sum(counts.values())
    deletes = [s for s, kind in statements if kind.upper() == "DELETE"] or [0.0]
    selects = [s for s, kind in statements if kind.upper() == "SELECT"]
    print(
        f"purge (retention {tenant.call_retention_days} days, batch {batch:,}): {deleted:,} calls in "
        f"{seconds:.1f} s "
        f"({deleted / max(seconds, 1e-9):,.0f} rows/s), {len(deletes)} batches; DELETE median "
        f"{statistics.median(deletes) * 1000:.0f} ms, max {max(deletes) * 1000:.0f} ms; "
        f"SELECT of a batch's ids median {statistics.median(selects) * 1000:.1f} ms, "
        f"max {max(selects) * 1000:.1f} ms; load average {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--purge", action="store_true", help="Also time the retention purge (deletes half).")
    parser.add_argument("--purge-batch", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--reuse", action="store_true", help="Use a kept database as it is (and keep it).")
    args = parser.parse_args()
    if args.calls > 5_000_000:
        parser.error("--calls is bounded at 5,000,000")
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pbx_bench_calls_history")
    setup_django(url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"))
    from django.db import connection

    try:
        tenant, hotline, admin = build(args, url)
        print(f"on {machine()}")
        cases = history_cases(tenant, hotline, admin)
        queries = {name: queries_of(fn) for name, fn in cases.items() if not name.startswith("bare")}
        load = os.getloadavg()[0]
        medians = interleaved(cases, args.rounds)
        floor = medians["bare query (51 rows, newest first)"]
        listing = medians["extension list page (1,000 extensions)"]
        print(
            f"\nmedians of {args.rounds} interleaved rounds, ms (load average {load:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after)"
        )
        print(f"{'case':42s} {'ms':>8s} {'/ bare':>7s} {'/ list':>7s} {'queries':>7s}")
        for name, ms in medians.items():
            print(f"{name:42s} {ms:8.2f} {ms / floor:7.1f} {ms / listing:7.2f} {queries.get(name, 1):7d}")
        if args.purge:
            measure_purge(tenant, batch=args.purge_batch)
    finally:
        connection.close()
        if not (args.keep or args.reuse):
            recreate_database(url, drop_only=True)


if __name__ == "__main__":
    main()
