#!/usr/bin/env python
"""REGISTER throughput at sustained rates: our credentials table (`sip_subscriber`) vs
Kamailio's stock `subscriber` table, the same rows, in the same run on the same machine.

    make bench-register          # or: .venv/bin/python bench/register_bench.py --help
    .venv/bin/python bench/register_bench.py --quick   # a smoke run of a few seconds

What it does, all on the loopback and bounded (--max-rate, --max-seconds):
1. creates a scratch PostgreSQL database, migrates it and creates USERS extensions (default
   5,000) through the real range-create service, on hotlines of PER_HOTLINE (numbers 100…,
   the same numbers on every hotline, as tenants have);
2. copies the same rows into a stock `subscriber` table (Kamailio's schema plus the columns our
   cfg loads with the credentials, so both sides load the same values), then ANALYZE;
3. starts two Kamailio instances from deploy/kamailio/kamailio.cfg that differ only in
   AUTH_TABLE (`sip_subscriber` vs `subscriber`), and registers every extension once on each
   (a warm-up: every later REGISTER refreshes an existing contact), then ANALYZE again;
4. offers registrations with SIPp (bench/sipp_register.xml: REGISTER, 401, REGISTER with the
   digest, 200; one extension per call from a CSV injection file) at rising rates, STEP_SECONDS
   per rate, to one instance and then the other, alternating which goes first; ×1.5 per step
   until one table misses (that rate then runs again, two runs per table, A B B A, the better
   counting), then ×1.08 from the last rate both held, two runs per table, until both miss;
   `location` is vacuumed between runs;
5. prints per step the rate each achieved (registrations completed per second) and the
   failures (no 200 within 5 s, SIPp's retransmissions included), the highest rate offered that
   each held (< 1 % failures, offered on time), the index scans each table served, and last a
   line `ratio <ours / stock> (ours N/s, stock M/s)`.
It stops SIPp and both Kamailios by PID and drops the scratch database (--keep keeps it).
Our own REGISTER rate limit (pipelimit, REGISTER_RATE_LIMIT) is set out of reach, so the rates
are the server's and not our limit's (the check itself still runs on every REGISTER); pike is
off, since all the traffic comes from one address.

    make bench-register-overload # --overload: one Kamailio with REGISTER_RATE_LIMIT = --limit

offers new registrations at rising rates (--rates, --step-seconds each) from one open-loop UDP
client, answers each 401 with the digest, and counts per rate: 401s, 200s, 503s (each checked
for Retry-After), no answer, and the datagrams the kernel dropped at Kamailio's and the
client's sockets.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.data import machine, recreate_database  # noqa: E402
from sip.kamailio import (  # noqa: E402  (needs BASE_DIR on the path; imports no Django model)
    RELAXED_PROTECTION,
    Kamailio,
    KamailioConfig,
    db_url_for,
    free_port,
    free_sip_port,
)
from sip.processes import stop_process  # noqa: E402

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/pbx_bench_register"
SCENARIO = Path(__file__).resolve().parent / "sipp_register.xml"
OURS, STOCK = "ours", "stock"
TABLES = {OURS: "sip_subscriber", STOCK: "subscriber"}
STOCK_SUBSCRIBER = """
CREATE TABLE subscriber (
    id SERIAL PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    call_permission INTEGER DEFAULT 3 NOT NULL,
    allowed_networks VARCHAR(1024) DEFAULT '' NOT NULL,
    max_contacts INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
);
CREATE INDEX subscriber_username_idx ON subscriber (username);
INSERT INTO subscriber (username, domain, ha1, ha1b, call_permission, allowed_networks, max_contacts)
    SELECT username, domain, ha1, ha1b, call_permission, allowed_networks, max_contacts FROM sip_subscriber;
INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7);
ANALYZE
"""
# A registration that has no 200 this long after its first REGISTER has failed.
RECV_TIMEOUT_MS = 5000
# Steps: ×COARSE while both tables hold the rate (one run each), then ×FINE from the last rate
# both held (two runs each, A B B A, the better counting: one latency spike of a shared machine
# should not decide the result).
COARSE, FINE = 1.5, 1.08
FAILURE_LIMIT = 1.0  # percent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL),
        help="Scratch PostgreSQL database (created and dropped). Default: %(default)s",
    )
    parser.add_argument("--users", type=int, default=5000, help="Extensions to create (default 5000).")
    parser.add_argument("--per-hotline", type=int, default=100, help="Extensions per hotline (default 100).")
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=None,
        help="Seconds per rate and table (default 10; --overload 3).",
    )
    parser.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="--overload: a Kamailio define (-A), e.g. UDP_MAXBUFFER=4194304; repeatable.",
    )
    parser.add_argument(
        "--start-rate", type=int, default=300, help="First rate, registrations/s (default 300)."
    )
    parser.add_argument("--max-rate", type=int, default=8000, help="Highest rate offered (default 8000).")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=300.0,
        help="Time budget of the steps; no new step starts past it (default 300).",
    )
    parser.add_argument("--children", type=int, default=4, help="Kamailio worker processes (default 4).")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: 300 extensions, 2 s steps at 50 and 100/s (checks the machinery, measures nothing).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument(
        "--overload",
        action="store_true",
        help="Instead: offer registrations at rising rates (--rates) to one Kamailio with "
        "REGISTER_RATE_LIMIT = --limit, and count 200, 503 (with Retry-After) and silence.",
    )
    parser.add_argument(
        "--rates",
        type=lambda text: [int(r) for r in text.split(",")],
        default=None,
        help="The rates to offer, registrations/s, one step each (default: rising from "
        f"--start-rate; --overload: {','.join(map(str, OVERLOAD_RATES))}).",
    )
    parser.add_argument(
        "--limit", type=int, default=1000, help="--overload: REGISTER_RATE_LIMIT, REGISTERs/s (default 1000)."
    )
    args = parser.parse_args()
    if args.quick:
        args.users, args.per_hotline = min(args.users, 300), min(args.per_hotline, 100)
        args.rates = args.rates or [50, 100]
        args.step_seconds = args.step_seconds or 2.0
    if args.step_seconds is None:
        args.step_seconds = 3.0 if args.overload else 10.0
    if args.overload and args.rates is None:
        args.rates = list(OVERLOAD_RATES)
    return args


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    # Scratch data only: the debug defaults (development keys) are fine here.
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pbx_admin.settings")
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def create_accounts(users: int, per_hotline: int) -> list[tuple[str, str, str]]:
    """USERS extensions on hotlines of PER_HOTLINE, numbers 100… on each, created by the
    range-create service (generated passwords); the stock table gets the same rows. Returns
    (number, domain, password) of each."""
    from django.core.management import call_command
    from django.db import connection

    from extensions.services import extension_range_create
    from hotlines.models import Hotline
    from tenants.models import Tenant

    call_command("migrate", "--noinput", verbosity=0)
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    accounts = []
    for index, first in enumerate(range(0, users, per_hotline)):
        hotline = Hotline(tenant=tenant, number=f"1900{5000 + index:04d}", name="bench")
        hotline.full_clean()
        hotline.save()
        count = min(per_hotline, users - first)
        extensions = extension_range_create(
            hotline=hotline, first="100", last=str(99 + count), alias_pattern="bench{n}"
        )
        accounts += [(e.number, hotline.sip_domain, e.get_sip_password()) for e in extensions]
    with connection.cursor() as cursor:
        for statement in filter(None, (s.strip() for s in STOCK_SUBSCRIBER.split(";"))):
            cursor.execute(statement)
    return accounts


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (*TABLES.values(), "location"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def lookup_costs(accounts: list, *, samples: int = 300, rounds: int = 4) -> None:
    """What PostgreSQL spends on auth_db's query (the text Kamailio sends, planned each time),
    server-side (EXPLAIN ANALYZE's planning and execution times, medians), for our table, the
    stock one and the view our table replaced (made here from its definition, then dropped)."""
    import random
    import statistics

    from django.db import connection

    from sip import schema

    query = (
        "select ha1,max_contacts,allowed_networks,id,call_permission from {} "
        "where username='{}' AND domain='{}'"
    )
    before = "sip_subscriber_view_before"
    (view,) = schema.view_sql("postgresql", (schema.SUBSCRIBER_VIEW,))
    sample = random.Random(1).sample(accounts, min(samples, len(accounts)))
    relations = {"ours (table sip_subscriber)": TABLES[OURS], "stock (subscriber)": TABLES[STOCK]}
    relations["before (the view)"] = before
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in relations}
    with connection.cursor() as cursor:
        cursor.execute(view.replace(f"VIEW {schema.SUBSCRIBER_VIEW} ", f"VIEW {before} ", 1))
        try:
            for _round in range(rounds):
                for name, relation in relations.items():
                    for number, domain, _password in sample:
                        cursor.execute(
                            "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) "
                            + query.format(relation, number, domain)
                        )
                        plan = cursor.fetchone()[0][0]
                        times[name][0].append(plan["Planning Time"])
                        times[name][1].append(plan["Execution Time"])
        finally:
            cursor.execute(f"DROP VIEW {before}")
    print(f"auth_db's lookup, server-side (medians of {rounds} × {len(sample)} lookups):")
    for name, (planning, execution) in times.items():
        print(
            f"  {name:<28} planning {statistics.median(planning) * 1000:4.0f} µs, "
            f"execution {statistics.median(execution) * 1000:4.0f} µs"
        )


def vacuum_location() -> None:
    """Kamailio's registrations: every run refreshes thousands of rows; vacuumed between runs so
    that autovacuum does not land in the middle of the next run (whichever table it serves)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM location")


def index_scans() -> dict[str, int]:
    """Index scans each credentials table has served (pg_stat_user_tables)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, COALESCE(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(TABLES.values())],
        )
        by_table = dict(cursor.fetchall())
    return {label: by_table.get(table, 0) for label, table in TABLES.items()}


# --- SIPp: one step ---------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One step against one table: `offered` registrations at `rate`/s for `seconds`."""

    rate: int
    seconds: float
    offered: int = 0
    created: int = 0  # calls SIPp started
    successful: int = 0
    failed: int = 0
    retransmissions: int = 0
    sending_seconds: float = 0.0  # how long SIPp took to start them all
    latency_ms: float = 0.0  # mean time from the first REGISTER to the 200

    @property
    def failure_percent(self) -> float:
        return 100.0 * (self.offered - self.successful) / self.offered if self.offered else 100.0

    @property
    def achieved(self) -> float:
        """Registrations completed per second over the step (SIPp's own lag included)."""
        return self.successful / max(self.seconds, self.sending_seconds)

    @property
    def held(self) -> bool:
        """Under 1 % failures, offered on time (SIPp kept the pace, to within its statistics'
        one-second resolution)."""
        on_time = self.sending_seconds <= max(self.seconds * 1.05, self.seconds + 1.0)
        return self.failure_percent < FAILURE_LIMIT and on_time


def sipp_binary() -> str:
    path = shutil.which("sipp") or "/usr/bin/sipp"
    if not Path(path).exists():
        raise RuntimeError("SIPp is not installed: run `make system-deps` (Debian package sip-tester).")
    return path


def write_injection_file(path: Path, accounts: list[tuple[str, str, str]]) -> None:
    """SIPp's -inf file: one extension per line, taken in order: number; domain; and the
    digest credentials as SIPp takes them from an injection file (field2)."""
    with open(path, "w", newline="") as handle:
        handle.write("SEQUENTIAL\n")
        handle.writelines(
            f"{number};{domain};[authentication username={number} password={password}]\n"
            for number, domain, password in accounts
        )


def _seconds(elapsed: str) -> float:
    """SIPp's ElapsedTime(C), "HH:MM:SS.micro" (or "HH:MM:SS:micro"), in seconds."""
    hours, minutes, rest = elapsed.split(":", 2)
    return int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(":", "."))


