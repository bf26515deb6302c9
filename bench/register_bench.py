#!/usr/bin/env python
"""REGISTER throughput: our read model (the `sip_subscriber` view) vs Kamailio's stock
`subscriber` table, measured in the same run on the same machine.

    make bench-register          # or: .venv/bin/python bench/register_bench.py --help

What it does, all on the loopback and bounded in count and time:
1. creates a scratch PostgreSQL database, migrates it and creates USERS extensions on a few
   hotlines through the real services;
2. copies the same accounts into a stock `subscriber` table (plain ha1/ha1b columns, plus the
   call_permission column that kamailio.cfg loads with the credentials, so that both sides
   load the same values);
3. starts two Kamailio instances from deploy/kamailio/kamailio.cfg that differ only in
   AUTH_TABLE (sip_subscriber vs subscriber);
4. for each round, alternating which goes first, WORKERS processes send COUNT full
   authenticated registrations (REGISTER → 401 → REGISTER with digest → 200) to each;
5. prints registrations per second (median over the rounds) for both and the ratio.
It stops both Kamailios and drops the scratch database at the end (--keep keeps it).

    make bench-register-overload # --overload: one Kamailio with REGISTER_RATE_LIMIT = --limit

offers new registrations at rising rates (--rates, --step-seconds each) from one open-loop UDP
client, answers each 401 with the digest, and counts per rate: 401s, 200s, 503s (each checked
for Retry-After), no answer, and the datagrams the kernel dropped at Kamailio's and the
client's sockets.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/pbx_bench_register"
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL),
        help="Scratch PostgreSQL database (created and dropped). Default: %(default)s",
    )
    parser.add_argument("--users", type=int, default=200, help="Extensions to create (default 200).")
    parser.add_argument("--workers", type=int, default=4, help="Concurrent client processes (default 4).")
    parser.add_argument(
        "--count", type=int, default=1000, help="Registrations per round and table (default 1000)."
    )
    parser.add_argument("--rounds", type=int, default=5, help="Rounds; medians are reported (default 5).")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="Time cap for one round against one table (default 30).",
    )
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--children", type=int, default=4, help="Kamailio worker processes (default 4).")
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
        default=list(OVERLOAD_RATES),
        help="--overload: new registrations offered per second, one step each (default %(default)s).",
    )
    parser.add_argument(
        "--limit", type=int, default=1000, help="--overload: REGISTER_RATE_LIMIT, REGISTERs/s (default 1000)."
    )
    parser.add_argument(
        "--define",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="--overload: a Kamailio define (-A), e.g. UDP_MAXBUFFER=4194304; repeatable.",
    )
    parser.add_argument(
        "--step-seconds", type=float, default=3.0, help="--overload: seconds per rate (default 3)."
    )
    return parser.parse_args()


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    # Scratch data only: the debug defaults (development keys) are fine here.
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pbx_admin.settings")
    os.environ["DJANGO_LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    from urllib.parse import urlsplit

    import psycopg2
    from psycopg2 import sql

    url = urlsplit(database_url)
    name = url.path.lstrip("/")
    admin = psycopg2.connect(
        host=url.hostname, port=url.port or 5432, user=url.username, password=url.password, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


def create_accounts(users: int) -> list[tuple[str, str, str]]:
    """USERS extensions spread over hotlines of 100; returns (username, domain, password)."""
    from django.core.management import call_command
    from django.db import connection

    from extensions.services import extension_create
    from hotlines.models import Hotline
    from tenants.models import Tenant

    call_command("migrate", "--noinput", verbosity=0)
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    accounts = []
    hotline = None
    for index in range(users):
        if index % 100 == 0:
            hotline = Hotline(tenant=tenant, number=f"1900{5000 + index // 100:04d}", name="bench")
            hotline.full_clean()
            hotline.save()
        number = str(1000 + index)
        password = f"Bench-pass-{index:05d}"
        extension_create(hotline=hotline, number=number, alias=f"bench{index}", password=password)
        accounts.append((number, hotline.sip_domain, password))
    with connection.cursor() as cursor:
        for statement in filter(None, (s.strip() for s in STOCK_SUBSCRIBER.split(";"))):
            cursor.execute(statement)
    return accounts


def worker(
    host: str, port: int, transport: str, accounts: list, count: int, deadline: float
) -> tuple[int, int, float, float]:
    """Register `count` times, cycling over `accounts`; (ok, failed, started, ended)."""
    from sip.sipclient import SipClient, SipError

    ok = failed = 0
    started = time.time()
    with SipClient(host, port, transport=transport, timeout=5.0) as client:
        for index in range(count):
            if time.time() > deadline:
                break
            username, domain, password = accounts[index % len(accounts)]
            try:
                status = client.register(username=username, domain=domain, password=password).status
            except SipError:
                status = 0
            ok += status == 200
            failed += status != 200
    return ok, failed, started, time.time()


def run_round(pool: ProcessPoolExecutor, kamailio, accounts: list, args) -> tuple[float, int]:
    """Registrations per second against one Kamailio, and how many failed."""
    slices = [accounts[i :: args.workers] for i in range(args.workers)]
    per_worker = args.count // args.workers
    deadline = time.time() + args.max_seconds
    futures = [
        pool.submit(worker, "127.0.0.1", kamailio.config.sip_port, args.transport, part, per_worker, deadline)
        for part in slices
    ]
    results = [future.result() for future in futures]
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    elapsed = max(r[3] for r in results) - min(r[2] for r in results)
    return ok / elapsed, failed


def main() -> int:
    args = parse_args()
    recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection

    from sip.kamailio import (
        RELAXED_PROTECTION,
        Kamailio,
        KamailioConfig,
        db_url_for,
        free_port,
        free_sip_port,
    )

    servers: dict[str, Kamailio] = {}
    try:
        print(f"Creating {args.users} extensions in a scratch database…", flush=True)
        accounts = create_accounts(args.users)
        db_url = db_url_for(connection.settings_dict)
        connection.close()
        if args.overload:
            return run_overload(args, accounts, db_url)
        runtime = Path(tempfile.mkdtemp(prefix="register-bench-"))
        for label, table in (("view sip_subscriber", "sip_subscriber"), ("table subscriber", "subscriber")):
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
        rates: dict[str, list[float]] = {label: [] for label in servers}
        failures = dict.fromkeys(servers, 0)
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            # One warm-up round each (connections, caches), not counted.
            for server in servers.values():
                run_round(pool, server, accounts, argparse.Namespace(**{**vars(args), "count": 200}))
            for round_no in range(args.rounds):
                order = list(servers) if round_no % 2 == 0 else list(reversed(servers))
                for label in order:
                    rate, failed = run_round(pool, servers[label], accounts, args)
                    rates[label].append(rate)
                    failures[label] += failed
                print(
                    f"round {round_no + 1}: "
                    + ", ".join(f"{label} {rates[label][-1]:.0f}/s" for label in servers),
                    flush=True,
                )
        medians = {label: statistics.median(values) for label, values in rates.items()}
        view, stock = medians["view sip_subscriber"], medians["table subscriber"]
        print()
        print(
            f"Authenticated REGISTERs per second over {args.transport.upper()}, {args.workers} workers, "
            f"{args.users} users, {args.count} per round, median of {args.rounds} rounds:"
        )
        for label, value in medians.items():
            print(f"  {label:<22} {value:8.0f}/s   (failed: {failures[label]})")
        if stock:
            print(f"  ratio view / stock     {view / stock:8.2f}")
        return 0 if not any(failures.values()) else 1
    finally:
        for server in servers.values():
            server.stop()
        if not args.keep:
            connection.close()
            recreate_database(args.database_url, drop_only=True)


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
    """One Kamailio (the view) with REGISTER_RATE_LIMIT = args.limit; a step per rate."""
    from sip.kamailio import RELAXED_PROTECTION, Kamailio, KamailioConfig, free_port, free_sip_port

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
