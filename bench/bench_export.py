#!/usr/bin/env python
"""Export: the CSV export of a hotline of 100,000 extensions, plain and with passwords.

    make bench-export          # or: .venv/bin/python bench/bench_export.py --help

A documented command, not a timed test. What it does:
1. creates a scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench_export),
   migrates it and builds a tenant with a hotline of 100,000 extensions (the real range-create
   service, 1,000 at a time, then varied by the real bulk edit: permissions, supervisors,
   number groups, caller-ID hotlines) and an admin with an API token;
2. for each case (the plain export, GET; the export with passwords, POST) and round, starts a
   fresh Python process that sets Django up, warms up on a 10-extension hotline, then asks the
   export API through Django's test Client (the whole middleware stack, no network) and reads
   the streamed body chunk by chunk, as a WSGI server does; it reports the time to the first
   chunk, the total time, the peak RSS of the process during the export above its RSS just
   before it (Linux: VmHWM reset through /proc/self/clear_refs), the bytes, rows and queries;
3. prints the medians, the batch query's plan, then drops the database (--keep keeps it;
   --reuse measures a database kept before without building it again).
Results and the machine they came from: docs/performance.md, "Export".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

# The scratch database, the settings and the machine's description, as bench_scale.py has them.
from bench_scale import machine, recreate_database, setup_django  # noqa: E402

from bench.data import add_scratch_arguments  # noqa: E402

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/pbx_bench_export"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
BIG = 100_000
SMALL = 10
HOTLINE, SMALL_HOTLINE = "19001234", "19005678"
ADMIN = "bench-admin"
CASES = ("plain", "passwords")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_scratch_arguments(
        parser,
        database_url=DEFAULT_DB_URL,
        redis_url=DEFAULT_REDIS_URL,
        redis_use="the cache and the guard's budgets (per-process key prefix)",
    )
    parser.add_argument("--extensions", type=int, default=BIG, help="Extensions (default %(default)s).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of each case (default 3).")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--reuse", action="store_true", help="Measure a kept database; build nothing.")
    parser.add_argument("--measure", choices=CASES, help=argparse.SUPPRESS)  # the child process
    return parser.parse_args()


# --- data ----------------------------------------------------------------------------------------


def build_world(size: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from extensions.choices import CallPermission
    from extensions.models import Extension
    from extensions.services.bulk import extension_bulk_update, extension_range_create
    from hotlines.models import Hotline
    from hotlines.services import number_group_create
    from tenants.choices import Role
    from tenants.models import Membership, Tenant

    call_command("migrate", "--noinput", verbosity=0)
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    hotlines = []
    for number in (HOTLINE, SMALL_HOTLINE, "18001234"):
        hotline = Hotline(tenant=tenant, number=number, name=f"Bench {number}")
        hotline.full_clean()
        hotline.save()
        hotlines.append(hotline)
    big, small, caller_id = hotlines
    groups = [
        number_group_create(tenant=tenant, name=name, strategy="same_carrier", hotlines=[big, caller_id])
        for name in ("Kinh doanh", "Chăm sóc")
    ]
    extension_range_create(hotline=small, first="100", last=str(99 + SMALL), alias_pattern="kd{n}")
    first_number = 100_000  # six digits, so 100,000 fit and the order is numeric
    for chunk in range(size // 1000):
        first = first_number + chunk * 1000
        created = extension_range_create(
            hotline=big,
            first=str(first),
            last=str(first + 999),
            alias_pattern="sale{n}",
            description=f"Nhân viên kinh doanh khu vực {chunk % 50 + 1} — chi nhánh Hà Nội",
        )
        created.sort(key=lambda e: e.number)
        data: dict = {"call_permission": list(CallPermission)[chunk % 4].value}
        if chunk % 2:
            data["supervisor"] = created[0]
        if chunk % 3 == 0:
            data["outbound_groups"] = groups[: 1 + chunk % 2]
        if chunk % 10 == 7:
            data["outbound_hotlines"] = [caller_id]
            data["enabled"] = False
        extension_bulk_update(extensions=created[1:], data=data)
        if chunk % 10 == 9:
            print(f"  {(chunk + 1) * 1000:,} extensions", flush=True)
    assert Extension.objects.filter(hotline=big).count() == size // 1000 * 1000
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    admin = get_user_model().objects.create_user(ADMIN, password="bench")
    Membership.objects.create(user=admin, tenant=tenant, role=Role.ADMIN)


# --- one measurement, in a fresh process -----------------------------------------------------------


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(case: str) -> dict:
    """One export through the API in this (fresh) process; what `main` prints."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from hotlines.models import Hotline
    from tenants.services import api_token_create

    settings.BULK_RATE_LIMIT = (1000, 3600)  # the bench's rounds, not the guard, are measured
    token = api_token_create(user=get_user_model().objects.get(username=ADMIN), replace=True).key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    big, small = (Hotline.objects.get(number=n) for n in (HOTLINE, SMALL_HOTLINE))
    method = client.get if case == "plain" else client.post

    def export(hotline) -> tuple:
        queries = [0]

        def count(execute, sql, params, many, context):
            queries[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            start = time.perf_counter()
            response = method(f"/api/v1/extensions/export/?hotline={hotline.pk}")
            assert response.status_code == 200, response.status_code
            first = None
            size = lines = 0
            for chunk in response.streaming_content:  # read and dropped, as a WSGI server does
                if first is None:
                    first = time.perf_counter() - start
                size += len(chunk)
                lines += chunk.count(b"\r\n")
            response.close()
            total = time.perf_counter() - start
        return first, total, size, lines - 1, queries[0]  # rows: lines but the header

    export(small)  # imports, caches, the first connection
    before = rss_kb("VmRSS")
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux ≥ 4.0)
    first, total, size, rows, queries = export(big)
    return {
        "case": case,
        "first_ms": first * 1000,
        "total_s": total,
        "peak_mb": (rss_kb("VmHWM") - before) / 1024,
        "bytes": size,
        "rows": rows,
        "queries": queries,
    }