def run_sipp(
    port: int, *, rate: int, seconds: float, injection: Path, client_port: int, directory: Path
) -> Result:
    """Offer `rate` registrations/s for `seconds` (open loop: paced by SIPp's clock, not by the
    answers) and wait for the last ones; read SIPp's statistics file."""
    result = Result(rate=rate, seconds=seconds, offered=max(1, round(rate * seconds)))
    stats = directory / f"stats-{port}-{rate}.csv"
    stats.unlink(missing_ok=True)
    command = [
        sipp_binary(),
        f"127.0.0.1:{port}",
        "-sf", str(SCENARIO),
        "-inf", str(injection),
        "-i", "127.0.0.1",
        "-p", str(client_port),
        "-r", str(rate),
        "-rp", "1000",
        "-m", str(result.offered),
        # Never the limit on calls in progress: at most RECV_TIMEOUT's worth at the rate.
        "-l", str(max(100, rate * (RECV_TIMEOUT_MS // 1000 + 2))),
        "-recv_timeout", str(RECV_TIMEOUT_MS),
        "-timeout", f"{int(seconds * 2 + RECV_TIMEOUT_MS / 1000 + 10)}s",
        "-nostdin",
        "-trace_stat", "-stf", str(stats), "-fd", "1",
    ]  # fmt: skip
    with open(directory / "sipp.log", "ab") as log:
        process = subprocess.Popen(  # noqa: S603 — our own command line
            command, cwd=directory, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            process.wait(timeout=seconds * 2 + RECV_TIMEOUT_MS / 1000 + 20)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.returncode is None:
                stop_process(process, timeout=5)
    rows = list(csv.DictReader(stats.read_text().splitlines(), delimiter=";")) if stats.exists() else []
    if not rows:
        raise RuntimeError(
            f"SIPp wrote no statistics (exit {process.returncode}); see {directory / 'sipp.log'}"
        )
    last = rows[-1]
    result.created = int(last["OutgoingCall(C)"])
    result.successful = int(last["SuccessfulCall(C)"])
    result.failed = int(last["FailedCall(C)"])
    result.retransmissions = int(last["Retransmissions(C)"])
    started_all = next((row for row in rows if int(row["OutgoingCall(C)"]) >= result.offered), last)
    result.sending_seconds = _seconds(started_all["ElapsedTime(C)"])
    result.latency_ms = _seconds(last["ResponseTime1(C)"]) * 1000
    return result


# --- the run ----------------------------------------------------------------------------------


def step_rates(args: argparse.Namespace):
    """The rates to offer and how many runs each table gets at it: --rates as given (one run),
    else rising (a generator told, after each rate, which tables held it: `send`)."""
    if args.rates:
        for rate in args.rates:
            yield rate, 1
        return
    rate, fine, both_held, retry = float(args.start_rate), False, None, False
    while rate <= args.max_rate:
        held = yield int(rate), 2 if fine or retry else 1
        if all(held.values()):
            both_held, retry = rate, False
            rate *= FINE if fine else COARSE
        elif any(held.values()) and not fine and not retry:
            retry = True  # one table missed a single run: both again, A B B A, at this rate
        elif not fine and both_held is not None:
            fine, retry, rate = True, False, both_held * FINE  # finer steps from the last held
        elif not any(held.values()):
            return
        else:
            rate *= FINE if fine else COARSE


def main() -> int:
    args = parse_args()
    recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection

    try:
        print(f"Creating {args.users} extensions in a scratch database…", flush=True)
        accounts = create_accounts(args.users, args.per_hotline)
        db_url = db_url_for(connection.settings_dict)
        if args.overload:
            connection.close()
            return run_overload(args, accounts, db_url)
        return run_steps(args, accounts, db_url)
    finally:
        if not args.keep:
            connection.close()
            recreate_database(args.database_url, drop_only=True)


def run_steps(args: argparse.Namespace, accounts: list, db_url: str) -> int:
    """Both tables, step by step (see the module's docstring)."""
    print(f"Machine: {machine()}")
    analyze()
    lookup_costs(accounts)
    servers: dict[str, Kamailio] = {}
    runtime = Path(tempfile.mkdtemp(prefix="register-bench-"))
    try:
        for label, table in TABLES.items():
            config = KamailioConfig(
                db_url=db_url,
                sip_port=free_sip_port(),
                ws_port=free_port(),
                auth_table=table,
                children=args.children,
                runtime_dir=runtime / table,
                # Everything comes from one address here, so pike (a flood from one address)
                # is off; the REGISTER rate limit is checked on every REGISTER but set out of
                # reach, so its cost is measured, not its refusals.
                protection=dataclasses.replace(RELAXED_PROTECTION, register_rate_limit=1_000_000),
            )
            servers[label] = Kamailio(config).start()
        injection = runtime / "extensions.csv"
        write_injection_file(injection, accounts)
        client_port = free_sip_port()

        def step(label: str, rate: int, seconds: float) -> Result:
            return run_sipp(
                servers[label].config.sip_port,
                rate=rate,
                seconds=seconds,
                injection=injection,
                client_port=client_port,
                directory=runtime,
            )

        # Warm-up: every extension registered once on each (later REGISTERs refresh a contact,
        # as phones do), slowly, and once more if some did not make it.
        warm_rate = min(250, len(accounts))
        for label in servers:
            for _attempt in range(2):
                warm = step(label, warm_rate, len(accounts) / warm_rate)
                if warm.successful == len(accounts):
                    break
                print(f"warm-up of {label}: {warm.successful} of {len(accounts)} registered", flush=True)
        analyze()
        scans_before = index_scans()
        load_before = os.getloadavg()

        print(
            f"\n{len(accounts)} extensions on {-(-len(accounts) // args.per_hotline)} hotlines; "
            f"{args.step_seconds:g} s per rate and table; Kamailio {args.children} workers each; "
            f"load average {load_before[0]:.1f} at the start"
        )
        print(
            "| offered reg/s | ours: reg/s | ours: failed | ours: ms | stock: reg/s | stock: failed "
            "| stock: ms | runs, in order |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---|")
        results: dict[str, list[Result]] = {OURS: [], STOCK: []}
        deadline = time.monotonic() + args.max_seconds
        rates = step_rates(args)
        held = None
        stopped = "both tables missed a rate" if not args.rates else "the rates given ran"
        while True:
            if time.monotonic() > deadline:
                stopped = f"the time budget (--max-seconds {args.max_seconds:g})"
                break
            try:
                rate, runs = next(rates) if held is None else rates.send(held)
            except StopIteration:
                break
            # Alternate which table goes first, so that drift in the machine's load hits both;
            # with two runs each, A B B A.
            first = [OURS, STOCK] if len(results[OURS]) % 2 == 0 else [STOCK, OURS]
            order = first if runs == 1 else first + first[::-1]
            done: dict[str, list[Result]] = {OURS: [], STOCK: []}
            for label in order:
                done[label].append(step(label, rate, args.step_seconds))
                vacuum_location()  # each run starts from the same table, not the last one's dead rows
                time.sleep(1.0)  # let queues settle
            ours, stock = (min(done[label], key=lambda r: r.failure_percent) for label in (OURS, STOCK))
            results[OURS].append(ours)
            results[STOCK].append(stock)
            held = {OURS: ours.held, STOCK: stock.held}
            cells = (
                rate,
                f"{ours.achieved:.0f}",
                f"{ours.failure_percent:.2f} %",
                f"{ours.latency_ms:.1f}",
                f"{stock.achieved:.0f}",
                f"{stock.failure_percent:.2f} %",
                f"{stock.latency_ms:.1f}",
                " ".join(order),
            )
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)
        print(f"Stopped: {stopped}.")
        load_after = os.getloadavg()
    finally:
        for server in servers.values():
            server.stop()
        if args.keep:
            print(f"Kept: the scratch database and {runtime} (logs, SIPp's statistics)")
        else:
            shutil.rmtree(runtime, ignore_errors=True)  # the injection file holds scratch passwords
    return report(results, scans_before, load_before, load_after)


def best_rates(results: dict[str, list[Result]]) -> dict[str, int]:
    """The highest rate offered that each table held (what it completed is in the table above:
    at a rate held, within 1 % of it). A rate run again (A B B A, because one table missed its
    single run) is judged by the runs again, for both tables: the single run that held it
    before does not count once its re-runs missed."""
    best = {}
    for label, rows in results.items():
        verdict: dict[int, bool] = {}
        for row in rows:  # in the order run: a later verdict on a rate replaces an earlier one
            verdict[row.rate] = row.held
        best[label] = max((rate for rate, held in verdict.items() if held), default=0)
    return best


def report(results, scans_before, load_before, load_after) -> int:
    """The highest rate each table held, the index scans each served, and the ratio line."""
    # Kamailio's sessions flush their table statistics as they end: wait for them.
    scans = index_scans()
    for _ in range(20):
        if all(scans[label] > scans_before[label] for label in TABLES):
            break
        time.sleep(0.5)
        scans = index_scans()
    best = best_rates(results)
    print(
        f"\nload average {load_before[0]:.1f} → {load_after[0]:.1f} (1 min), "
        f"{load_before[1]:.1f} → {load_after[1]:.1f} (5 min)"
    )
    print(
        f"Highest rate with < {FAILURE_LIMIT:g} % failures: ours ({TABLES[OURS]}) {best[OURS]:.0f}/s, "
        f"stock ({TABLES[STOCK]}) {best[STOCK]:.0f}/s"
    )
    print(
        "Index scans served during the steps: "
        + ", ".join(f"{TABLES[label]} {scans[label] - scans_before[label]}" for label in TABLES)
    )
    if best[OURS] and best[STOCK]:
        print(f"ratio {best[OURS] / best[STOCK]:.2f} (ours {best[OURS]:.0f}/s, stock {best[STOCK]:.0f}/s)")
        return 0
    print(f"ratio n/a (ours {best[OURS]:.0f}/s, stock {best[STOCK]:.0f}/s: a table held no rate)")
    return 1


# --- Overload: REGISTERs offered at rising rates against REGISTER_RATE_LIMIT -------------------

OVERLOAD_RATES = (200, 500, 1000, 2000, 4000)
_CALL_ID_RE = re.compile(rb"\r\n(?:Call-ID|i)\s*:\s*(\S+)", re.IGNORECASE)
_CSEQ_RE = re.compile(rb"\r\nCSeq\s*:\s*(\d+)", re.IGNORECASE)


@dataclasses.dataclass
class Step:
    """One rate of the overload run. `rate`: new registrations offered per second; each is a
    REGISTER and, once challenged, a second REGISTER with the digest (both count against the
    limit, as for a phone)."""

    rate: int
    offered: int = 0  # first REGISTERs sent
    sent: int = 0  # all REGISTERs sent (first + with digest)
    seconds: float = 0.0  # how long sending the first REGISTERs took
    challenged: int = 0  # 401 answers
    registered: int = 0  # 200 answers
    overloaded: int = 0  # 503 answers
    with_retry_after: int = 0  # of which carrying Retry-After
    other: int = 0
    unanswered: int = 0  # REGISTERs with no answer at all
    unanswered_digest: int = 0  # of which REGISTERs with the digest
    client_drops: int = 0  # datagrams the kernel dropped at the client's socket (buffer full)
    server_drops: int = 0  # … at Kamailio's socket, during the step
    delays: list[float] = dataclasses.field(default_factory=list)  # seconds from send to answer

    def delay_ms(self, quantile: float) -> str:
        """The answer time at this quantile (0.5, 0.99), in ms; "—" when nothing was answered."""
        if not self.delays:
            return "—"
        ordered = sorted(self.delays)
        return f"{ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000:.0f}"

    @property
    def offered_rate(self) -> float:
        return self.offered / self.seconds if self.seconds else 0.0

    @property
    def register_rate(self) -> float:
        """All REGISTERs per second while offering (what the limit counts)."""
        return self.sent / self.seconds if self.seconds else 0.0


def offer_registers(
    host: str, port: int, accounts: list, step: Step, *, seconds: float, grace: float, retry_after: int
) -> Step:
    """Open loop from one UDP socket: new registrations at `step.rate` per second for
    `seconds`, paced on the clock (not on answers); each 401 is answered with the digest at
    once; then `grace` seconds for the last answers. Counts every answer by Call-ID and CSeq."""
    import select
    import socket

    from sip.sipclient import digest_authorization, parse_challenge, parse_response

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    local_port = sock.getsockname()[1]
    target = (host, port)
    total = int(step.rate * seconds)
    pending: dict[bytes, int] = {}  # "Call-ID/CSeq" → account index, awaiting an answer
    sent_at: dict[bytes, float] = {}
    expected_retry_after = f"\r\nRetry-After: {retry_after}\r\n".encode()

    def request(index: int, call_id: str, cseq: int, authorization: str = "") -> bytes:
        username, domain, _password = accounts[index]
        aor = f"sip:{username}@{domain}"
        auth = f"Authorization: {authorization}\r\n" if authorization else ""
        return (
            f"REGISTER sip:{domain} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK-{call_id}-{cseq};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <{aor}>;tag={call_id}\r\nTo: <{aor}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
            f"Contact: <sip:{username}@127.0.0.1:{local_port}>\r\nExpires: 60\r\n"
            f"{auth}Content-Length: 0\r\n\r\n"
        ).encode()

    def send(data: bytes, key: bytes, index: int) -> None:
        with contextlib.suppress(BlockingIOError):  # the kernel's buffer is full: unanswered
            sock.sendto(data, target)
        pending[key] = index
        sent_at[key] = time.monotonic()
        step.sent += 1

    def answer(data: bytes) -> None:
        call_id, cseq = _CALL_ID_RE.search(data), _CSEQ_RE.search(data)
        if not (call_id and cseq):
            return
        key = call_id.group(1) + b"/" + cseq.group(1)
        index = pending.pop(key, None)
        if index is None:  # a duplicate
            return
        step.delays.append(time.monotonic() - sent_at.pop(key))
        status = data[8:11]
        if status == b"401" and cseq.group(1) == b"1":
            step.challenged += 1
            username, domain, password = accounts[index]
            authorization = digest_authorization(
                challenge=parse_challenge(parse_response(data).header("www-authenticate") or ""),
                method="REGISTER",
                uri=f"sip:{domain}",
                username=username,
                password=password,
            )
            name = call_id.group(1).decode()
            send(request(index, name, 2, authorization), call_id.group(1) + b"/2", index)
        elif status == b"200":
            step.registered += 1
        elif status == b"503":
            step.overloaded += 1
            step.with_retry_after += expected_retry_after in data
        else:
            step.other += 1

    started = time.monotonic()
    sending_ended = None
    while True:
        now = time.monotonic()
        due = min(total, int((now - started) * step.rate) + 1)
        while step.offered < due:
            index = step.offered % len(accounts)
            call_id = f"ob{step.rate}x{step.offered}"
            send(request(index, call_id, 1), f"{call_id}/1".encode(), index)
            step.offered += 1
        if step.offered >= total and sending_ended is None:
            sending_ended = time.monotonic()
        if sending_ended is not None and (now > sending_ended + grace or not pending):
            break
        wait = 0.05 if sending_ended else max(0.0, started + (step.offered / step.rate) - time.monotonic())
        if select.select([sock], [], [], wait)[0]:
            for _ in range(256):
                try:
                    answer(sock.recv(65535))
                except BlockingIOError:
                    break
    step.seconds = (sending_ended or time.monotonic()) - started
    step.client_drops = udp_drops(local_port)
    step.unanswered = len(pending)
    step.unanswered_digest = sum(key.endswith(b"/2") for key in pending)
    sock.close()
    return step


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped for the UDP sockets on this loopback port (/proc/net/udp:
    the receive buffer was full)."""
    local = f"0100007F:{port:04X}"
    rows = [line.split() for line in Path("/proc/net/udp").read_text().splitlines()[1:]]
    return sum(int(row[-1]) for row in rows if row[1] == local)


def run_overload(args: argparse.Namespace, accounts: list, db_url: str) -> int:
    """One Kamailio (our table) with REGISTER_RATE_LIMIT = args.limit; a step per rate."""
    retry_after = 5
    config = KamailioConfig(
        db_url=db_url,
        sip_port=free_sip_port(),
        ws_port=free_port(),
        children=args.children,
        runtime_dir=Path(tempfile.mkdtemp(prefix="register-overload-")),
        # One source address: pike off; the brute-force counters are not involved (right passwords).
        protection=dataclasses.replace(
            RELAXED_PROTECTION, register_rate_limit=args.limit, retry_after=retry_after
        ),
        defines=dict(define.split("=", 1) for define in args.define),
    )
    server = Kamailio(config).start()
    steps = []
    try:
        for rate in args.rates:
            drops = udp_drops(config.sip_port)
            step = offer_registers(
                "127.0.0.1",
                config.sip_port,
                accounts,
                Step(rate=rate),
                seconds=args.step_seconds,
                grace=2.0,
                retry_after=retry_after,
            )
            step.server_drops = udp_drops(config.sip_port) - drops
            steps.append(step)
            print(
                f"offered {step.rate}/s: sent at {step.offered_rate:.0f}/s, {step.registered} registered, "
                f"{step.overloaded} × 503, {step.unanswered} unanswered",
                flush=True,
            )
            time.sleep(1.5)  # let the limit's window and Kamailio's queues empty
    finally:
        server.stop()
    print()
    print(
        f"REGISTER overload, REGISTER_RATE_LIMIT {args.limit}/s (both REGISTERs of a registration "
        f"count), {args.children} Kamailio workers, {len(accounts)} extensions, "
        f"{args.step_seconds:g} s per step:"
    )
    header = (
        "offered reg/s",
        "sent reg/s",
        "REGISTER/s",
        "401",
        "200",
        "503",
        "503 w/ Retry-After",
        "other",
        "no answer (with digest)",
        "dropped at Kamailio / client",
        "answer p50 / p99 ms",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for s in steps:
        row = (
            s.rate,
            f"{s.offered_rate:.0f}",
            f"{s.register_rate:.0f}",
            s.challenged,
            s.registered,
            s.overloaded,
            s.with_retry_after,
            s.other,
            f"{s.unanswered} ({s.unanswered_digest})",
            f"{s.server_drops} / {s.client_drops}",
            f"{s.delay_ms(0.5)} / {s.delay_ms(0.99)}",
        )
        print("| " + " | ".join(str(v) for v in row) + " |")
    silent = sum(s.unanswered for s in steps)
    without_header = sum(s.overloaded - s.with_retry_after for s in steps)
    overloaded_top = bool(steps) and steps[-1].overloaded > 0
    # Fails when the top rate got no 503, a 503 lacked Retry-After, or over 1 % went unanswered.
    return 0 if overloaded_top and not without_header and silent <= sum(s.sent for s in steps) // 100 else 1


if __name__ == "__main__":
    sys.exit(main())
