#!/usr/bin/env python
"""Capacity model for 1,000 tenants and 100,000 extensions: the bytes a row costs, measured on a
scratch database, then the model's figures (REGISTER load, calls, database size and write rate,
nodes) from parameters that are all options.

    make bench-capacity                         # measure (about 1 minute), then the model
    .venv/bin/python bench/capacity.py --sizes-only
    .venv/bin/python bench/capacity.py --no-measure --extensions 200000 --erlang 0.2

1. A scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench_capacity, created and
   dropped; --keep keeps it), migrated; one tenant, one hotline of --sample extensions made by
   the real services (bench/data.py, as the Scale and Load benches), one presence row each, one
   `location` row each (as Kamailio writes them), --sample-calls call records; VACUUM ANALYZE.
2. pg_total_relation_size (table, indexes, TOAST) of every table: the bytes per extension are
   what every table but the audit trail grew by when the extensions were made, over their
   number (so a table that later follows extensions, e.g. Kamailio's own credentials table,
   is counted without changing this script); per registration, per call record and per audit
   row, the table's bytes over its rows.
3. The model, printed with its parameters. Results and reasoning: docs/performance.md,
   "Capacity model".
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import fill_hotline, hotline_create, recreate_database, setup_django, vacuum_analyze  # noqa: E402

# ---------------------------------------------------------------------------------------------
# REGISTER capacity of one Kamailio node (registrations/s, each REGISTER → 401 → REGISTER → 200,
# one `location` UPDATE), from the REGISTER bench (issue 19,
# item 2); the same figure is in docs/performance.md ("Capacity model").
# "REGISTER throughput": our table, 4 workers, 2 vCPU shared with SIPp (2 Dec 2026, 15:42 UTC run).
REGISTER_PER_NODE = 2657
# ---------------------------------------------------------------------------------------------

# Measured on 2 Dec 2026 with the defaults below (docs/performance.md): used by --no-measure.
MEASURED = {"extension": 1494, "location": 649, "call": 751, "audit": 576}
AUDIT_TABLE = "audit_auditevent"


@dataclass
class Sizes:
    extension: float  # bytes per extension, every table it grows, indexes included
    location: float  # bytes per registered contact
    call: float  # bytes per call record (sip_call)
    audit: float  # bytes per audit row


def table_sizes(cursor) -> dict[str, tuple[int, int]]:
    """{table: (bytes incl. indexes and TOAST, rows)} for every table of the public schema."""
    cursor.execute(
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
    )
    sizes = {}
    for name, size in cursor.fetchall():
        cursor.execute(f'SELECT count(*) FROM "{name}"')  # noqa: S608 — names from the catalog
        sizes[name] = (size, cursor.fetchone()[0])
    return sizes


def measure(*, sample: int, sample_calls: int, keep: bool) -> Sizes:
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pbx_bench_capacity")
    recreate_database(url)
    setup_django(url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"))
    from django.core.management import call_command
    from django.db import connection, connections

    try:
        call_command("migrate", verbosity=0)
        from tenants.models import Tenant

        with connection.cursor() as cursor:
            vacuum_analyze()
            empty = table_sizes(cursor)
            tenant = Tenant.objects.create(name="Capacity", slug="capacity")
            hotline = hotline_create(tenant=tenant, number="19001234")
            fill_hotline(hotline=hotline, count=sample, groups=[])
            # What the dashboard keeps per extension once it has seen it online (sip.live).
            cursor.execute(
                "INSERT INTO sip_extensionpresence (extension_id, online, since, alert) "
                "SELECT id, true, now(), false FROM extensions_extension"
            )
            vacuum_analyze()
            filled = table_sizes(cursor)
            # One contact per extension, as Kamailio's usrloc writes it for a softphone behind a NAT.
            cursor.execute(
                """
                INSERT INTO location (ruid, username, domain, contact, received, path, expires, q,
                    callid, cseq, last_modified, flags, cflags, user_agent, socket, methods,
                    instance, reg_id, server_id, connection_id, keepalive, partition)
                SELECT 'uloc-' || md5(e.id::text), e.number, %(domain)s,
                    'sip:' || e.number || '@192.168.' || (e.id %% 250) || '.' || (e.id %% 200)
                        || ':5060;transport=udp',
                    'sip:203.0.113.' || (e.id %% 250) || ':' || (20000 + e.id %% 40000), NULL,
                    now() + interval '600 seconds', -1, md5(e.id::text) || '@192.168.1.10', 42,
                    now(), 0, 64, 'Bizfly Call 2.4.1 (Android 14; SM-A546E)', 'udp:10.0.0.5:5060', 8191,
                    NULL, 0, 0, 0, 1, 0
                FROM extensions_extension e
                """,
                {"domain": hotline.sip_domain},
            )
            cursor.execute("SELECT min(id) FROM extensions_extension")
            first = cursor.fetchone()[0]
            cursor.execute(
                """
                INSERT INTO sip_call (tenant_id, hotline_id, caller_extension_id, callee_extension_id,
                    caller, callee, direction, caller_id, started_at, answered_at, ended_at, duration,
                    disposition, sip_code, reason, sip_call_id)
                SELECT %(tenant)s, %(hotline)s, %(first)s + g %% %(sample)s, NULL,
                    (100 + g %% %(sample)s)::text,
                    '09' || lpad((g * 7919 %% 100000000)::text, 8, '0'), 'outbound', '19001234',
                    now() - g * interval '31 seconds',
                    now() - g * interval '31 seconds' + interval '8 seconds',
                    now() - g * interval '31 seconds' + interval '188 seconds', 180,
                    (ARRAY['answered','answered','answered','busy','no_answer','cancelled'])[1 + g %% 6],
                    200, '', md5(g::text) || '@10.0.0.5'
                FROM generate_series(1, %(n)s) g
                """,
                {
                    "tenant": tenant.pk,
                    "hotline": hotline.pk,
                    "first": first,
                    "sample": sample,
                    "n": sample_calls,
                },
            )
            vacuum_analyze()
            final = table_sizes(cursor)
        # Tables with (at least) a row per extension made, the audit trail apart; fixed costs such
        # as the tenant's and the hotline's own rows are not per extension.
        grown = {
            name: size - empty.get(name, (0, 0))[0]
            for name, (size, rows) in filled.items()
            if name != AUDIT_TABLE and rows - empty.get(name, (0, 0))[1] >= sample
        }
        print(f"Measured on a scratch database: {sample:,} extensions, {sample_calls:,} call records")
        print(f"  {'table':32s} {'rows':>10s} {'bytes':>13s} {'bytes/row':>10s}")
        for name, (size, rows) in sorted(final.items(), key=lambda item: -item[1][0]):
            if rows:
                print(f"  {name:32s} {rows:10,d} {size:13,d} {size / rows:10,.0f}")
        print(
            "  per extension, by table: "
            + ", ".join(f"{n} {b / sample:,.0f}" for n, b in sorted(grown.items()))
        )

        def per_row(table: str) -> float:
            size, rows = final[table]
            return size / rows

        return Sizes(
            extension=sum(grown.values()) / sample,
            location=per_row("location"),
            call=per_row("sip_call"),
            audit=per_row(AUDIT_TABLE),
        )
    finally:
        for alias in connections:
            connections[alias].close()
        if not keep:
            recreate_database(url, drop_only=True)


def model(args: argparse.Namespace, sizes: Sizes) -> None:
    n = args.extensions
    contacts = n * args.devices
    kinds = []
    for item in args.mix.split(","):
        name, share, expires = item.split(":")
        kinds.append((name, float(share), int(expires)))
    print(
        f"\nCapacity model: {args.tenants:,} tenants, {n:,} extensions, {args.devices:g} registered "
        f"device(s) each ({contacts:,.0f} contacts)"
    )

    print(
        "\nREGISTER load (a phone re-registers about when half its expiry is left on the clock "
        "for most softphones; here once per expiry, the lower bound, ×2 for the upper):"
    )
    steady = 0.0
    for name, share, expires in kinds:
        rate = contacts * share / expires
        steady += rate
        print(f"  {name:6s} {share:4.0%} of contacts, expiry {expires:5d} s: {rate:8.1f} registrations/s")
    nat = sum(contacts * share for name, share, _ in kinds if name == "nat")
    print(
        f"  steady: {steady:.0f}–{2 * steady:.0f} registrations/s = {2 * steady:.0f}–{4 * steady:.0f} "
        "REGISTER messages/s (each is REGISTER → 401 → REGISTER → 200)"
    )
    print(f"  NAT keep-alive OPTIONS from Kamailio: {nat / args.natping:.0f}/s (every {args.natping} s)")
    storm = contacts / args.storm
    print(
        f"  storm: every contact again within {args.storm} s (after a network or node outage): "
        f"{storm:.0f} registrations/s"
    )

    concurrent = n * args.erlang
    answered_cps = concurrent / args.hold
    attempts_cps = answered_cps / args.answered
    print(
        f"\nCalls at the busy hour ({args.erlang} Erlang per extension, {args.hold} s average hold, "
        f"{args.answered:.0%} of attempts answered):"
    )
    print(
        f"  concurrent calls {concurrent:,.0f}; answered {answered_cps:.0f}/s; attempts {attempts_cps:.0f}/s "
        f"({attempts_cps * 3600:,.0f} BHCA)"
    )

    calls_day = attempts_cps * 3600 * args.busy_hours
    audit_day = n * args.audit_per_day
    print("\nDatabase size:")
    parts = [
        ("extensions (all their tables, indexes)", n * sizes.extension),
        ("registrations (location)", contacts * sizes.location),
        (
            f"call records, {args.retention} days at {calls_day:,.0f}/day",
            calls_day * args.retention * sizes.call,
        ),
        (f"audit, {args.retention} days at {audit_day:,.0f}/day", audit_day * args.retention * sizes.audit),
    ]
    for label, size in parts:
        print(f"  {label:48s} {size / 2**30:9.2f} GiB")
    total = sum(size for _, size in parts)
    print(f"  {'total (before bloat, WAL and backups)':48s} {total / 2**30:9.2f} GiB")
    print(
        f"  per row measured: extension {sizes.extension:,.0f} B, registration {sizes.location:,.0f} B, "
        f"call {sizes.call:,.0f} B, audit {sizes.audit:,.0f} B"
    )

    # Kamailio per answered call: acc INSERT, acc_cdrs INSERT, dialog INSERT/UPDATE/DELETE and its
    # vars, then the importer's sip_call INSERT and two DELETEs: ~10 row writes; unanswered: acc,
    # sip_call, DELETE: 3 (kamailio.cfg "Call records", sip/call_records.py).
    call_writes = answered_cps * 10 + (attempts_cps - answered_cps) * 3
    print("\nWrite rate at the busy hour (rows/s):")
    print(
        f"  location UPDATEs {steady:.0f}–{2 * steady:.0f} (storm {storm:.0f}); "
        f"call records ~{call_writes:.0f}; audit ~{audit_day / 3600 / 8:.1f} (a day's changes over 8 hours)"
    )

    reg_capacity = REGISTER_PER_NODE * args.headroom
    kamailio_for_storm = math.ceil(storm / reg_capacity)
    kamailio_for_steady = math.ceil(2 * steady / reg_capacity)
    setup_cores = attempts_cps * args.setup_ms / 1000
    kamailio = max(kamailio_for_storm, kamailio_for_steady, 1) + 1
    print(f"\nNodes (at {args.headroom:.0%} of measured capacity, plus one spare):")
    print(
        f"  Kamailio: {kamailio} (REGISTER capacity {REGISTER_PER_NODE}/s a node: "
        f"steady needs {kamailio_for_steady}, the storm {kamailio_for_storm}; "
        f"call set-ups take {setup_cores:.2f} cores)"
    )
    per_node = args.calls_per_core * args.rtp_cores * args.headroom
    rtpengine = math.ceil(concurrent / per_node) + 1
    print(
        f"  rtpengine: {rtpengine} of {args.rtp_cores} cores (userspace, {args.calls_per_core} plain "
        f"G.711 calls a core: {per_node:,.0f} calls a node)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--tenants", type=int, default=1000)
    add("--extensions", type=int, default=100_000)
    add("--devices", type=float, default=1.0, help="registered contacts per extension")
    add(
        "--mix",
        default="udp:0.4:3600,nat:0.4:600,ws:0.2:600",
        help="kind:share:expiry,… (udp: softphones on a public or static address; nat: UDP behind a "
        "NAT, kept open by Kamailio's OPTIONS; ws: the web phone and WebRTC extension)",
    )
    add("--natping", type=int, default=30, help="seconds between NAT keep-alives (NATPING_INTERVAL)")
    add("--storm", type=int, default=300, help="seconds in which every contact re-registers after an outage")
    add("--erlang", type=float, default=0.15, help="busy-hour traffic per extension")
    add("--hold", type=float, default=180, help="average answered call, seconds")
    add("--answered", type=float, default=0.7, help="share of call attempts answered")
    add("--busy-hours", type=float, default=6, help="busy-hour equivalents per day")
    add("--retention", type=int, default=365, help="days of call records and audit kept")
    add("--audit-per-day", type=float, default=0.2, help="audit rows per extension per day")
    add("--headroom", type=float, default=0.5, help="share of measured capacity a node is run at")
    add(
        "--setup-ms",
        type=float,
        default=0.9,
        help="Kamailio CPU ms per call set-up and hang-up (calls bench)",
    )
    add("--calls-per-core", type=int, default=1300, help="rtpengine calls per core (calls bench)")
    add("--rtp-cores", type=int, default=8, help="cores of an rtpengine node")
    add("--sample", type=int, default=5000, help="extensions to measure on (a multiple of 1,000)")
    add("--sample-calls", type=int, default=100_000)
    add("--no-measure", action="store_true", help="use the sizes measured last time (MEASURED)")
    add("--sizes-only", action="store_true")
    add("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    sizes = (
        Sizes(**MEASURED)
        if args.no_measure
        else measure(sample=args.sample, sample_calls=args.sample_calls, keep=args.keep)
    )
    if not args.sizes_only:
        model(args, sizes)


if __name__ == "__main__":
    main()
