#!/usr/bin/env python
"""The call history's CSV export of a long range: what the person waits for in the request,
before (the whole range streamed by the web worker) and now (counted up to the threshold, then
queued for the task queue's worker), and how long the worker then takes to write the file.

    make bench-call-exports                       # or: .venv/bin/python bench/bench_call_exports.py --help
    make bench-call-exports BENCH_ARGS="--calls=50000 --rounds=3"   # a quick run

A scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench_call_exports; created,
migrated and dropped at the end unless --keep; --reuse takes a kept one as it is) with the call
history bench's data (bench/bench_calls.py: a hotline of 1,000 extensions, N calls over the past
year). Each case through Django's test Client (the whole middleware stack), the export of the
hotline's whole history; medians over --rounds:

- streamed: CALL_EXPORT_INLINE_ROWS above N, i.e. what every export did before, read to its end;
- asked: the default threshold (50,000), the request that counts up to it and queues the job;
- worker: `call_export_run`, the task the worker runs for that job (writing the file).

Results: docs/performance.md, "Call history".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_calls import build  # noqa: E402
from bench.data import machine, recreate_database, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--reuse", action="store_true", help="Use a kept database as it is (and keep it).")
    args = parser.parse_args()
    if args.calls > 2_000_000:
        parser.error("--calls is bounded at 2,000,000")
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pbx_bench_call_exports")
    setup_django(url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"))
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from huey.contrib.djhuey import HUEY  # type: ignore[import-untyped]  # huey has no type information

    from sip.call_exports import call_export_run, export_path
    from sip.models import CallExport

    try:
        _tenant, hotline, admin = build(args, url)
        print(f"on {machine()}")
        client = Client()
        client.force_login(admin)
        export_url = reverse("calls:hotline_calls_export", args=[hotline.pk])
        times: dict[str, list[float]] = {"streamed (before)": [], "asked (now)": [], "worker (now)": []}
        sizes = {}
        for _ in range(args.rounds):
            settings.CALL_EXPORT_INLINE_ROWS = args.calls + 1
            started = time.perf_counter()
            response = client.get(export_url)
            body = response.getvalue()  # read to the end, as the browser does
            times["streamed (before)"].append(time.perf_counter() - started)
            sizes["streamed"] = len(body)

            settings.CALL_EXPORT_INLINE_ROWS = 50_000
            started = time.perf_counter()
            response = client.get(export_url)
            times["asked (now)"].append(time.perf_counter() - started)
            assert response.status_code == 302, response.status_code
            job = CallExport.objects.get()
            started = time.perf_counter()
            call_export_run(job.pk)
            times["worker (now)"].append(time.perf_counter() - started)
            job.refresh_from_db()
            assert job.status == "done" and job.size == sizes["streamed"], (job.status, job.error)
            export_path(job).unlink()
            job.delete()
        HUEY.flush()  # the jobs queued for a worker this bench does not run
        megabytes = sizes["streamed"] / 1e6
        print(f"\nthe export of {args.calls:,} calls ({megabytes:.1f} MB), medians of {args.rounds}")
        for name, values in times.items():
            print(f"{name:20s} {statistics.median(values) * 1000:10.1f} ms")
    finally:
        connection.close()
        if not (args.keep or args.reuse):
            recreate_database(url, drop_only=True)


if __name__ == "__main__":
    main()
