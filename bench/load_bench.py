#!/usr/bin/env python
"""Load: the dashboard under concurrent users, on gunicorn, next to Django admin doing the same job.

    make bench-load           # or: .venv/bin/python bench/load_bench.py --help   (--quick: a smoke run)

What it does, all on the loopback, bounded in time, and stopping by itself:
1. builds, in a scratch PostgreSQL database (BENCH_DATABASE_URL, default bench_load), one tenant
   with 10 hotlines, the first holding 10,000 extensions made and varied by the real services
   (bench/data.py, as bench_scale.py builds them); copies that database (bench_load_small), then
   fills the 9 other hotlines of the first one alike: 100,000 extensions in the tenant;
2. collects the static files into a temporary directory and starts one gunicorn per database
   (`pbx_admin.wsgi`, sync workers, 2 × CPUs + 1 of them, as docs/deployment.md says) on free
   loopback ports, with the production settings (DEBUG off, secrets from the environment,
   sessions in Redis) plus Django admin with write access at /bench-admin/ (bench/load_urls.py);
   only one of them has work at any time;
3. on each, signs in 50 virtual users through the sign-in page (the tenant admin) and 50 through
   the admin's (a superuser), each with its own session and CSRF cookies;
4. the capacity phase: for 5, 20 and 50 concurrent users, closed loop (no think time), three mixes:
   - "ours": the dashboard's mix: the extension list (first page, a search, a filter), an
     extension's page, its edit page, a save of it (POST with the current `version`), the list
     API and the detail API (token);
   - "ours, admin's mix": only what the admin can do too (list, search, filter, edit, save), in
     the same proportions;
   - "admin": the admin changelist (first page, `?q=` search, filter), change page and save, in
     those proportions;
   the throughput target (ours ≥ 3 × the admin's, same mix) is taken here;
5. the sessions phase: the dashboard's mix at 5, 20 and 50 users who pause before each request
   (exponentially distributed, mean --think = 1 s, from a seeded generator per user), as people
   use it; the latency targets (p95 at 20 users against 5, 100,000 against 10,000) are taken here;
   in both phases every measurement is cut into --rounds slices that take turns with all the
   others', so a shared machine's drift falls on all alike; a slice counts the requests that end
   in its window (after a short warm-up), with their latencies (p50/p95/p99), the throughput,
   the errors (a status other than the expected 200, or 302 for a save) and the CPU per request
   of the client, the app server's processes and the database's backends (/proc); at 100,000 the
   users are spread over the 10 hotlines;
6. prints the tables and the targets checked against this run, stops both gunicorns, drops the
   databases and removes its temporary files (--keep keeps the databases).
About 17 minutes with the defaults (2 vCPU); --quick (1,000 and 10,000 extensions, 5 and 20
users, 2 short slices) about 4. Results and the machine they came from: docs/performance.md, "Load".
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.data import (  # noqa: E402  (needs BASE_DIR on the path)
    add_scratch_arguments,
    clone_database,
    fill_hotline,
    hotline_create,
    machine,
    recreate_database,
    setup_django,
    vacuum_analyze,
)
from sip.kamailio import free_port  # noqa: E402

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/bench_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/4"
HOTLINES = 10
SEARCH = "le5432"  # an alias fragment: sale5432 on each hotline
OWN = 8  # extensions each virtual user saves (its own: no two users save the same one)
TIMEOUT = 60.0  # seconds a request may take before it counts as an error
PASSWORD = "bench-load-Pw-2024"  # noqa: S105  (a scratch database's user)

# The dashboard's mix: of 100 requests, how many of each kind.
OURS_MIX = {
    "list": 20,
    "list: search": 10,
    "list: filter": 10,
    "detail": 15,
    "edit": 10,
    "save": 5,
    "list API": 15,
    "detail API": 15,
}
# What Django admin can do as well, in the same proportions: its changelist (first page, search,
# filter), its change page and its save.
SHARED_KINDS = ("list", "list: search", "list: filter", "edit", "save")
ADMIN_MIX = {kind: OURS_MIX[kind] for kind in SHARED_KINDS}
KINDS = list(OURS_MIX)
VARIANTS = ("ours", "ours, admin's mix", "admin")


def mixes(exclude: Iterable[str] = ()) -> dict[str, dict[str, int]]:
    """Each variant's mix, without the kinds in `exclude` (on both sides alike)."""
    ours = {kind: weight for kind, weight in OURS_MIX.items() if kind not in exclude}
    shared = {kind: weight for kind, weight in ADMIN_MIX.items() if kind not in exclude}
    return {"ours": ours, "ours, admin's mix": shared, "admin": shared}


