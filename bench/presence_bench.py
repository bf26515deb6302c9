#!/usr/bin/env python
"""What the registration watch of `import_call_records --follow` costs each second.

    .venv/bin/python bench/presence_bench.py [--hotlines 10 --extensions 1000]

Builds, in a scratch PostgreSQL database (BENCH_DATABASE_URL, default bench_presence, created
and dropped), one tenant with --hotlines hotlines of --extensions extensions (the range-create
service), a third of them registered (rows in `location`, as Kamailio writes them), records
their presence once, then times `sip.live.presence_sync_all()` (best and median of 50 rounds)
when nothing changed — every second of a quiet day — and when 1 % of the extensions changed.
Results: docs/performance.md, "The registration watch".
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.data import add_scratch_arguments, machine, recreate_database, setup_django  # noqa: E402


def timed(function, rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hotlines", type=int, default=10)
    parser.add_argument("--extensions", type=int, default=1000, help="per hotline")
    add_scratch_arguments(
        parser,
        database_url="postgres://postgres@127.0.0.1:5432/bench_presence",
        redis_url="redis://127.0.0.1:6379/4",
        redis_use="the cache",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()
    recreate_database(args.database_url)
    setup_django(args.database_url, args.redis_url)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(args.database_url, drop_only=True)


def run(args) -> None:
    from django.core.management import call_command
    from django.utils import timezone

    from bench.data import hotline_create, vacuum_analyze
    from extensions.models import Extension
    from extensions.services.bulk import extension_range_create
    from sip.live import presence_sync_all
    from sip.models import Location
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    for n in range(args.hotlines):
        hotline = hotline_create(tenant=tenant, number=f"1900{5000 + n}")
        extension_range_create(
            hotline=hotline, first="100", last=str(99 + args.extensions), alias_pattern="sale{n}"
        )
    now = timezone.now()
    extensions = list(Extension.objects.select_related("hotline").order_by("pk"))
    registered = extensions[::3]

    def location(e, i: int, prefix: str = "bench") -> Location:
        return Location(
            ruid=f"{prefix}-{i}",
            username=e.number,
            domain=e.hotline.sip_domain,
            contact=f"sip:{e.number}@127.0.0.1:5099",
            expires=now + dt.timedelta(hours=1),
            callid=f"bench-{i}",
            cseq=1,
            last_modified=now,
            user_agent="bench",
            socket="udp:127.0.0.1:5060",
        )

    Location.objects.bulk_create([location(e, i) for i, e in enumerate(registered)], batch_size=1000)
    presence_sync_all()  # the first look records everyone
    vacuum_analyze()
    total = len(extensions)
    print(machine())
    print(f"{total} extensions on {args.hotlines} hotlines, {len(registered)} registered")
    best, median = timed(presence_sync_all, 50)
    print(f"nothing changed: best {best:.1f} ms, median {median:.1f} ms")
    changed = [e for i, e in enumerate(extensions) if i % 100 == 1 and i % 3]  # none registered

    flips: list[float] = []

    def flip() -> None:
        # 1 % of the extensions (none registered yet) register, then next round unregister.
        flipped = Location.objects.filter(ruid__startswith="flip-")
        if flipped.exists():
            flipped.delete()
        else:
            Location.objects.bulk_create([location(e, i, "flip") for i, e in enumerate(changed)])
        start = time.perf_counter()
        assert len(presence_sync_all()) == len(changed)
        flips.append((time.perf_counter() - start) * 1000)

    for _ in range(10):
        flip()
    print(f"{len(changed)} changed: best {min(flips):.1f} ms, median {statistics.median(flips):.1f} ms")


if __name__ == "__main__":
    main()
