#!/usr/bin/env python
"""What keeping `sip_subscriber` current costs the writes: each bulk write of a hotline of
10,000 extensions timed with the table's triggers on and off, in the same run.

    make bench-subscriber-triggers   # or: .venv/bin/python bench/subscriber_triggers_bench.py --help

A scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench_triggers), a hotline of
10,000 extensions built like the Scale bench's (bench.data.fill_hotline: range create, then bulk
edits). Each case runs in a transaction that is rolled back, so every round starts from the same
rows; "off" disables the table's triggers inside that transaction (ALTER TABLE … DISABLE
TRIGGER, rolled back with it), so it is what the write cost before the table. The cases
alternate on/off round by round; medians are printed, then the database is dropped. On a busy
machine the on/off difference is noisy; the last column, the time PostgreSQL counted inside the
trigger functions (track_functions), is what the triggers themselves cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.data import (  # noqa: E402  (needs BASE_DIR on the path)
    fill_hotline,
    hotline_create,
    machine,
    recreate_database,
    setup_django,
    vacuum_analyze,
)

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/pbx_bench_triggers"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
COUNT = 10_000
TRIGGERS = {
    "extensions_extension": (
        "sip_subscriber_extension_insert",
        "sip_subscriber_extension_update",
        "sip_subscriber_extension_delete",
    ),
    "hotlines_hotline": ("sip_subscriber_hotline_update",),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL),
        help="Scratch PostgreSQL database (created and dropped). Default: %(default)s",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--rounds", type=int, default=5, help="Rounds per case and setting (default 5).")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    return parser.parse_args()


def cases(hotline) -> dict:
    """Each case: a write of the whole hotline, as the bulk paths issue it."""
    from core.services import bulk_update_values
    from extensions.imports import export_rows, import_apply, iter_export_csv
    from extensions.models import Extension
    from hotlines.models import Hotline

    def edit(column, value):
        def run():
            rows = list(Extension.objects.filter(hotline=hotline))
            for row in rows:
                setattr(row, column, value(row))
            start = time.perf_counter()
            bulk_update_values(Extension, rows, [column])  # 10 × UPDATE … FROM (VALUES …)
            return time.perf_counter() - start

        return run

    def bulk_create():
        Extension.objects.filter(hotline=hotline).delete()
        template = Extension(hotline=hotline, number="0", alias="x")
        template.set_sip_password("Bench-pass-2025xyz")
        rows = [
            Extension(
                hotline=hotline,
                number=str(n),
                alias=f"nv{n}",
                password_encrypted=template.password_encrypted,
                ha1=template.ha1,
                ha1b=template.ha1b,
            )
            for n in range(100, 100 + COUNT)
        ]
        start = time.perf_counter()
        Extension.objects.bulk_create(rows, batch_size=1000)
        return time.perf_counter() - start

    def delete():
        start = time.perf_counter()
        Extension.objects.filter(hotline=hotline).delete()
        return time.perf_counter() - start

    def hotline_disable():
        start = time.perf_counter()
        Hotline.objects.filter(pk=hotline.pk).update(enabled=False)
        return time.perf_counter() - start

    base = list(export_rows(hotline=hotline))

    def csv_import(permission: bool):
        def run():
            rows = []
            for row in base:
                changed = {**row, "description": "Ca chiều"}
                if permission:
                    changed["call_permission"] = "internal"  # 7,500 of them change
                rows.append(changed)
            text = "".join(iter_export_csv(rows))
            start = time.perf_counter()
            result = import_apply(hotline=hotline, data=text)
            assert result.applied, result
            return time.perf_counter() - start

        return run

    return {
        "bulk edit: call permission of 10,000 (rows rewritten)": edit(
            "call_permission", lambda e: 1 if e.call_permission != 1 else 2
        ),
        "bulk edit: description of 10,000 (no row rewritten)": edit("description", lambda e: "Ca chiều"),
        "bulk disable 10,000": edit("enabled", lambda e: not e.enabled),
        "bulk_create 10,000": bulk_create,
        "delete 10,000": delete,
        "hotline disabled (10,000 rows out)": hotline_disable,
        "CSV import apply, 10,000 descriptions": csv_import(False),
        "CSV import apply, 10,000 rows, 7,500 call permissions": csv_import(True),
    }


def measure(run, *, triggers: bool) -> tuple[float, float]:
    """Milliseconds of `run` inside a transaction that is rolled back, and of those the
    milliseconds spent in the table's trigger functions (PostgreSQL's own count for this
    transaction, track_functions = 'pl': what the triggers cost, whatever else the machine
    is doing)."""
    from django.db import connection, transaction

    def spent() -> float:
        # The backend's counts not yet flushed to the statistics, which may span transactions:
        # the difference across `run` is what it spent.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(sum(pg_stat_get_xact_function_total_time(oid)), 0) FROM pg_proc "
                "WHERE proname LIKE 'sip_subscriber_%'"
            )
            return float(cursor.fetchone()[0])

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL track_functions = 'pl'")
            if not triggers:
                for table, names in TRIGGERS.items():
                    for name in names:
                        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        before = spent()
        seconds = run()
        in_triggers = spent() - before
        transaction.set_rollback(True)
    return seconds * 1000, in_triggers


def main() -> int:
    args = parse_args()
    recreate_database(args.database_url)
    setup_django(args.database_url, args.redis_url)
    from django.core.management import call_command
    from django.db import connection

    from tenants.models import Tenant

    try:
        call_command("migrate", "--noinput", verbosity=0)
        print(f"Machine: {machine()}")
        tenant = Tenant.objects.create(name="Bench", slug="bench")
        hotline = hotline_create(tenant=tenant, number="19005000")
        print(f"Building a hotline of {COUNT:,} extensions…", flush=True)
        fill_hotline(hotline=hotline, count=COUNT, groups=[])
        vacuum_analyze()
        load = os.getloadavg()
        results: dict[str, dict[bool, list[float]]] = {}
        inside: dict[str, list[float]] = {}
        for name, run in cases(hotline).items():
            results[name] = {True: [], False: []}
            inside[name] = []
            measure(run, triggers=True)  # warm-up
            for round_no in range(args.rounds):
                for triggers in (True, False) if round_no % 2 == 0 else (False, True):
                    ms, in_triggers = measure(run, triggers=triggers)
                    results[name][triggers].append(ms)
                    if triggers:
                        inside[name].append(in_triggers)
            on, off = (statistics.median(results[name][t]) for t in (True, False))
            print(
                f"  {name}: {off:.0f} → {on:.0f} ms, {statistics.median(inside[name]):.0f} in the triggers",
                flush=True,
            )
        print(
            f"\nMedians of {args.rounds} rounds (ms), triggers off (before: the view) and on; load "
            f"average {load[0]:.1f} → {os.getloadavg()[0]:.1f}:"
        )
        print("| write | without triggers | with triggers | difference | in the triggers |")
        print("|---|---:|---:|---:|---:|")
        for name, by in results.items():
            on, off = statistics.median(by[True]), statistics.median(by[False])
            print(
                f"| {name} | {off:.0f} | {on:.0f} | {on - off:+.0f} | "
                f"{statistics.median(inside[name]):.0f} ({statistics.median(inside[name]) / off:.0%}) |"
            )
        return 0
    finally:
        if not args.keep:
            connection.close()
            recreate_database(args.database_url, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