SAVES = itertools.count(1)  # next() on it is atomic: threads share it
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class BenchError(Exception):
    pass


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_scratch_arguments(
        parser,
        database_url=DEFAULT_DB_URL,
        redis_url=DEFAULT_REDIS_URL,
        redis_use="the cache and sessions (keys get a per-run prefix, removed at the end)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="A smoke run: --per-hotline 1000 --users 5,20 --duration 4 --sessions-duration 8 "
        "--rounds 2 --warmup 0.5.",
    )
    parser.add_argument(
        "--per-hotline",
        type=int,
        default=None,
        help="Extensions per hotline (default 10000; multiple of 1000).",
    )
    parser.add_argument(
        "--users", default=None, help="Concurrent users per step, comma-separated (default 5,20,50)."
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="Capacity phase (closed loop): measured seconds per mix, size and user count, in "
        "--rounds slices (default 16).",
    )
    parser.add_argument(
        "--sessions-duration",
        type=float,
        default=None,
        help="Sessions phase (users who think): measured seconds per size and user count, in "
        "--rounds slices (default 60).",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="Sessions phase: mean pause before each request, seconds, exponentially distributed "
        "(default %(default)s).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="Slices each measurement is cut into, interleaved with the others' (default 8).",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="Uncounted seconds at the start of each slice (default 0.5).",
    )
    add_workers_argument(parser)
    parser.add_argument(
        "--exclude",
        default="",
        help=f"Request kinds left out of every mix, comma-separated (of: {', '.join(OURS_MIX)}); "
        "e.g. --exclude edit shows the rest without the edit page.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args(argv)
    quick = {
        "per_hotline": 1000,
        "users": "5,20",
        "duration": 4.0,
        "sessions_duration": 8.0,
        "rounds": 2,
        "warmup": 0.5,
    }
    full = {
        "per_hotline": 10_000,
        "users": "5,20,50",
        "duration": 16.0,
        "sessions_duration": 60.0,
        "rounds": 8,
        "warmup": 0.5,
    }
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.users = sorted({int(n) for n in str(args.users).split(",")})
    args.exclude = {kind.strip() for kind in args.exclude.split(",") if kind.strip()}
    if unknown := args.exclude - set(OURS_MIX):
        parser.error(f"--exclude: unknown kinds {sorted(unknown)}")
    args.mixes = mixes(args.exclude)
    if args.per_hotline % 1000 or args.per_hotline <= 0:
        parser.error("--per-hotline must be a positive multiple of 1000")
    return args


# --- pure pieces (tests/test_load_bench.py) ------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear between the two nearest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mix_deck(weights: dict[str, int], rng: random.Random) -> list[str]:
    """One round of the mix: each kind as many times as its weight, shuffled. A user plays its
    deck again and again, so every run of `sum(weights)` requests has the mix's exact proportions."""
    deck = [kind for kind, weight in weights.items() for _ in range(weight)]
    rng.shuffle(deck)
    return deck


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], right_from: int = 1) -> str:
    """A Markdown table; columns from `right_from` on are right-aligned (numbers)."""
    align = ["---" if i < right_from else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def parse_response(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """An HTTP/1.1 response read to the end of the connection: its status, its headers (names
    in lower case) and its body, checked against Content-Length or decoded from chunks."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if not separator or len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise http.client.HTTPException(f"not an HTTP response: {raw[:80]!r}")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower().decode("latin-1"), value.strip().decode("latin-1")))
    fields = dict(headers)
    if fields.get("transfer-encoding", "").lower() == "chunked":
        decoded, rest = [], body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            decoded.append(rest[:size])
            rest = rest[size + 2 :]
        body = b"".join(decoded)
    elif "content-length" in fields and int(fields["content-length"]) != len(body):
        raise http.client.HTTPException(f"{len(body)} of {fields['content-length']} bytes")
    return int(parts[1]), headers, body


@dataclass
class Sample:
    kind: str
    ms: float
    ok: bool
    size: int


@dataclass
class Stats:
    n: int
    errors: int
    p50: float
    p95: float
    p99: float
    kb: float

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Stats:
        ms = [s.ms for s in samples]
        return cls(
            n=len(samples),
            errors=sum(not s.ok for s in samples),
            p50=percentile(ms, 50),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            kb=sum(s.size for s in samples) / len(samples) / 1024 if samples else math.nan,
        )


CAPACITY, SESSIONS = "capacity", "sessions"


@dataclass
class StepResult:
    """One (phase, mix, users) cell of one size: the samples of all its slices, their measured
    seconds, and the CPU seconds the bench's client, the app server's workers and the
    database's backends spent in them."""

    variant: str
    users: int
    seconds: float
    samples: list[Sample]
    error_notes: list[str]
    phase: str = CAPACITY
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.seconds

    def cpu_ms(self, part: str) -> float:
        """CPU milliseconds per request spent by `part` (client, app, db)."""
        return self.cpu.get(part, math.nan) * 1000 / len(self.samples) if self.samples else math.nan

    def add(self, seconds: float, samples: list[Sample], notes: list[str], cpu: dict[str, float]) -> None:
        self.seconds += seconds
        self.samples += samples
        self.error_notes += notes[: max(0, 5 - len(self.error_notes))]
        for part, value in cpu.items():
            self.cpu[part] = self.cpu.get(part, 0.0) + value

    @property
    def overall(self) -> Stats:
        return Stats.of(self.samples)

    def by_kind(self) -> dict[str, Stats]:
        return {
            kind: Stats.of([s for s in self.samples if s.kind == kind])
            for kind in KINDS
            if any(s.kind == kind for s in self.samples)
        }


# --- HTTP ----------------------------------------------------------------------------------------


class Client:
    """One virtual user's browser: its cookies (session, CSRF, messages) and a new connection per
    request, as gunicorn's sync workers close each one. A plain socket rather than http.client:
    the client shares the 2 cores with the server, so it should cost as little as it can (it
    parses only the status line and the headers it needs; the body is counted, not decoded)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        cookies: bool = True,
    ) -> tuple[int, bytes]:
        sent = {"Host": f"127.0.0.1:{self.port}", "Connection": "close", **(headers or {})}
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = b""
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if body or method == "POST":
            sent["Content-Length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as sock:
            sock.sendall(head.encode("latin-1") + b"\r\n" + body)
            chunks = []
            while chunk := sock.recv(262144):
                chunks.append(chunk)
        status, response_headers, data = parse_response(b"".join(chunks))
        if cookies:
            for name, value in response_headers:
                if name == "set-cookie":
                    self.store_cookie(value)
        return status, data

    def store_cookie(self, header: str) -> None:
        for name, morsel in SimpleCookie(header).items():
            if morsel["max-age"] == "0" or not morsel.value:
                self.cookies.pop(name, None)  # Django's delete_cookie
            else:
                self.cookies[name] = morsel.value

    def login(self, path: str, username: str) -> None:
        status, body = self.request("GET", path)
        token = CSRF_INPUT.search(body)
        if status != 200 or not token:
            raise BenchError(f"GET {path}: {status}")
        form = {"csrfmiddlewaretoken": token.group(1).decode(), "username": username, "password": PASSWORD}
        status, body = self.request("POST", path, form)
        if status != 302:
            raise BenchError(f"sign-in at {path} as {username}: {status} {body[:200]!r}")


# --- what a virtual user does ----------------------------------------------------------------------


@dataclass
class Own:
    """An extension a user saves, as the edit form posts it."""

    pk: int
    data: dict[str, Any]  # as the dashboard's form posts it (the supervisor by its number)
    version: int
    supervisor_pk: int | None = None  # as the admin's raw id field posts it


@dataclass
class User:
    client: Client
    hotline_id: int
    read_ids: list[int]  # the hotline's extensions, for its pages
    own: list[Own] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    think: random.Random = field(default_factory=random.Random)  # its pauses, seeded apart

    def pick_own(self) -> Own:
        return self.own[self.rng.randrange(len(self.own))]

    @staticmethod
    def description() -> str:
        """A description no save has written before: a save that changes nothing would not
        bump the version (and would not be a save)."""
        return f"Nhân viên kinh doanh — lưu lần {next(SAVES)}"


Action = tuple[str, str, dict[str, Any] | None, int, Callable[[], None] | None, bool]
# (method, path, form, expected status, on success, with cookies)


def ours_action(user: User, kind: str, token: str) -> Action:
    hotline = user.hotline_id
    if kind in ("list", "list: search", "list: filter"):
        query = {"list": "", "list: search": f"?search={SEARCH}", "list: filter": "?call_permission=internal"}
        return "GET", f"/hotlines/{hotline}/extensions/{query[kind]}", None, 200, None, True
    if kind == "detail":
        return "GET", f"/extensions/{user.rng.choice(user.read_ids)}/", None, 200, None, True
    if kind == "edit":
        return "GET", f"/extensions/{user.rng.choice(user.read_ids)}/edit/", None, 200, None, True
    if kind == "save":
        own = user.pick_own()
        form = {
            **own.data,
            "description": user.description(),
            "version": own.version,
            "csrfmiddlewaretoken": user.client.cookies.get("csrftoken", ""),
        }

        def saved(own: Own = own) -> None:
            own.version += 1

        return "POST", f"/extensions/{own.pk}/edit/", form, 302, saved, True
    if kind == "list API":
        return "GET", f"/api/v1/extensions/?hotline={hotline}", None, 200, None, False
    if kind == "detail API":
        return "GET", f"/api/v1/extensions/{user.rng.choice(user.read_ids)}/", None, 200, None, False
    raise ValueError(kind)


def admin_action(user: User, kind: str, token: str) -> Action:
    base = "/bench-admin/extensions/extension/"
    if kind in ("list", "list: search", "list: filter"):
        query = {"list": "", "list: search": f"&q={SEARCH}", "list: filter": "&call_permission__exact=1"}
        return "GET", f"{base}?hotline__id__exact={user.hotline_id}{query[kind]}", None, 200, None, True
    if kind == "edit":
        return "GET", f"{base}{user.rng.choice(user.read_ids)}/change/", None, 200, None, True
    if kind == "save":
        own = user.pick_own()
        form = {
            **own.data,
            "description": user.description(),
            "_save": "Save",
            "csrfmiddlewaretoken": user.client.cookies.get("csrftoken", ""),
        }
        return "POST", f"{base}{own.pk}/change/", form, 302, None, True
    raise ValueError(kind)


def run_step(
    users: list[User],
    weights: dict[str, int],
    act: Callable[[User, str, str], Action],
    token: str,
    *,
    duration: float,
    warmup: float,
    think: float = 0.0,
    cpu: Callable[[], dict[str, dict[int, float]]] | None = None,
) -> tuple[float, list[Sample], list[str], dict[str, float]]:
    """Every user in its own thread for `warmup + duration` seconds: with `think` = 0 requests
    back to back (a closed loop); otherwise a pause before each request, exponentially
    distributed with mean `think` seconds, drawn from the user's own seeded generator (the
    first pause spreads the users' starts). What counts is what completes in the measured
    window (after the warm-up, until the end): its requests' samples, their number over the
    window's length for the throughput, and with `cpu` the CPU seconds each part spent in the
    window (`cpu()`: part → process → CPU seconds so far). Requests still running at the end
    are finished, not counted. Returns the window's length, the samples, the first error notes
    and the CPU seconds per part."""
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + duration
    per_user: list[list[Sample]] = [[] for _ in users]
    notes: list[str] = []
    api_headers = {"Authorization": f"Token {token}"}

    def loop(index: int) -> None:
        user, samples = users[index], per_user[index]
        deck = mix_deck(weights, user.rng)
        position = user.rng.randrange(len(deck))
        while True:
            if think:
                pause = user.think.expovariate(1 / think)
                if time.perf_counter() + pause >= stop:
                    break
                time.sleep(pause)
            if (began := time.perf_counter()) >= stop:
                break
            kind = deck[position % len(deck)]
            position += 1
            method, path, form, expected, on_success, with_cookies = act(user, kind, token)
            headers = {} if with_cookies else api_headers
            try:
                status, body = user.client.request(method, path, form, headers, cookies=with_cookies)
                error = "" if status == expected else f"{kind}: {method} {path} → {status} {body[:160]!r}"
            except (OSError, ValueError, http.client.HTTPException) as exc:
                status, body, error = 0, b"", f"{kind}: {method} {path} → {exc!r}"
            ended = time.perf_counter()
            if not error and on_success:
                on_success()
            if measure_from <= ended <= stop:
                samples.append(Sample(kind, (ended - began) * 1000, not error, len(body)))
            if error and len(notes) < 5:
                notes.append(error)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(len(users))]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    before = cpu() if cpu else {}
    time.sleep(max(0.0, stop - time.perf_counter()))
    after = cpu() if cpu else {}
    for thread in threads:
        thread.join(duration + warmup + TIMEOUT + 10)
    samples = [s for user_samples in per_user for s in user_samples]
    spent = {part: cpu_delta(before[part], after[part]) for part in after}
    return stop - measure_from, samples, notes, spent


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pids: Iterable[int]) -> dict[int, float]:
    """CPU seconds (user + system) each of these processes has used so far; gone ones left out."""
    spent = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        spent[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return spent


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots by the processes alive at the second (a process
    that started in between counts from its start)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


# --- the world -------------------------------------------------------------------------------------


@dataclass
class World:
    hotlines: list[Any]
    groups: list[Any]
    token: str


def build_world(per_hotline: int) -> World:
    """The tenant, its 10 hotlines and 2 number groups, the first hotline filled, the users."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from hotlines.services import number_group_create
    from tenants.choices import Role
    from tenants.models import Membership, Tenant
    from tenants.services import api_token_create

    call_command("migrate", "--noinput", verbosity=0)
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    hotlines = [hotline_create(tenant=tenant, number=f"1900{1000 + i}") for i in range(HOTLINES)]
    groups = [
        number_group_create(tenant=tenant, name=name, strategy="same_carrier", hotlines=hotlines[:2])
        for name in ("Kinh doanh", "Chăm sóc")
    ]
    fill_hotline(hotline=hotlines[0], count=per_hotline, groups=groups, caller_id=hotlines[1])
    User = get_user_model()
    admin = User.objects.create_user("load-admin", password=PASSWORD)
    Membership.objects.create(user=admin, tenant=tenant, role=Role.ADMIN)
    User.objects.create_superuser("load-root", password=PASSWORD)
    token = api_token_create(user=admin, replace=True).key
    vacuum_analyze()
    return World(hotlines=hotlines, groups=groups, token=token)


def grow_world(world: World, per_hotline: int) -> None:
    """The 9 other hotlines filled as the first: 10 × per_hotline extensions in the tenant."""
    for hotline in world.hotlines[1:]:
        fill_hotline(hotline=hotline, count=per_hotline, groups=world.groups, caller_id=world.hotlines[0])
    vacuum_analyze()


@dataclass
class Plan:
    """What virtual user i works on: a hotline, any of its extensions to read, its own to save."""

    hotline_id: int
    read_ids: list[int]
    own: list[Own]


def plan_users(hotlines: list[Any], count: int) -> list[Plan]:
    """User i works on hotline i mod len(hotlines) and saves every count-th of its extensions
    from the i-th on (OWN of them): no two users save the same extension."""
    from extensions.models import Extension

    ids_of = {
        h.pk: list(Extension.objects.filter(hotline=h).order_by("pk").values_list("pk", flat=True))
        for h in hotlines
    }
    plans = []
    for i in range(count):
        hotline_id = hotlines[i % len(hotlines)].pk
        own_ids = ids_of[hotline_id][i::count][:OWN]
        rows = (
            Extension.objects.filter(pk__in=own_ids)
            .select_related("supervisor")
            .prefetch_related("outbound_hotlines", "outbound_groups")
        )
        own = [
            Own(
                pk=e.pk,
                version=e.version,
                supervisor_pk=e.supervisor_id,
                data={
                    "alias": e.alias,
                    "call_permission": e.call_permission,
                    "supervisor": e.supervisor.number if e.supervisor else "",
                    "outbound_hotlines": [h.pk for h in e.outbound_hotlines.all()],
                    "outbound_groups": [g.pk for g in e.outbound_groups.all()],
                    **({"enabled": "on"} if e.enabled else {}),
                },
            )
            for e in rows
        ]
        plans.append(Plan(hotline_id, ids_of[hotline_id], own))
    return plans


# --- gunicorn -------------------------------------------------------------------------------------


def sibling_url(database_url: str, suffix: str) -> str:
    """The URL of a database named as this one plus `suffix`, on the same server."""
    url = urlsplit(database_url)
    return url._replace(path=url.path.rstrip("/") + suffix).geturl()


def server_env(args: argparse.Namespace, static_root: str) -> dict[str, str]:
    """Production settings (DEBUG off) with throwaway secrets, for gunicorn and this process."""
    from cryptography.fernet import Fernet

    return {
        "DJANGO_SETTINGS_MODULE": "bench.load_settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "SIP_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SIP_DOMAIN_SUFFIX": "sip.bench.example.vn",
        "SIP_OUTBOUND_PROXY": "127.0.0.1:5060",
        "SIP_WEBSOCKET_URL": "ws://127.0.0.1:8088/ws",
        # Plain HTTP on the loopback: nginx terminates TLS in production.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "BENCH_STATIC_ROOT": static_root,
        "BENCH_CACHE_PREFIX": "bench-load",  # each server gets its own (Server.start)
    }


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn sync workers (default 2 × CPUs + 1 = %(default)s, as docs/deployment.md).",
    )


def gunicorn_command(workers: int, port: int, log: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "pbx_admin.wsgi",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--no-control-socket",
        "--timeout",
        "120",
        "--error-logfile",
        str(log),
        "--log-level",
        "warning",
    ]


def start_gunicorn(
    command: list[str], env: dict[str, str], port: int, log: Path, *, ready_path: str = "/accounts/login/"
) -> subprocess.Popen[bytes]:
    """gunicorn in its own session, its output (and Django's log) into `log`; returns once it
    answers 200 at `ready_path`."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if Client(port).request("GET", ready_path)[0] == 200:
                return process
        except OSError:
            pass
        time.sleep(0.3)
    stop_gunicorn(process)
    raise BenchError(f"gunicorn did not answer in 60 s:\n{log.read_text()[-3000:]}")


def stop_gunicorn(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the master (it stops its workers), SIGKILL if it has not gone in 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass
class Server:
    """One size of the data: its database, its gunicorn, its signed-in users and results."""

    label: str
    database_url: str
    prefix: str
    plans: list[Plan] = field(default_factory=list)
    port: int = 0
    log: Path = field(default_factory=Path)
    process: subprocess.Popen[bytes] | None = None
    ours: list[User] = field(default_factory=list)
    admins: list[User] = field(default_factory=list)
    results: list[StepResult] = field(default_factory=list)
    monitor: Any = None  # a connection to the server's "postgres" database, for pg_stat_activity

    def start(self, args: argparse.Namespace, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / f"gunicorn-{self.prefix}.log"
        command = gunicorn_command(args.workers, self.port, self.log)
        env = {**env, "DATABASE_URL": self.database_url, "BENCH_CACHE_PREFIX": self.prefix}
        self.process = start_gunicorn(command, env, self.port, self.log)
        import psycopg2

        url = urlsplit(self.database_url)
        self.monitor = psycopg2.connect(
            host=url.hostname,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname="postgres",
        )
        self.monitor.autocommit = True
        print(f"Server for {self.label}: {' '.join(command[1:])} (pid {self.process.pid})")

    def cpu_snapshot(self) -> dict[str, dict[int, float]]:
        """CPU seconds so far of the bench's client (this process: its user threads), of this
        server's gunicorn (master and workers) and of the PostgreSQL backends connected to its
        database."""
        assert self.process is not None
        master = self.process.pid
        try:
            workers = [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        except FileNotFoundError:
            workers = []
        name = urlsplit(self.database_url).path.lstrip("/")
        with self.monitor.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])
            backends = [pid for (pid,) in cursor.fetchall()]
        return {
            "client": {0: time.process_time()},
            "app": process_cpu([master, *workers]),
            "db": process_cpu(backends),
        }

    def sign_in(self, count: int, workers: int) -> None:
        """`count` users through the sign-in page, `count` through the admin's, each with its own
        session; the users of the dashboard get the plans (the admin's save the same rows)."""
        self.ours = [
            User(
                Client(self.port),
                p.hotline_id,
                p.read_ids,
                list(p.own),
                rng=random.Random(i),
                think=random.Random(10_000 + i),
            )
            for i, p in enumerate(self.plans[:count])
        ]
        self.admins = [
            User(
                Client(self.port),
                p.hotline_id,
                p.read_ids,
                [
                    Own(pk=o.pk, data={**o.data, "supervisor": o.supervisor_pk or ""}, version=o.version)
                    for o in p.own
                ],
                rng=random.Random(1000 + i),
                think=random.Random(11_000 + i),
            )
            for i, p in enumerate(self.plans[:count])
        ]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda u: u.client.login("/accounts/login/", "load-admin"), self.ours))
            admin_login = "/bench-admin/login/?next=/bench-admin/"
            list(pool.map(lambda u: u.client.login(admin_login, "load-root"), self.admins))


