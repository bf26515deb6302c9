"""What the benches share: a scratch PostgreSQL database, Django set up on it, a line about the
machine, and hotlines of many extensions built through the real services.

bench_scale.py (one hotline of 10,000) and load_bench.py (10,000, then 100,000 over 10
hotlines) build their extensions with `fill_hotline`, so both measure the same kind of rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from hotlines.models import Hotline, NumberGroup
    from tenants.models import Tenant

BATCH = 1000  # range create's largest batch


def add_scratch_arguments(
    parser: argparse.ArgumentParser, *, database_url: str, redis_url: str, redis_use: str
) -> None:
    """--database-url and --redis-url, defaulting to BENCH_DATABASE_URL / BENCH_REDIS_URL or the
    bench's own defaults; `redis_use` says what the bench keeps there."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", database_url),
        help="Scratch PostgreSQL database (created and dropped). Default: %(default)s",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", redis_url),
        help=f"Redis for {redis_use}. Default: %(default)s",
    )


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    """Drop the database (connections and all) and, unless `drop_only`, create it empty."""
    import psycopg2
    from psycopg2 import sql

    url = urlsplit(database_url)
    admin = psycopg2.connect(
        host=url.hostname, port=url.port or 5432, user=url.username, password=url.password, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        name = sql.Identifier(url.path.lstrip("/"))
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if not drop_only:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(name))
    admin.close()


def clone_database(source_url: str, target_url: str) -> None:
    """A copy of the database (PostgreSQL's CREATE DATABASE … TEMPLATE): nobody may be connected
    to the source, so close Django's connections first; autovacuum may still be, briefly."""
    import psycopg2
    from psycopg2 import sql

    recreate_database(target_url, drop_only=True)
    url = urlsplit(source_url)
    admin = psycopg2.connect(
        host=url.hostname, port=url.port or 5432, user=url.username, password=url.password, dbname="postgres"
    )
    admin.autocommit = True
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(urlsplit(target_url).path.lstrip("/")), sql.Identifier(url.path.lstrip("/"))
    )
    try:
        for attempt in range(20):
            try:
                with admin.cursor() as cursor:
                    cursor.execute(statement)
                return
            except psycopg2.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    finally:
        admin.close()


def setup_django(database_url: str, redis_url: str, settings_module: str = "pbx_admin.settings_test") -> None:
    """Django on the scratch database, with Redis for the cache and sessions as in production."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ["DJANGO_LOG_LEVEL"] = "ERROR"
    # WhiteNoise's note that `collectstatic` has not run: the test settings serve static files
    # from the apps (as pytest.ini also says).
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    import django

    django.setup()


def machine() -> str:
    """CPUs, memory and versions, for the results' header."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.0f} GB RAM, "
        f"PostgreSQL {pg}, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def hotline_create(*, tenant: Tenant, number: str) -> Hotline:
    from hotlines.models import Hotline

    hotline = Hotline(tenant=tenant, number=number, name=f"Bench {number}")
    hotline.full_clean()
    hotline.save()
    return hotline


def fill_hotline(
    *, hotline: Hotline, count: int, groups: list[NumberGroup], caller_id: Hotline | None = None
) -> None:
    """`count` extensions (a multiple of 1,000) numbered from 100, aliases sale100…, made by the
    range-create service and then varied by the bulk-edit service, batch by batch of 1,000: the
    four call permissions in turn, a supervisor (each odd batch's first extension) for the rest
    of odd batches, number groups on every third batch, the eighth disabled (with `caller_id` as
    its caller-ID hotline); Vietnamese descriptions."""
    from extensions.choices import CallPermission
    from extensions.models import Extension
    from extensions.services.bulk import extension_bulk_update, extension_range_create

    batches = count // BATCH
    for batch in range(batches):
        first = 100 + batch * BATCH
        extension_range_create(
            hotline=hotline,
            first=str(first),
            last=str(first + BATCH - 1),
            alias_pattern="sale{n}",
            description=f"Nhân viên kinh doanh khu vực {batch + 1} — chi nhánh Hà Nội",
        )
    by_number = {e.number: e for e in Extension.objects.filter(hotline=hotline)}
    for batch in range(batches):
        chunk = [by_number[str(100 + batch * BATCH + i)] for i in range(1, BATCH)]
        data: dict[str, object] = {"call_permission": list(CallPermission)[batch % 4].value}
        if batch % 2:
            data["supervisor"] = by_number[str(100 + batch * BATCH)]
        if batch % 3 == 0:
            data["outbound_groups"] = groups[: 1 + batch % 2]
        if batch == 7:
            if caller_id is not None:
                data["outbound_hotlines"] = [caller_id]
            data["enabled"] = False
        extension_bulk_update(extensions=chunk, data=data)


def vacuum_analyze() -> None:
    """Fresh statistics and visibility map, as a database that has lived a while has."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
