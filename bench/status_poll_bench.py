#!/usr/bin/env python
"""Live status: what open pages polling `/hotlines/<id>/status/` cost, on gunicorn.

    make bench-status-poll   # or: .venv/bin/python bench/status_poll_bench.py --help (--quick: smoke run)

Pages with the extension list or the wallboard open poll their hotline's status endpoint
(static/js/live.js: a request, then a pause of 1 s, again). This measures 100 of them as the
production app server sees them, all on the loopback, bounded in time, stopping by itself:

1. builds, in a scratch PostgreSQL database (BENCH_DATABASE_URL, default bench_status_poll), one
   tenant with --hotlines hotlines of --extensions extensions each (the range-create service),
   a third of them registered (rows in Kamailio's `location` table, as Kamailio writes them),
   and one tenant admin per hotline;
2. starts gunicorn as docs/deployment.md runs it (`pbx_admin.wsgi`, sync workers, 2 × CPUs + 1,
   the production settings: DEBUG off, sessions in Redis) on a free loopback port, with load
   bench's starter (bench/load_bench.py);
3. signs in one session per page (Django's own login, each page its own session cookie), the
   pages spread evenly over the hotlines; warms every worker up (bursts of concurrent requests
   to both endpoints, then 3 s of each phase, none of it counted);
4. runs the pages as one asyncio client process (a connection per request, as sync workers
   close each one), in --rounds rounds that alternate two phases of --seconds each:
   - "baseline": the same pages polling `/healthz` (no session: one `SELECT 1` and a Redis
     PING), the cheapest request the app serves;
   - "status": the pages polling their hotline's status, sending If-None-Match as a browser
     does; meanwhile, every --change-every seconds one watched extension registers or
     unregisters (a `location` row inserted or deleted, committed), and each page notes how
     long after the commit it first shows the change;
5. prints, per phase: requests/s, p50/p95/p99 latency, errors, the CPU of the gunicorn processes
   per request and as a share of one core, the PostgreSQL backends' CPU per request, the most
   database connections open at once (sampled), then the ratios of status to baseline and how
   soon the changes reached the pages (all of them, the share within 2 s);
6. stops gunicorn, drops the database and deletes its Redis keys (--keep keeps the database).

About 3 minutes with the defaults (2 vCPU); --quick (20 pages, 2 hotlines, 1 round of 8 s) about
1. Results: docs/performance.md, "Live status: 100 open pages".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.data import (  # noqa: E402  (needs BASE_DIR on the path)
    add_scratch_arguments,
    machine,
    recreate_database,
    setup_django,
)
from bench.load_bench import (  # noqa: E402
    add_workers_argument,
    delete_cache_keys,
    free_port,
    gunicorn_command,
    markdown_table,
    parse_response,
    percentile,
    process_cpu,
    server_env,
    start_gunicorn,
    stop_gunicorn,
)

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/bench_status_poll"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/4"
TIMEOUT = 30.0  # seconds a poll may take before it counts as an error
REACH_TARGET = 2.0  # seconds: a change must reach the open pages within this
PHASES = ("baseline", "status")
WARMUP = 3.0  # seconds of each phase before the first round, not counted (after warm-up bursts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_scratch_arguments(
        parser,
        database_url=DEFAULT_DB_URL,
        redis_url=DEFAULT_REDIS_URL,
        redis_use="the cache and sessions (keys under a per-run prefix, deleted at the end)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="A smoke run: --pages 20 --hotlines 2 --extensions 50 --seconds 8 --rounds 1.",
    )
    parser.add_argument("--pages", type=int, help="Open pages polling (default 100).")
    parser.add_argument("--hotlines", type=int, help="Hotlines the pages watch, evenly (default 10).")
    parser.add_argument("--extensions", type=int, help="Extensions per hotline (default 100).")
    parser.add_argument(
        "--seconds", type=float, help="Measured seconds of each phase in each round (default 20)."
    )
    parser.add_argument("--rounds", type=int, help="Rounds of baseline then status (default 3).")
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="A page's pause between the end of a poll and the next, seconds, as live.js "
        "(default %(default)s).",
    )
    parser.add_argument(
        "--change-every",
        type=float,
        default=2.0,
        help="Seconds between two registration changes in the status phase (default %(default)s).",
    )
    add_workers_argument(parser)
    parser.add_argument(
        "--cache-seconds",
        type=float,
        default=None,
        help="LIVE_STATUS_CACHE_SECONDS for the server (default: the setting's default, 0.5); "
        "0 reads the status afresh for every poll, to compare.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args(argv)
    defaults = (
        {"pages": 20, "hotlines": 2, "extensions": 50, "seconds": 8.0, "rounds": 1}
        if args.quick
        else {"pages": 100, "hotlines": 10, "extensions": 100, "seconds": 20.0, "rounds": 3}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.pages < args.hotlines:
        parser.error("--pages must be at least --hotlines (every hotline is watched)")
    return args


# --- the data -------------------------------------------------------------------------------------


@dataclass
class World:
    hotlines: list[Any]  # (pk, sip_domain)
    users: list[Any]  # one tenant admin per hotline
    offline: dict[int, list[str]]  # hotline pk → numbers not registered (the changer's pool)


def build_world(hotlines: int, extensions: int) -> World:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from bench.data import hotline_create
    from extensions.services.bulk import extension_range_create
    from tenants.choices import Role
    from tenants.models import Membership, Tenant

    call_command("migrate", "--noinput", verbosity=0)
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    User = get_user_model()
    made, users, offline = [], [], {}
    for i in range(hotlines):
        hotline = hotline_create(tenant=tenant, number=f"1900{2000 + i}")
        extension_range_create(
            hotline=hotline, first="100", last=str(99 + extensions), alias_pattern="sale{n}", description=""
        )
        numbers = [str(100 + n) for n in range(extensions)]
        for number in numbers[::3]:
            register(hotline.sip_domain, number)
        offline[hotline.pk] = [n for n in numbers if n not in numbers[::3]]
        user = User.objects.create_user(f"status-admin-{i}", password=secrets.token_urlsafe(16))
        Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
        made.append((hotline.pk, hotline.sip_domain))
        users.append(user)
    with_vacuum()
    return World(hotlines=made, users=users, offline=offline)


def register(domain: str, number: str) -> None:
    """A `location` row as Kamailio's usrloc (db_mode 1) writes it for a REGISTER."""
    from django.utils import timezone

    from sip.models import Location

    now = timezone.now()
    # Kamailio keeps a registration until it expires; an hour, as MAX_EXPIRES.
    Location.objects.create(
        ruid=secrets.token_hex(16),
        username=number,
        domain=domain,
        contact=f"sip:{number}@127.0.0.1:5070",
        received="",
        expires=now + dt.timedelta(seconds=3600),
        callid=secrets.token_hex(8),
        cseq=1,
        last_modified=now,
        user_agent="bench",
        socket="udp:127.0.0.1:5060",
    )