def delete_cache_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


# --- reporting ------------------------------------------------------------------------------------


def fmt(ms: float) -> str:
    return "–" if math.isnan(ms) else (f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}")


def print_size(label: str, results: list[StepResult]) -> None:
    print(f"\n### {label}")
    for phase in (CAPACITY, SESSIONS):
        steps_of_phase = [r for r in results if r.phase == phase]
        if not steps_of_phase:
            continue
        print(f"\n{PHASE_TITLE[phase]}:\n")
        rows = []
        for r in sorted(steps_of_phase, key=lambda r: (VARIANTS.index(r.variant), r.users)):
            o = r.overall
            cpu = " / ".join(fmt(r.cpu_ms(part)) for part in ("client", "app", "db"))
            rows.append(
                [
                    r.variant,
                    r.users,
                    f"{r.throughput:.1f}",
                    fmt(o.p50),
                    fmt(o.p95),
                    fmt(o.p99),
                    o.n,
                    o.errors,
                    cpu,
                ]
            )
        headers = ["mix", "users", "req/s", "p50 ms", "p95 ms", "p99 ms", "requests", "errors"]
        print(markdown_table([*headers, "CPU ms/req: client / app / db"], rows, 1))
        for variant in VARIANTS:
            steps = sorted((r for r in steps_of_phase if r.variant == variant), key=lambda r: r.users)
            if not steps:
                continue
            print(f"\n{variant}, per request kind: p50 / p95 / p99 ms (mean KB):\n")
            headers = ["kind"] + [f"{r.users} users" for r in steps]
            kinds = [k for k in KINDS if any(k in r.by_kind() for r in steps)]
            table = []
            for kind in kinds:
                row: list[object] = [kind]
                for r in steps:
                    s = r.by_kind().get(kind)
                    row.append(
                        "–"
                        if s is None
                        else f"{fmt(s.p50)} / {fmt(s.p95)} / {fmt(s.p99)} ({s.kb:.0f})"
                        + (f" **{s.errors} errors**" if s.errors else "")
                    )
                table.append(row)
            print(markdown_table(headers, table, 1))


