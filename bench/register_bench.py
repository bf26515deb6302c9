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
"""

from __future__ import annotations

import argparse
import dataclasses
import os
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


if __name__ == "__main__":
    sys.exit(main())