def unregister(domain: str, number: str) -> None:
    from sip.models import Location

    Location.objects.filter(username=number, domain=domain).delete()


def with_vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def session_cookies(users: list[Any], pages: int) -> list[str]:
    """One signed-in session per page (Django's login, as the sign-in page does it), page i
    signed in as the admin of hotline i mod the number of hotlines."""
    from django.conf import settings
    from django.test import Client

    cookies = []
    for i in range(pages):
        client = Client()
        client.force_login(users[i % len(users)])
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}")
    return cookies


# --- the pages ------------------------------------------------------------------------------------


@dataclass
class Poll:
    phase: str
    started: float
    ms: float
    status: int  # 0: no answer (connection refused, timeout, broken response)
    size: int


@dataclass
class Page:
    index: int
    cookie: str
    hotline_pk: int
    etag: str = ""
    shown: dict[str, bool] = field(default_factory=dict)  # number → online, as the page shows it

    @property
    def status_path(self) -> str:
        return f"/hotlines/{self.hotline_pk}/status/"


@dataclass
class Change:
    hotline_pk: int
    number: str
    online: bool
    committed: float  # time.monotonic() after the commit
    seen: dict[int, float] = field(default_factory=dict)  # page index → seconds until it showed it


async def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(head.encode("latin-1") + b"\r\n")
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    return parse_response(raw)