PHASE_TITLE = {
    CAPACITY: "Capacity (closed loop, no think time)",
    SESSIONS: "Sessions (each user pauses before each request)",
}


def _p50_ratios(small: list[StepResult], big: list[StepResult], phase: str, kind: str) -> list[float]:
    """p50 at the big size over p50 at the small one, of one kind of the dashboard's full mix in
    one phase, at each user count both have."""
    small_step = {r.users: r for r in small if r.variant == "ours" and r.phase == phase}
    big_step = {r.users: r for r in big if r.variant == "ours" and r.phase == phase}
    ratios = []
    for n in sorted(set(small_step) & set(big_step)):
        a, b = small_step[n].by_kind().get(kind), big_step[n].by_kind().get(kind)
        if a and b:
            ratios.append(b.p50 / a.p50)
    return ratios


def _pooled_p50(results: list[StepResult], kind: str) -> float:
    """The p50 of one kind over every sessions sample of the dashboard's mix (all user counts:
    both sizes ran the same sessions, so the pooling weighs them alike)."""
    return percentile(
        [
            s.ms
            for r in results
            if r.phase == SESSIONS and r.variant == "ours"
            for s in r.samples
            if s.kind == kind
        ],
        50,
    )


def targets(sizes: list[tuple[str, list[StepResult]]]) -> list[tuple[str, str, bool]]:
    """The issue's four targets, as ratios within this run: the throughput against the admin's
    from the capacity phase (what the servers can do); the p95 at 20 against 5 users and the
    100,000-against-10,000 latencies from the sessions phase (users as they use it)."""
    checks = []
    for label, results in sizes:
        step = {(r.phase, r.variant, r.users): r for r in results}
        users = sorted({r.users for r in results if r.phase == CAPACITY})
        ratios = [
            step[(CAPACITY, "ours, admin's mix", n)].throughput / step[(CAPACITY, "admin", n)].throughput
            for n in users
            if (CAPACITY, "ours, admin's mix", n) in step and (CAPACITY, "admin", n) in step
        ]
        checks.append(
            (
                f"{label}: throughput ≥ 3 × Django admin's, same mix, closed loop "
                f"(at {', '.join(map(str, users))} users)",
                " / ".join(f"{x:.2f} ×" for x in ratios),
                bool(ratios) and min(ratios) >= 3,
            )
        )
        if (SESSIONS, "ours", 5) in step and (SESSIONS, "ours", 20) in step:
            p5, p20 = step[(SESSIONS, "ours", 5)].overall.p95, step[(SESSIONS, "ours", 20)].overall.p95
            checks.append(
                (
                    f"{label}: p95 at 20 users ≤ 2 × p95 at 5 users (ours, sessions)",
                    f"{fmt(p20)} / {fmt(p5)} ms = {p20 / p5:.2f} ×",
                    p20 <= 2 * p5,
                )
            )
    if len(sizes) == 2:
        (small_label, small), (big_label, big) = sizes
        users = sorted({r.users for r in small if r.phase == SESSIONS})
        for kind in KINDS:
            a, b = _pooled_p50(small, kind), _pooled_p50(big, kind)
            if math.isnan(a) or math.isnan(b):
                continue
            checks.append(
                (
                    f"{kind}: p50 at {big_label} ≤ 1.5 × at {small_label} "
                    f"(sessions of {', '.join(map(str, users))} users)",
                    f"{fmt(b)} / {fmt(a)} ms = {b / a:.2f} ×",
                    b <= 1.5 * a,
                )
            )
    errors = sum(r.overall.errors for _, results in sizes for r in results)
    requests = sum(r.overall.n for _, results in sizes for r in results)
    checks.append(
        ("0 errors (every step, both phases, ours and admin)", f"{errors} of {requests:,}", errors == 0)
    )
    return checks