def run_child(case: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--measure",
        case,
        "--database-url",
        args.database_url,
        "--redis-url",
        args.redis_url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the {case} export failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def explain() -> str:
    """The plan of a batch after the first (the row comparison starts the index scan)."""
    from django.db.models import F
    from django.db.models.functions import Length

    from extensions import imports
    from hotlines.models import Hotline

    hotline = Hotline.objects.get(number=HOTLINE)
    numbers = hotline.extensions.order_by(Length("number"), "number").values_list("number", flat=True)
    last = numbers[min(imports.EXPORT_BATCH * 10, numbers.count() - 1)]
    qs = (
        hotline.extensions.annotate(supervisor_number=F("supervisor__number"))
        .order_by(Length("number"), "number")
        .filter(imports._after(last))[: imports.EXPORT_BATCH]
    )
    return qs.explain(analyze=True)


def main() -> int:
    args = parse_args()
    if args.measure:
        setup_django(args.database_url, args.redis_url)
        print(json.dumps(measure(args.measure)))
        return 0
    if not args.reuse:
        recreate_database(args.database_url)
    try:
        setup_django(args.database_url, args.redis_url)
        if not args.reuse:
            started = time.perf_counter()
            print(f"Building a hotline of {args.extensions:,} extensions…", flush=True)
            build_world(args.extensions)
            print(f"Built in {time.perf_counter() - started:.0f} s\n")
        print(f"Machine: {machine()}")
        from extensions import imports

        print(f"Batch: {imports.EXPORT_BATCH} extensions\n")
        results: dict[str, list[dict]] = {case: [] for case in CASES}
        for round_no in range(args.rounds):
            for case in CASES if round_no % 2 == 0 else CASES[::-1]:
                result = run_child(case, args)
                results[case].append(result)
                print(
                    f"  round {round_no + 1}, {case}: first chunk {result['first_ms']:.0f} ms, total "
                    f"{result['total_s']:.2f} s, peak RSS +{result['peak_mb']:.1f} MB, "
                    f"{result['rows']:,} rows, {result['bytes'] / 1e6:.1f} MB, {result['queries']} queries",
                    flush=True,
                )
        print(f"\nMedians of {args.rounds} rounds, each in a fresh process:")
        print("| export | first chunk (ms) | total (s) | peak RSS, above idle (MB) | rows | queries |")
        print("|---|---:|---:|---:|---:|---:|")
        for case in CASES:
            values = results[case]

            def median(key: str, values=values) -> float:
                return statistics.median(v[key] for v in values)

            name = "plain (GET)" if case == "plain" else "with passwords (POST)"
            print(
                f"| {name} | {median('first_ms'):.0f} | {median('total_s'):.2f} | "
                f"{median('peak_mb'):.1f} | {values[0]['rows']:,} | {values[0]['queries']} |"
            )
        print("\nEXPLAIN ANALYZE of the eleventh batch:\n" + explain())
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep and not args.reuse:
            recreate_database(args.database_url, drop_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