class Pages:
    """The open pages, one coroutine each, polling until told to stop."""

    def __init__(self, port: int, pages: list[Page], interval: float) -> None:
        self.port = port
        self.pages = pages
        self.interval = interval
        self.phase = PHASES[0]
        self.polls: list[Poll] = []
        self.changes: list[Change] = []
        self.stopping = False

    async def run_page(self, page: Page, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, self.interval))  # pages were not all opened at once
        while not self.stopping:
            phase = self.phase
            path = page.status_path if phase == "status" else "/healthz"
            headers = {"Accept": "application/json"}
            if phase == "status":
                headers["Cookie"] = page.cookie
                if page.etag:
                    headers["If-None-Match"] = page.etag
            started = time.monotonic()
            try:
                status, response_headers, body = await asyncio.wait_for(
                    http_get(self.port, path, headers), TIMEOUT
                )
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as error:
                status, response_headers, body = 0, [], repr(error).encode()
            ended = time.monotonic()
            self.polls.append(Poll(phase, started, (ended - started) * 1000, status, len(body)))
            if phase == "status" and status in (200, 304):
                self.show(page, status, dict(response_headers), body, ended)
            await asyncio.sleep(self.interval)

    def show(self, page: Page, status: int, headers: dict[str, str], body: bytes, at: float) -> None:
        """What the page shows after this answer (a 304 keeps what it shows), and the changes
        it shows for the first time."""
        if status == 200:
            page.etag = headers.get("etag", "")
            data = json.loads(body)
            page.shown = {e["number"]: e["online"] for e in data["extensions"].values()}
        for change in self.changes:
            if (
                change.hotline_pk == page.hotline_pk
                and page.index not in change.seen
                and at > change.committed
                and page.shown.get(change.number) == change.online
            ):
                change.seen[page.index] = at - change.committed

    async def run(self, seed: int) -> list[asyncio.Task]:
        return [
            asyncio.create_task(self.run_page(page, random.Random(seed + page.index))) for page in self.pages
        ]


# --- measuring ------------------------------------------------------------------------------------


def gunicorn_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except FileNotFoundError:
        children = []
    return [master, *map(int, children)]


class DatabaseWatch:
    """Samples, every 0.2 s, the connections open to the bench's database (not this process's
    own) and notes the backends' PIDs, for their CPU."""

    def __init__(self, database_url: str, own_pids: set[int]) -> None:
        import psycopg2

        url = urlsplit(database_url)
        self.name = url.path.lstrip("/")
        self.conn = psycopg2.connect(
            host=url.hostname,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname="postgres",
        )
        self.conn.autocommit = True
        self.own = own_pids
        self.samples: list[int] = []
        self.backends: set[int] = set()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def pids(self) -> list[int]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                [self.name],
            )
            return [pid for (pid,) in cursor.fetchall() if pid not in self.own]

    def loop(self) -> None:
        while not self.stop_event.wait(0.2):
            pids = self.pids()
            with self.lock:
                self.samples.append(len(pids))
                self.backends.update(pids)

    def take(self) -> tuple[list[int], set[int]]:
        with self.lock:
            samples, self.samples = self.samples, []
            return samples, set(self.backends)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        self.conn.close()


@dataclass
class PhaseResult:
    phase: str
    seconds: float = 0.0
    polls: list[Poll] = field(default_factory=list)
    app_cpu: float = 0.0
    db_cpu: float = 0.0
    client_cpu: float = 0.0
    connections: list[int] = field(default_factory=list)

    @property
    def ok(self) -> list[Poll]:
        return [p for p in self.polls if p.status in (200, 304)]

    @property
    def errors(self) -> int:
        return len(self.polls) - len(self.ok)

    @property
    def rate(self) -> float:
        return len(self.polls) / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return percentile([p.ms for p in self.ok], q)

    def cpu_ms_per_request(self, cpu: float) -> float:
        return cpu * 1000 / len(self.polls) if self.polls else float("nan")

    def merge(self, other: PhaseResult) -> None:
        self.seconds += other.seconds
        self.polls += other.polls
        self.app_cpu += other.app_cpu
        self.db_cpu += other.db_cpu
        self.client_cpu += other.client_cpu
        self.connections += other.connections


async def measure(
    pages: Pages, phase: str, seconds: float, master: int, watch: DatabaseWatch, changer: Any
) -> PhaseResult:
    """One phase: a second of warm-up, then `seconds` counted (polls that start in the window)."""
    pages.phase = phase
    await asyncio.sleep(1.0)
    watch.take()
    app_before = process_cpu(gunicorn_pids(master))
    _, backends = watch.take()
    db_before = process_cpu(backends)
    client_before = time.process_time()
    start = time.monotonic()
    changes = asyncio.create_task(changer(start + seconds)) if phase == "status" else None
    await asyncio.sleep(seconds)
    end = time.monotonic()
    app_after = process_cpu(gunicorn_pids(master))
    samples, backends = watch.take()
    db_after = process_cpu(backends)
    client_cpu = time.process_time() - client_before
    if changes is not None:
        await changes
    return PhaseResult(
        phase=phase,
        seconds=end - start,
        polls=[p for p in pages.polls if p.phase == phase and start <= p.started < end],
        app_cpu=sum(v - app_before.get(pid, 0.0) for pid, v in app_after.items()),
        db_cpu=sum(v - db_before.get(pid, 0.0) for pid, v in db_after.items()),
        client_cpu=client_cpu,
        connections=samples,
    )