def observations(sizes: list[tuple[str, list[StepResult]]]) -> list[tuple[str, str]]:
    """What the targets do not take: the closed loop's latencies (there the latency at n users is
    n / throughput, Little's law, for any server) and 100,000 against 10,000 per user count."""
    notes = []
    for label, results in sizes:
        step = {(r.phase, r.variant, r.users): r for r in results}
        if (CAPACITY, "ours", 5) in step and (CAPACITY, "ours", 20) in step:
            five, twenty = step[(CAPACITY, "ours", 5)], step[(CAPACITY, "ours", 20)]
            notes.append(
                (
                    f"{label}: closed loop, p95 at 20 users / at 5 users (ours)",
                    f"{twenty.overall.p95 / five.overall.p95:.2f} × "
                    f"(throughput {twenty.throughput / five.throughput:.2f} ×)",
                )
            )
    if len(sizes) == 2:
        (_, small), (_, big) = sizes
        for phase, where in ((SESSIONS, "sessions, each user count apart"), (CAPACITY, "closed loop")):
            ratios = [x for kind in KINDS for x in _p50_ratios(small, big, phase, kind)]
            if ratios:
                notes.append(
                    (
                        f"{where}: p50 at the big size / the small one, every kind and user count",
                        f"{min(ratios):.2f}–{max(ratios):.2f} ×",
                    )
                )
    return notes


