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
4. for 5, 20 and 50 concurrent users, closed loop (no think time), a fixed time each, and for
   each size in turn (the sizes alternate and the mixes rotate, so drift hits all alike):
   - "ours": the dashboard's mix: the extension list (first page, a search, a filter), an
     extension's page, its edit page, a save of it (POST with the current `version`), the list
     API and the detail API (token);
   - "ours, admin's mix": only what the admin can do too (list, search, filter, edit, save), in
     the same proportions;
   - "admin": the admin changelist (first page, `?q=` search, filter), change page and save, in
     those proportions;
   recording per request kind the latencies (p50/p95/p99), the throughput and the errors (a
   status other than the expected 200, or 302 for a save); at 100,000 the users are spread over
   the 10 hotlines;
5. prints the tables and the targets checked against this run, stops both gunicorns, drops the
   databases and removes its temporary files (--keep keeps the databases).
About 10 minutes with the defaults (2 vCPU); --quick (1,000 and 10,000 extensions, 5 and 20
users, 3 s steps) about 2. Results and the machine they came from: docs/performance.md, "Load".
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
    clone_database,
    fill_hotline,
    hotline_create,
    machine,
    recreate_database,
    setup_django,
    vacuum_analyze,
)

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
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL),
        help="Scratch PostgreSQL database (created and dropped). Default: %(default)s",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="Redis for the cache and sessions (keys get a per-run prefix, removed at the end). "
        "Default: %(default)s",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="A smoke run: --per-hotline 1000 --users 5,20 --duration 3 --warmup 1.",
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
        "--duration", type=float, default=None, help="Measured seconds per step (default 20)."
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="Uncounted seconds at the start of each step (default 3)."
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn sync workers (default 2 × CPUs + 1 = %(default)s, as docs/deployment.md).",
    )
    parser.add_argument(
        "--exclude",
        default="",
        help=f"Request kinds left out of every mix, comma-separated (of: {', '.join(OURS_MIX)}); "
        "e.g. --exclude edit shows the rest without the edit page.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args(argv)
    quick = {"per_hotline": 1000, "users": "5,20", "duration": 3.0, "warmup": 1.0}
    full = {"per_hotline": 10_000, "users": "5,20,50", "duration": 20.0, "warmup": 3.0}
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


@dataclass
class StepResult:
    variant: str
    users: int
    seconds: float
    samples: list[Sample]
    error_notes: list[str]

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.seconds

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
    request, as gunicorn's sync workers close each one."""

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
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            sent = dict(headers or {})
            if cookies and self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = None
            if form is not None:
                body = urlencode(form, doseq=True)
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            if cookies:
                for header in response.headers.get_all("Set-Cookie") or []:
                    self.store_cookie(header)
            return response.status, data
        finally:
            conn.close()

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
    data: dict[str, Any]
    version: int


@dataclass
class User:
    client: Client
    hotline_id: int
    read_ids: list[int]  # the hotline's extensions, for its pages
    own: list[Own] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

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
) -> tuple[float, list[Sample], list[str]]:
    """Every user in its own thread, requests back to back for `warmup + duration` seconds; the
    requests started during the warm-up are not counted. Returns the measured window's length
    (until the last counted request ended), the samples and the first error notes."""
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + duration
    per_user: list[list[Sample]] = [[] for _ in users]
    notes: list[str] = []
    last_end = [measure_from]
    api_headers = {"Authorization": f"Token {token}"}

    def loop(index: int) -> None:
        user, samples = users[index], per_user[index]
        deck = mix_deck(weights, user.rng)
        position = user.rng.randrange(len(deck))
        while (began := time.perf_counter()) < stop:
            kind = deck[position % len(deck)]
            position += 1
            method, path, form, expected, on_success, with_cookies = act(user, kind, token)
            headers = {} if with_cookies else api_headers
            try:
                status, body = user.client.request(method, path, form, headers, cookies=with_cookies)
                error = "" if status == expected else f"{kind}: {method} {path} → {status} {body[:160]!r}"
            except (OSError, http.client.HTTPException) as exc:
                status, body, error = 0, b"", f"{kind}: {method} {path} → {exc!r}"
            ended = time.perf_counter()
            if not error and on_success:
                on_success()
            if began >= measure_from:
                samples.append(Sample(kind, (ended - began) * 1000, not error, len(body)))
                last_end[0] = max(last_end[0], ended)
            if error and len(notes) < 5:
                notes.append(error)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + warmup + TIMEOUT + 10)
    samples = [s for user_samples in per_user for s in user_samples]
    return max(last_end[0] - measure_from, 1e-9), samples, notes


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
        rows = Extension.objects.filter(pk__in=own_ids).prefetch_related(
            "outbound_hotlines", "outbound_groups"
        )
        own = [
            Own(
                pk=e.pk,
                version=e.version,
                data={
                    "alias": e.alias,
                    "call_permission": e.call_permission,
                    "supervisor": e.supervisor_id or "",
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def start_gunicorn(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn in its own session, its output (and Django's log) into `log`; returns once it
    answers."""
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
            if Client(port).request("GET", "/accounts/login/")[0] == 200:
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

    def start(self, args: argparse.Namespace, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / f"gunicorn-{self.prefix}.log"
        command = gunicorn_command(args.workers, self.port, self.log)
        env = {**env, "DATABASE_URL": self.database_url, "BENCH_CACHE_PREFIX": self.prefix}
        self.process = start_gunicorn(command, env, self.port, self.log)
        print(f"Server for {self.label}: {' '.join(command[1:])} (pid {self.process.pid})")

    def sign_in(self, count: int, workers: int) -> None:
        """`count` users through the sign-in page, `count` through the admin's, each with its own
        session; the users of the dashboard get the plans (the admin's save the same rows)."""
        self.ours = [
            User(Client(self.port), p.hotline_id, p.read_ids, list(p.own), rng=random.Random(i))
            for i, p in enumerate(self.plans[:count])
        ]
        self.admins = [
            User(
                Client(self.port),
                p.hotline_id,
                p.read_ids,
                [Own(pk=o.pk, data=dict(o.data), version=o.version) for o in p.own],
                rng=random.Random(1000 + i),
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
    print(f"\n### {label}\n")
    rows = []
    for r in results:
        o = r.overall
        rows.append(
            [r.variant, r.users, f"{r.throughput:.1f}", fmt(o.p50), fmt(o.p95), fmt(o.p99), o.n, o.errors]
        )
    print(
        markdown_table(["mix", "users", "req/s", "p50 ms", "p95 ms", "p99 ms", "requests", "errors"], rows, 1)
    )
    for variant in VARIANTS:
        steps = [r for r in results if r.variant == variant]
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


def targets(sizes: list[tuple[str, list[StepResult]]]) -> list[tuple[str, str, bool]]:
    """The issue's four targets, as ratios within this run."""
    checks = []
    for label, results in sizes:
        step = {(r.variant, r.users): r for r in results}
        users = sorted({r.users for r in results})
        ratios = [
            step[("ours, admin's mix", n)].throughput / step[("admin", n)].throughput
            for n in users
            if ("ours, admin's mix", n) in step and ("admin", n) in step
        ]
        checks.append(
            (
                f"{label}: throughput ≥ 3 × Django admin's, same mix (at {', '.join(map(str, users))} users)",
                " / ".join(f"{x:.2f} ×" for x in ratios),
                bool(ratios) and min(ratios) >= 3,
            )
        )
        if ("ours", 5) in step and ("ours", 20) in step:
            p5, p20 = step[("ours", 5)].overall.p95, step[("ours", 20)].overall.p95
            held = step[("ours", 20)].throughput / step[("ours", 5)].throughput
            checks.append(
                (
                    f"{label}: p95 at 20 users ≤ 2 × p95 at 5 users (ours)",
                    f"{fmt(p20)} / {fmt(p5)} ms = {p20 / p5:.2f} × (throughput {held:.2f} ×)",
                    p20 <= 2 * p5,
                )
            )
    if len(sizes) == 2:
        (small_label, small), (big_label, big) = sizes
        small_step = {r.users: r for r in small if r.variant == "ours"}
        big_step = {r.users: r for r in big if r.variant == "ours"}
        users = sorted(set(small_step) & set(big_step))
        for kind in KINDS:
            ratios = []
            for n in users:
                a, b = small_step[n].by_kind().get(kind), big_step[n].by_kind().get(kind)
                if a and b:
                    ratios.append(b.p50 / a.p50)
            if not ratios:
                continue
            checks.append(
                (
                    f"{kind}: p50 at {big_label} ≤ 1.5 × at {small_label} "
                    f"({', '.join(map(str, users))} users)",
                    " / ".join(f"{x:.2f} ×" for x in ratios),
                    max(ratios) <= 1.5,
                )
            )
    errors = sum(r.overall.errors for _, results in sizes for r in results)
    requests = sum(r.overall.n for _, results in sizes for r in results)
    checks.append(("0 errors (every step, ours and admin)", f"{errors} of {requests:,}", errors == 0))
    return checks


def print_targets(checks: list[tuple[str, str, bool]]) -> None:
    print("\nTargets, in this run:")
    rows = [(target, measured, "yes" if met else "**no**") for target, measured, met in checks]
    print(markdown_table(["target", "measured", "met"], rows, 1))


# --- main ------------------------------------------------------------------------------------------


def run_steps(args: argparse.Namespace, servers: list[Server], token: str) -> None:
    """Every (users, mix, size) once; the mixes rotate and the sizes alternate, so that the
    machine's drift (it is shared) falls on all of them alike."""
    for step_no, n in enumerate(args.users):
        print(f"\n{n} users: load average {os.getloadavg()[0]:.2f}", flush=True)
        order = list(VARIANTS)
        order = order[step_no % 3 :] + order[: step_no % 3]
        for variant_no, variant in enumerate(order):
            sizes = servers if (step_no + variant_no) % 2 == 0 else servers[::-1]
            for server in sizes:
                group, act = (
                    (server.admins, admin_action) if variant == "admin" else (server.ours, ours_action)
                )
                seconds, samples, notes = run_step(
                    group[:n], args.mixes[variant], act, token, duration=args.duration, warmup=args.warmup
                )
                result = StepResult(variant, n, seconds, samples, notes)
                server.results.append(result)
                o = result.overall
                print(
                    f"  {server.label:>26}, {variant:>17}: {result.throughput:6.1f} req/s, p50 {fmt(o.p50)} "
                    f"p95 {fmt(o.p95)} p99 {fmt(o.p99)} ms, {o.errors} errors",
                    flush=True,
                )
                for note in notes:
                    print(f"    error: {note}")


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
            f"Steps: {args.warmup:g} s warm-up + {args.duration:g} s measured, closed loop, at "
            f"{', '.join(map(str, args.users))} users; mixes: ours {args.mixes['ours']}, admin's "
            f"{args.mixes['admin']}"
        )
        run_steps(args, servers, world.token)

        for server in servers:
            print_size(server.label, server.results)
        print_targets(targets([(s.label, s.results) for s in servers]))
        for server in servers:
            if any(r.overall.errors for r in server.results):
                tail = server.log.read_text(errors="replace")[-3000:]
                print(f"\nThe log of {server.label}'s server (end):\n{tail}")
        print(f"\nThe whole run: {(time.perf_counter() - started) / 60:.1f} min")
    finally:
        for server in servers:
            if server.process is not None:
                stop_gunicorn(server.process)
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