# --- reporting ------------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:,.{digits}f}"  # noqa: PLR0124 — NaN


def phase_table(results: dict[str, PhaseResult], pages: int) -> str:
    rows = []
    for phase in PHASES:
        r = results[phase]
        rows.append(
            [
                phase,
                pages,
                fmt(r.rate),
                fmt(r.ms(50)),
                fmt(r.ms(95)),
                fmt(r.ms(99)),
                r.errors,
                fmt(r.cpu_ms_per_request(r.app_cpu), 2),
                fmt(100 * r.app_cpu / r.seconds if r.seconds else float("nan"), 0),
                fmt(r.cpu_ms_per_request(r.db_cpu), 2),
                max(r.connections, default=0),
                sum(1 for p in r.polls if p.status == 304),
            ]
        )
    return markdown_table(
        [
            "phase",
            "pages",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "errors",
            "app CPU ms/req",
            "app % of a core",
            "db CPU ms/req",
            "db conns (max)",
            "304s",
        ],
        rows,
    )


def ratios(base: PhaseResult, status: PhaseResult) -> str:
    """Status over baseline: median latency and the app server's CPU per request."""
    if not (base.ok and status.ok and base.app_cpu > 0):
        return "not enough polls to compare"
    cpu = status.cpu_ms_per_request(status.app_cpu) / base.cpu_ms_per_request(base.app_cpu)
    return f"p50 {fmt(status.ms(50) / base.ms(50), 2)}×, app CPU per request {fmt(cpu, 2)}×"


def reach_summary(changes: list[Change], watchers: dict[int, int]) -> tuple[str, bool]:
    """How soon the changes reached the pages watching their hotline, and whether every one
    did within REACH_TARGET."""
    expected = sum(watchers[c.hotline_pk] for c in changes)
    delays = [d for c in changes for d in c.seen.values()]
    within = sum(1 for d in delays if d <= REACH_TARGET)
    if not expected:
        return "no change was made", False
    longest = max(delays, default=float("nan"))
    line = (
        f"{len(changes)} registration changes, {expected} page updates due: {len(delays)} shown, "
        f"{within} within {REACH_TARGET:g} s; delay p50 {fmt(percentile(delays, 50) * 1000, 0)} ms, "
        f"p95 {fmt(percentile(delays, 95) * 1000, 0)} ms, max {fmt(longest * 1000, 0)} ms"
    )
    return line, within == expected


# --- the run --------------------------------------------------------------------------------------


async def run_rounds(args, port: int, master: int, world: World, cookies: list[str], watch: DatabaseWatch):
    domains = dict(world.hotlines)
    page_list = [
        Page(index=i, cookie=cookie, hotline_pk=world.hotlines[i % len(world.hotlines)][0])
        for i, cookie in enumerate(cookies)
    ]
    watchers = {pk: sum(1 for p in page_list if p.hotline_pk == pk) for pk, _ in world.hotlines}
    pages = Pages(port, page_list, args.interval)
    db = ThreadPoolExecutor(1)  # Django's connection stays in this one thread
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    watch.own.add(await loop.run_in_executor(db, own_backend_pid))  # not one of the app's
    online: set[tuple[int, str]] = set()

    async def changer(until: float) -> None:
        """Every --change-every s an extension of a watched hotline registers (or, once it
        has, unregisters), committed before the clock starts for the pages."""
        while time.monotonic() + args.change_every <= until:
            await asyncio.sleep(args.change_every)
            pk = rng.choice(world.hotlines)[0]
            number = rng.choice(world.offline[pk])
            going_online = (pk, number) not in online
            work = register if going_online else unregister
            await loop.run_in_executor(db, work, domains[pk], number)
            (online.add if going_online else online.discard)((pk, number))
            pages.changes.append(Change(pk, number, going_online, time.monotonic()))

    # Uncounted: a worker's first requests cost it most of a second of CPU (imports, the URL
    # resolver, connections); bursts of concurrent requests reach every worker.
    for _burst in range(3):
        await asyncio.gather(
            *(
                http_get(port, path, {"Cookie": page.cookie})
                for page in page_list[: 4 * args.workers]
                for path in ("/healthz", page.status_path)
            ),
            return_exceptions=True,
        )
    tasks = await pages.run(seed=1)
    totals = {phase: PhaseResult(phase) for phase in PHASES}
    try:
        for phase in PHASES:
            pages.phase = phase
            await asyncio.sleep(WARMUP)
        for round_number in range(args.rounds):
            for phase in PHASES:
                result = await measure(pages, phase, args.seconds, master, watch, changer)
                totals[phase].merge(result)
                print(
                    f"  round {round_number + 1}, {phase}: {len(result.polls)} polls, "
                    f"{fmt(result.rate)} req/s, p50 {fmt(result.ms(50))} ms, load average "
                    + " / ".join(f"{x:.2f}" for x in os.getloadavg()),
                    flush=True,
                )
        # The last changes get the time to arrive before the pages close.
        await asyncio.sleep(REACH_TARGET + args.interval)
    finally:
        pages.stopping = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.run_in_executor(db, _close_connections)
        db.shutdown()
    return totals, pages.changes, watchers


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