def print_targets(checks: list[tuple[str, str, bool]], notes: Sequence[tuple[str, str]] = ()) -> None:
    print("\nTargets, in this run:")
    rows = [(target, measured, "yes" if met else "**no**") for target, measured, met in checks]
    print(markdown_table(["target", "measured", "met"], rows, 1))
    if notes:
        print("\nFor reference (not targets):")
        print(markdown_table(["observation", "measured"], notes, 1))


# --- main ------------------------------------------------------------------------------------------


def run_phase(
    args: argparse.Namespace,
    servers: list[Server],
    token: str,
    *,
    phase: str,
    variants: Sequence[str],
    duration: float,
    think: float,
) -> None:
    """Every (user count, mix, size) of the phase, each measurement cut into `args.rounds`
    slices that take turns with all the others' (each round in another order), so that the
    machine's drift (it is shared) falls on all of them alike: the ratios the targets take —
    ours against the admin's, 20 users against 5, 100,000 against 10,000 — compare
    measurements made in the same minutes."""
    cells = [(n, variant, server) for n in args.users for variant in variants for server in servers]
    results = {(n, v, s.label): StepResult(v, n, 0.0, [], [], phase) for n, v, s in cells}
    print(f"\n{PHASE_TITLE[phase]}: {len(cells)} measurements × {args.rounds} slices", flush=True)
    loads = []
    for round_no in range(args.rounds):
        loads.append(os.getloadavg()[0])
        shift = round_no * len(cells) // args.rounds
        order = cells[shift:] + cells[:shift]
        for n, variant, server in order[::-1] if round_no % 2 else order:
            group, act = (server.admins, admin_action) if variant == "admin" else (server.ours, ours_action)
            seconds, samples, notes, cpu = run_step(
                group[:n],
                args.mixes[variant],
                act,
                token,
                duration=duration / args.rounds,
                warmup=args.warmup,
                think=think,
                cpu=server.cpu_snapshot,
            )
            results[(n, variant, server.label)].add(seconds, samples, notes, cpu)
    loads.append(os.getloadavg()[0])
    print(f"  load average (1 min) at each round: {' '.join(f'{x:.1f}' for x in loads)}")
    for n, variant, server in cells:
        result = results[(n, variant, server.label)]
        server.results.append(result)
        o = result.overall
        print(
            f"  {n:>2} users, {server.label:>26}, {variant:>17}: {result.throughput:6.1f} req/s, "
            f"p50 {fmt(o.p50)} p95 {fmt(o.p95)} p99 {fmt(o.p99)} ms, {o.errors} errors; CPU ms/req "
            + " ".join(f"{part} {fmt(result.cpu_ms(part))}" for part in ("client", "app", "db")),
            flush=True,
        )
        for note in result.error_notes:
            print(f"    error: {note}")


