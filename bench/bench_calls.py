#!/usr/bin/env python
"""Call history at 1,000,000 calls.

    make bench-calls-history     # or: .venv/bin/python bench/bench_calls.py --help

1. A scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench_calls), migrated, with a
   tenant, a hotline of 1,000 extensions (bench/data.py) and N calls (default 1,000,000) spread
   over a year among them (one INSERT … SELECT generate_series);
2. medians over rounds, through Django's test Client (whole middleware stack): the hotline's
   history page, one extension's history, a filtered page (disposition=busy), a deep page (the
   cursor of page 200), the API; next to the extension list page of the same hotline and a bare
   query (the page's own 51 rows, newest first) — "ratio" = ours / bare.
Results: docs/performance.md, "Call history". The live status poll at 100 open pages has a bench
of its own, on gunicorn: bench/status_poll_bench.py (`make bench-status-poll`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# ruff: noqa: E501 — SQL kept on one line per clause
from bench.data import fill_hotline, hotline_create, machine, recreate_database, setup_django, vacuum_analyze  # noqa: E402


def median_ms(fn, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pbx_bench_calls")
    recreate_database(url)
    setup_django(url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"))
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    from tests.factories import TenantFactory, make_admin

    tenant = TenantFactory(slug="bench")
    hotline = hotline_create(tenant=tenant, number="19001234")
    fill_hotline(hotline=hotline, count=1000, groups=[])
    admin = make_admin(tenant)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sip_call (tenant_id, hotline_id, caller_extension_id, callee_extension_id, caller,
                callee, direction, caller_id, started_at, answered_at, ended_at, duration, disposition,
                sip_code, reason, sip_call_id)
            SELECT %(tenant)s, %(hotline)s, e.id, NULL, e.number, '09' || lpad((g %% 100000000)::text, 8, '0'),
                   'outbound', '19001234', now() - (g || ' seconds')::interval * 31,
                   now() - (g || ' seconds')::interval * 31, now() - (g || ' seconds')::interval * 31 + interval '1 minute',
                   60, (ARRAY['answered','busy','no_answer','cancelled','refused','failed'])[1 + g %% 6],
                   200, '', 'bench-' || g
            FROM generate_series(1, %(n)s) g
            JOIN (SELECT id, number, row_number() OVER (ORDER BY id) - 1 AS i FROM extensions_extension
                  WHERE hotline_id = %(hotline)s) e ON e.i = g %% 1000
            """,
            {"tenant": tenant.pk, "hotline": hotline.pk, "n": args.calls},
        )
    vacuum_analyze()
    print(f"{args.calls:,} calls inserted in {time.perf_counter() - started:.0f} s on {machine()}")

    client = Client()
    client.force_login(admin)
    extension = hotline.extensions.order_by("pk").first()
    base = f"/hotlines/{hotline.pk}"
    from sip.history import call_list, keyset_page

    cursor_200 = ""
    for _ in range(200):
        cursor_200 = keyset_page(call_list(user=admin, hotline=hotline), cursor=cursor_200).next_cursor

    def bare():
        with connection.cursor() as cur:
            cur.execute(
                "SELECT * FROM sip_call WHERE tenant_id = %s AND hotline_id = %s ORDER BY started_at DESC, id DESC LIMIT 51",
                [tenant.pk, hotline.pk],
            )
            cur.fetchall()

    cases = {
        "bare query (51 rows, newest first)": bare,
        "extension list page (1,000 extensions)": lambda: client.get(f"/hotlines/{hotline.pk}/extensions/"),
        "history page, hotline": lambda: client.get(f"{base}/calls/"),
        "history page, one extension": lambda: client.get(f"/extensions/{extension.pk}/calls/"),
        "history page, disposition=busy": lambda: client.get(f"{base}/calls/?disposition=busy"),
        "history page 200 (keyset)": lambda: client.get(f"{base}/calls/?after={cursor_200}"),
        "API /api/v1/calls/": lambda: client.get("/api/v1/calls/"),
    }
    results = {name: median_ms(fn, args.rounds) for name, fn in cases.items()}
    floor = results["bare query (51 rows, newest first)"]
    for name, ms in results.items():
        print(f"{name:45s} {ms:8.2f} ms   ratio {ms / floor:6.1f}")

    connection.close()
    if not args.keep:
        recreate_database(url, drop_only=True)


if __name__ == "__main__":
    main()
