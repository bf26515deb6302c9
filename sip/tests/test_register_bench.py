"""`make bench-register` in its --quick mode, for real (SIPp, two Kamailios, a scratch
database): both credentials tables authenticate every registration, and the run ends with the
`ratio <ours / stock>` line other work reads (DESIGN.md, "Cluster")."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.sip

BASE_DIR = Path(__file__).resolve().parents[2]
RATIO = re.compile(r"ratio (\d+\.\d\d) \(ours (\d+)/s, stock (\d+)/s\)")
LOOKUP = re.compile(r"  (ours|stock|before) \(.*?\) +planning +(\d+) µs, execution +(\d+) µs")
SCANS = re.compile(r"Index scans served during the steps: sip_subscriber (\d+), subscriber (\d+)")
STEP = re.compile(
    r"\| (\d+) \| (\d+) \| ([\d.]+) % \| ([\d.]+) \| (\d+) \| ([\d.]+) % \| ([\d.]+) "
    r"\| (ours stock|stock ours) \|"
)


def test_a_quick_register_bench_authenticates_on_both_tables_and_prints_the_ratio(db, capsys):
    if connection.vendor != "postgresql":
        pytest.skip("The REGISTER bench runs on PostgreSQL (its scratch database).")
    settings = connection.settings_dict
    scratch = f"{settings['NAME']}_register_bench"[:63]
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    url = f"postgres://{settings['USER']}@{host}/{scratch}"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    run = subprocess.run(  # noqa: S603 — our own bench
        [sys.executable, "bench/register_bench.py", "--quick", "--database-url", url],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    lines = run.stdout.strip().splitlines()
    steps = [STEP.fullmatch(line) for line in lines if line.startswith("| ") and "reg/s" not in line]
    assert all(steps) and [int(m[1]) for m in steps] == [50, 100], output[-4000:]
    for step in steps:
        offered, ours, ours_failed, _ms, stock, stock_failed = (float(v) for v in step.groups()[:6])
        # Every registration completed on both (a few hundred at a low rate), at the rate offered.
        assert ours_failed == stock_failed == 0.0, step[0]
        assert ours >= 0.9 * offered and stock >= 0.9 * offered, step[0]
    # The one thing that differs between the two sides, auth_db's lookup (PostgreSQL's own
    # planning + execution time, medians of 1,200, interleaved): ours costs what the stock
    # table's does (measured 0–3 µs less in every full run), and far less than the view it
    # replaced (4–5×). A regression to a view or a wider table shows here, not in the rates.
    lookups = {m[1]: int(m[2]) + int(m[3]) for m in LOOKUP.finditer(run.stdout)}
    assert set(lookups) == {"ours", "stock", "before"}, output[-4000:]
    assert lookups["ours"] <= 1.15 * lookups["stock"] + 2, lookups
    assert lookups["ours"] * 2 < lookups["before"], lookups
    # Each Kamailio read its own table: one lookup per authenticated REGISTER at least.
    scans = SCANS.search(run.stdout)
    assert scans and int(scans[1]) >= 300 and int(scans[2]) >= 300, output[-4000:]
    ratio = RATIO.fullmatch(lines[-1])
    assert ratio, lines[-1]
    value, ours_best, stock_best = float(ratio[1]), int(ratio[2]), int(ratio[3])
    assert ours_best >= 90 and stock_best >= 90
    assert abs(value - ours_best / stock_best) < 0.02
    with capsys.disabled():  # shown in the suite's output (CI): the quick run's line, not a verdict
        print(
            f"\nREGISTER bench --quick: {lines[-1]}; auth_db lookup ours {lookups['ours']} µs, "
            f"stock {lookups['stock']} µs, the old view {lookups['before']} µs"
        )
    # The scratch database is gone.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [scratch])
        assert cursor.fetchone()[0] == 0


def test_a_rate_run_again_is_judged_by_its_re_runs():
    """The result rule (docs/performance.md): a rate one table held in its single run and the
    other missed is run again, A B B A, and the re-runs decide for both tables."""
    from bench.register_bench import Result, best_rates

    def run(rate: int, failed: int) -> Result:
        return Result(
            rate=rate, seconds=10, offered=rate * 10, successful=rate * 10 - failed, sending_seconds=10
        )

    ours = [run(675, 0), run(1012, 1200), run(1012, 900), run(729, 0), run(850, 0)]
    stock = [run(675, 0), run(1012, 0), run(1012, 1100), run(729, 0), run(850, 0)]
    assert best_rates({"ours": ours, "stock": stock}) == {"ours": 850, "stock": 850}
    # A rate both held in the re-runs counts for both.
    stock[2] = run(1012, 50)
    ours[2] = run(1012, 20)
    assert best_rates({"ours": ours, "stock": stock}) == {"ours": 1012, "stock": 1012}
    assert best_rates({"ours": [run(300, 300)], "stock": []}) == {"ours": 0, "stock": 0}