def own_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` cleans up
    prefix = f"bench-status-{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="bench_status_poll_"))
    env = {**server_env(args, str(workdir / "static")), "BENCH_CACHE_PREFIX": prefix}
    if args.cache_seconds is not None:
        env["LIVE_STATUS_CACHE_SECONDS"] = str(args.cache_seconds)
    os.environ.update(env)
    print(
        f"Run: bench/status_poll_bench.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip()
        + f", {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        flush=True,
    )
    process = None
    watch = None
    recreate_database(args.database_url)
    try:
        setup_django(args.database_url, args.redis_url, "bench.load_settings")
        began = time.perf_counter()
        world = build_world(args.hotlines, args.extensions)
        print(f"Machine: {machine()}")
        print(
            f"Data: {args.hotlines} hotlines × {args.extensions} extensions, a third registered, "
            f"{time.perf_counter() - began:.0f} s",
            flush=True,
        )
        port = free_port()
        command = gunicorn_command(args.workers, port, workdir / "gunicorn.log")
        process = start_gunicorn(command, env, port, workdir / "gunicorn.log", ready_path="/healthz")
        from django.conf import settings

        print(
            f"Server: {' '.join(command[1:])} (pid {process.pid}), "
            f"LIVE_STATUS_CACHE_SECONDS={settings.LIVE_STATUS_CACHE_SECONDS:g}"
        )
        cookies = session_cookies(world.users, args.pages)
        print(
            f"Pages: {args.pages} signed-in sessions over {args.hotlines} hotlines, each polling, then "
            f"pausing {args.interval:g} s; {args.rounds} round(s) of baseline (/healthz) then status, "
            f"{args.seconds:g} s each after 1 s of warm-up; a registration change every "
            f"{args.change_every:g} s in the status phase",
            flush=True,
        )
        watch = DatabaseWatch(args.database_url, {own_backend_pid()})
        watch.start()
        totals, changes, watchers = asyncio.run(run_rounds(args, port, process.pid, world, cookies, watch))

        print()
        print(phase_table(totals, args.pages))
        base, status = totals["baseline"], totals["status"]
        print(f"\nStatus against baseline (same run): {ratios(base, status)}")
        reach, all_within = reach_summary(changes, watchers)
        print(f"Changes reaching the pages: {reach}")
        print(
            f"Client (this process) CPU: {fmt(status.cpu_ms_per_request(status.client_cpu), 2)} ms per poll "
            "in the status phase"
        )
        print(f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
        # On a starved machine Redis may miss its 0.25 s deadline: the breaker then skips it for a
        # while (sessions from the database, the status read afresh), which the CPU shows.
        log = (workdir / "gunicorn.log").read_text(errors="replace")
        print(f"Server log: Redis timed out {log.count('Redis did not answer')} time(s)")
        errors = base.errors + status.errors
        if errors:
            tail = (workdir / "gunicorn.log").read_text(errors="replace")[-3000:]
            print(f"\n{errors} polls failed; the server's log (end):\n{tail}")
        print(f"Result: {'OK' if not errors and all_within else 'FAILED'}")
        return 0 if not errors and all_within else 1
    finally:
        if watch is not None:
            watch.stop()
        if process is not None:
            stop_gunicorn(process)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(args.database_url, drop_only=True)
        delete_cache_keys(args.redis_url, prefix)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