def run_steps(args: argparse.Namespace, servers: list[Server], token: str) -> None:
    """The capacity phase (closed loop, every mix), then the sessions phase (the dashboard's
    full mix, users who think)."""
    run_phase(args, servers, token, phase=CAPACITY, variants=VARIANTS, duration=args.duration, think=0.0)
    run_phase(
        args,
        servers,
        token,
        phase=SESSIONS,
        variants=("ours",),
        duration=args.sessions_duration,
        think=args.think,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` cleans up
    run_id = secrets.token_hex(4)
    workdir = Path(tempfile.mkdtemp(prefix="bench_load_"))
    env = server_env(args, str(workdir / "static"))
    os.environ.update(env)
    started = time.perf_counter()
    print(
        f"Run: bench/load_bench.py {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip()
        + f", {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        + " / ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    size_small, size_big = args.per_hotline, args.per_hotline * HOTLINES
    # The big database is built first and grows; the small one is a copy of it before it grew.
    small = Server(
        f"{size_small:,} in one hotline", sibling_url(args.database_url, "_small"), f"bench-load-{run_id}-s"
    )
    big = Server(f"{size_big:,} over {HOTLINES} hotlines", args.database_url, f"bench-load-{run_id}-b")
    servers = [small, big]
    most = max(args.users)
    recreate_database(big.database_url)
    try:
        setup_django(big.database_url, args.redis_url, "bench.load_settings")
        from django.core.management import call_command
        from django.db import connections

        began = time.perf_counter()
        world = build_world(args.per_hotline)
        print(f"Machine: {machine()}")
        small.plans = plan_users(world.hotlines[:1], most)
        connections.close_all()
        clone_database(big.database_url, small.database_url)
        print(f"Data: {size_small:,} extensions in one hotline, {time.perf_counter() - began:.0f} s")
        began = time.perf_counter()
        grow_world(world, args.per_hotline)
        big.plans = plan_users(world.hotlines, most)
        print(
            f"Data: {size_big:,} extensions over {HOTLINES} hotlines (a second database), "
            f"{time.perf_counter() - began:.0f} s more"
        )
        call_command("collectstatic", "--noinput", verbosity=0)
        connections.close_all()

        began = time.perf_counter()
        for server in servers:
            server.start(args, env, workdir)
            server.sign_in(most, args.workers)
        print(
            f"Signed in {most} users to the dashboard and {most} to the admin on each, "
            f"{time.perf_counter() - began:.0f} s"
        )
        print(
            f"Steps at {', '.join(map(str, args.users))} users, each measurement in {args.rounds} "
            f"interleaved slices with {args.warmup:g} s of warm-up each: capacity (closed loop) "
            f"{args.duration:g} s per mix and size, sessions (pauses of {args.think:g} s on average) "
            f"{args.sessions_duration:g} s per size; mixes: ours {args.mixes['ours']}, admin's "
            f"{args.mixes['admin']}"
        )
        run_steps(args, servers, world.token)

        for server in servers:
            print_size(server.label, server.results)
        sizes = [(s.label, s.results) for s in servers]
        print_targets(targets(sizes), observations(sizes))
        print(f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for server in servers:
            if any(r.overall.errors for r in server.results):
                tail = server.log.read_text(errors="replace")[-3000:]
                print(f"\nThe log of {server.label}'s server (end):\n{tail}")
        print(f"\nThe whole run: {(time.perf_counter() - started) / 60:.1f} min")
    finally:
        for server in servers:
            if server.process is not None:
                stop_gunicorn(server.process)
            if server.monitor is not None:
                server.monitor.close()
        from django.db import connections

        connections.close_all()
        for server in servers:
            if not args.keep:
                recreate_database(server.database_url, drop_only=True)
            delete_cache_keys(args.redis_url, server.prefix)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
