"""Registrations across a Kamailio cluster (sip.cluster, kamailio.cfg WITH_CLUSTER): how fast
they reach the other node, what the database writes, how long a node joining later takes to
receive them all. Loopback, bounded (a minute or two).

1. creates a scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench_cluster),
   migrates it and creates USERS extensions;
2. starts two nodes on 127.0.0.2 and 127.0.0.3 (free ports), each with its own rtpengine;
3. registers every extension on node 1 (UDP, sequentially) and reports: the time until node 2
   holds each (one phone, polled), the time until node 2 holds all, the rows `location` has and
   the rows PostgreSQL inserted and updated in it (one per REGISTER, not one per node);
4. refreshes every registration and reports the updates again;
5. starts a third node on 127.0.0.4 and reports the time until it holds them all (DMQ sync).

It stops the nodes and drops the scratch database at the end (--keep keeps it).

    python bench/cluster_bench.py [--users 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.register_bench import create_accounts, recreate_database, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pbx_bench_cluster"


def contacts_held(node) -> int:
    """usrloc's count of contacts in the node's memory."""
    output = node.kamailio.rpc("stats.get_statistics", "usrloc:")
    match = re.search(r"location_?-?contacts\s*=\s*(\d+)", output)
    if match is None:
        raise SystemExit(f"No contacts count in usrloc's statistics:\n{output}")
    return int(match.group(1))


def wait_for(count: int, node, timeout: float = 120.0) -> float:
    started = time.monotonic()
    while contacts_held(node) < count:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"node {node.node_id} holds {contacts_held(node)} of {count} after {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - started


WRITES_SQL = """
CREATE TABLE bench_location_writes (op text NOT NULL);
CREATE FUNCTION bench_count_location_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_location_writes VALUES (TG_OP);
    RETURN NULL;
END
$$;
CREATE TRIGGER bench_count_location_write AFTER INSERT OR UPDATE ON location
    FOR EACH ROW EXECUTE FUNCTION bench_count_location_write();
"""


def location_writes() -> tuple[int, int, int]:
    """Rows in `location`; rows written into it so far (inserted, updated), counted by an AFTER
    trigger of this bench's (a row the cluster's trigger ignored is not written)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM location")
        rows = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE op = 'INSERT'), COUNT(*) FILTER (WHERE op = 'UPDATE') "
            "FROM bench_location_writes"
        )
        inserted, updated = cursor.fetchone()
    return rows, inserted, updated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="Extensions to register (default 1000).")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    recreate_database(database_url)
    setup_django(database_url)
    from django.db import connection

    from sip.cluster import KamailioCluster
    from sip.kamailio import RELAXED_PROTECTION, KamailioConfig, db_url_for
    from sip.sipclient import SipClient

    print(f"Creating {args.users} extensions in a scratch database…", flush=True)
    accounts = create_accounts(args.users, per_hotline=100)
    with connection.cursor() as cursor:
        cursor.execute(WRITES_SQL)
    base = KamailioConfig(
        db_url=db_url_for(connection.settings_dict),
        # One worker per socket: each Kamailio process holds its own database connections.
        children=1,
        domain_reload_seconds=3600,
        protection=RELAXED_PROTECTION,
    )
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as runtime:
        cluster = KamailioCluster(
            base,
            addresses=["127.0.0.2", "127.0.0.3", "127.0.0.4"],
            runtime_dir=Path(os.environ.get("BENCH_RUNTIME_DIR", runtime)),
        )
        try:
            cluster.start(count=2)
            first, second, third = cluster.nodes
            _, inserted0, updated0 = location_writes()
            latencies = []
            started = time.monotonic()
            phone = SipClient(first.address, first.ports.sip).open()
            for index, (username, domain, password) in enumerate(accounts):
                phone.call_id = f"bench-{index}@127.0.0.1"
                if phone.register(username=username, domain=domain, password=password).status != 200:
                    raise SystemExit(f"REGISTER of {username}@{domain} refused")
                if index % 100 == 0:  # one phone in a hundred: when node 2 has it
                    sent = time.monotonic()
                    wait_for(index + 1, second)
                    latencies.append(time.monotonic() - sent)
            registered = time.monotonic() - started
            all_on_second = wait_for(len(accounts), second)
            rows, inserted, updated = location_writes()
            print(
                f"registered {len(accounts)} on node 1 in {registered:.1f} s; node 2 held each within "
                f"{max(latencies) * 1000:.0f} ms (median {median(latencies) * 1000:.0f} ms), "
                f"all {all_on_second * 1000:.0f} ms after the last"
            )
            print(
                f"location: {rows} rows; {inserted - inserted0} inserted and {updated - updated0} "
                f"updated for {len(accounts)} REGISTERs, on 2 nodes"
            )
            # The same phone (Call-ID per extension, CSeq rising): refreshes, not new contacts.
            for index, (username, domain, password) in enumerate(accounts):
                phone.call_id = f"bench-{index}@127.0.0.1"
                phone.register(username=username, domain=domain, password=password)
            phone.close()
            time.sleep(1)
            rows, inserted2, updated2 = location_writes()
            print(
                f"refresh: {rows} rows; {inserted2 - inserted} inserted and {updated2 - updated} updated "
                f"for {len(accounts)} refreshes"
            )
            started = time.monotonic()
            cluster.start_node(third)
            started_up = time.monotonic() - started
            first_ones = wait_for(1, third)
            synced = first_ones + wait_for(len(accounts), third)
            rows, inserted3, updated3 = location_writes()
            print(
                f"node 3 joined: up in {started_up:.1f} s, held the first registrations "
                f"{first_ones * 1000:.0f} ms later, all {len(accounts)} {synced * 1000:.0f} ms later; "
                f"it wrote {inserted3 - inserted2} inserts, {updated3 - updated2} updates"
            )
        finally:
            cluster.stop()
            if not args.keep:
                connection.close()
                recreate_database(database_url, drop_only=True)


if __name__ == "__main__":
    main()
