#!/usr/bin/env python
"""Scale: how the extension pages, the API and the bulk paths behave at 10,000 extensions.

    make bench-scale          # or: .venv/bin/python bench/bench_scale.py --help

A documented command, not a timed test. What it does, in one process on one machine:
1. creates a scratch PostgreSQL database (BENCH_DATABASE_URL, default pbx_bench), migrates it,
   and builds a tenant with a hotline of 10,000 extensions (created by the real range-create
   service, then varied by the real bulk edit: permissions, supervisors, number groups,
   caller-ID hotlines, Vietnamese descriptions) and a hotline of 10;
2. measures server-side times with Django's test Client (the whole middleware stack, no
   network), cases interleaved round by round so drift hits all of them alike, and prints
   medians:
   - the extension list page and the list API: first page, a search by alias, a filter;
     each next to Django admin's changelist of the same model on the same rows (a superuser)
     and a bare view running just the page's own query (the rows with their total) and
     returning hand-built JSON: the floor of a Python stack;
   - range create of 1,000 (the dashboard form), next to a bare bulk_create of 1,000 rows and
     1,000 × extension_create;
   - CSV import of 10,000 rows through the dashboard: the upload with its dry run, the apply
     (10,000 updates), and an apply of 10,000 creates; next to the floors (parse the file and
     read the hotline's rows; one UPDATE … FROM (VALUES …) of the changed column);
3. prints the queries per request (5-row and 10,000-row hotlines) and EXPLAIN ANALYZE of the
   search, then drops the database (--keep keeps it).
Results and the machine they came from: docs/performance.md, "Scale".
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import os
import statistics
import sys
import time
import types
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.data import (  # noqa: E402  (needs BASE_DIR on the path)
    add_scratch_arguments,
    fill_hotline,
    hotline_create,
    machine,
    recreate_database,
    setup_django,
    vacuum_analyze,
)

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/pbx_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
BIG = 10_000
SMALL = 10
SEARCH = "le5432"  # an alias fragment: sale5432 (and sale54320… if there were so many)
FILTER = "internal"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_scratch_arguments(
        parser,
        database_url=DEFAULT_DB_URL,
        redis_url=DEFAULT_REDIS_URL,
        redis_use="the cache and sessions, as in production (keys get a per-run prefix)",
    )
    parser.add_argument("--rounds", type=int, default=30, help="Rounds of the read cases (default 30).")
    parser.add_argument(
        "--write-rounds",
        type=int,
        default=5,
        help="Rounds of range create and CSV import (default 5; 0: reads only).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    return parser.parse_args()


# --- data ----------------------------------------------------------------------------------------


def build_world():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from extensions.services.bulk import extension_range_create
    from hotlines.services import number_group_create
    from tenants.choices import Role
    from tenants.models import Membership, Tenant
    from tenants.services import api_token_create

    call_command("migrate", "--noinput", verbosity=0)
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    big, small, scratch = (
        hotline_create(tenant=tenant, number=number) for number in ("19001234", "19005678", "18001234")
    )
    groups = [
        number_group_create(tenant=tenant, name=name, strategy="same_carrier", hotlines=[big, small])
        for name in ("Kinh doanh", "Chăm sóc")
    ]
    extension_range_create(hotline=small, first="100", last=str(99 + SMALL), alias_pattern="kd{n}")
    fill_hotline(hotline=big, count=BIG, groups=groups, caller_id=small)
    vacuum_analyze()

    User = get_user_model()
    admin = User.objects.create_user("bench-admin", password="bench")
    Membership.objects.create(user=admin, tenant=tenant, role=Role.ADMIN)
    superuser = User.objects.create_superuser("bench-root", password="bench")
    token = api_token_create(user=admin, replace=True).key
    return types.SimpleNamespace(
        tenant=tenant, big=big, small=small, scratch=scratch, admin=admin, superuser=superuser, token=token
    )


# --- the floor: the page's own queries, hand-built JSON -------------------------------------------


def floor_view(request, hotline_pk):
    """The page's own query, bare: the 50 rows of what a row shows with the total in the same
    query (as the page and the API get it), as hand-built JSON, without sessions, users,
    tenants, caller IDs, registration status or templates."""
    from django.db.models import Func, IntegerField, Q, Subquery
    from django.db.models.expressions import Star
    from django.db.models.functions import Length
    from django.http import JsonResponse

    from extensions.choices import CallPermission
    from extensions.models import Extension

    qs = Extension.objects.filter(hotline_id=hotline_pk)
    if search := request.GET.get("search"):
        qs = qs.filter(Q(number__startswith=search) | Q(alias__icontains=search))
    if permission := request.GET.get("call_permission"):
        qs = qs.filter(call_permission=CallPermission.from_slug(permission))
    total = qs.order_by().annotate(n=Func(Star(), function="COUNT", output_field=IntegerField())).values("n")
    rows = list(
        qs.annotate(total=Subquery(total, output_field=IntegerField()))
        .order_by(Length("number"), "number")
        .values(
            "id",
            "number",
            "alias",
            "call_permission",
            "supervisor__number",
            "enabled",
            "description",
            "total",
        )[:50]
    )
    return JsonResponse(
        {
            "count": rows[0].pop("total") if rows else 0,
            "results": [{k: v for k, v in row.items() if k != "total"} for row in rows],
        }
    )


def install_floor_url() -> None:
    from django.conf import settings
    from django.urls import clear_url_caches, include, path

    urls = types.ModuleType("bench_urls")
    urls.urlpatterns = [
        path("bench/floor/<int:hotline_pk>/", floor_view),
        path("", include(settings.ROOT_URLCONF)),
    ]
    settings.ROOT_URLCONF = urls
    clear_url_caches()


# --- measuring -----------------------------------------------------------------------------------


def request_ms(call) -> float:
    start = time.perf_counter()
    response = call()
    if response.streaming:
        b"".join(response.streaming_content)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code not in (200, 302):
        raise SystemExit(f"unexpected {response.status_code}: {getattr(response, 'content', b'')[:300]}")
    return elapsed


def interleaved(cases: dict, rounds: int, warmup: int = 3) -> dict[str, float]:
    names = list(cases)
    samples = {name: [] for name in names}
    for round_no in range(warmup + rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            ms = request_ms(cases[name])
            if round_no >= warmup:
                samples[name].append(ms)
    return {name: statistics.median(values) for name, values in samples.items()}


def queries_of(call) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        request_ms(call)
    return len(ctx.captured_queries)


def read_cases(world):
    from django.test import Client

    page, api, admin, floor = Client(), Client(HTTP_AUTHORIZATION=f"Token {world.token}"), Client(), Client()
    page.force_login(world.admin)
    admin.force_login(world.superuser)
    page_url = f"/hotlines/{world.big.pk}/extensions/"
    api_url = f"/api/v1/extensions/?hotline={world.big.pk}"
    admin_url = f"/admin/extensions/extension/?hotline__id__exact={world.big.pk}"
    floor_url = f"/bench/floor/{world.big.pk}/"
    variants = {
        "first page": ("", ""),
        "search": (f"search={SEARCH}", f"q={SEARCH}"),
        "filter": (f"call_permission={FILTER}", "call_permission__exact=1"),
    }
    cases = {}
    for label, (ours, theirs) in variants.items():
        sep = "&" if ours else ""
        cases[("page", label)] = lambda q=ours: page.get(f"{page_url}?{q}")
        cases[("api", label)] = lambda q=ours, s=sep: api.get(f"{api_url}{s}{q}")
        admin_sep = "&" if theirs else ""
        cases[("admin", label)] = lambda q=theirs, s=admin_sep: admin.get(f"{admin_url}{s}{q}")
        cases[("floor", label)] = lambda q=ours: floor.get(f"{floor_url}?{q}")
    small = {
        "page": lambda: page.get(f"/hotlines/{world.small.pk}/extensions/"),
        "api": lambda: api.get(f"/api/v1/extensions/?hotline={world.small.pk}"),
    }
    return cases, small, page


def write_cases(world, args, page_client):
    """Medians (ms) of range create and CSV import, with their floors."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from core.services import bulk_update_values
    from extensions.imports import export_rows, iter_export_csv
    from extensions.models import Extension, ImportJob
    from extensions.passwords import generate_sip_password
    from extensions.services import extension_create

    results: dict[str, list[float]] = {}

    def add(name, ms):
        results.setdefault(name, []).append(ms)

    scratch = world.scratch
    range_url = f"/hotlines/{scratch.pk}/extensions/add-range/"
    for round_no in range(args.write_rounds + 1):  # the first round warms up
        keep = round_no > 0
        Extension.objects.filter(hotline=scratch).delete()
        ms = request_ms(
            lambda: page_client.post(
                range_url,
                {
                    "first": "1000",
                    "last": "1999",
                    "alias_pattern": "nv{n}",
                    "call_permission": "3",
                    "description": "Ca sáng",
                    "enabled": "on",
                },
            )
        )
        assert Extension.objects.filter(hotline=scratch).count() == 1000
        if keep:
            add("range create 1,000 (page)", ms)
        Extension.objects.filter(hotline=scratch).delete()
        template = Extension(hotline=scratch, number="0", alias="x")
        template.set_sip_password(generate_sip_password())
        rows = [
            Extension(
                hotline=scratch,
                number=str(n),
                alias=f"nv{n}",
                description="Ca sáng",
                password_encrypted=template.password_encrypted,
                ha1=template.ha1,
                ha1b=template.ha1b,
            )
            for n in range(1000, 2000)
        ]
        start = time.perf_counter()
        Extension.objects.bulk_create(rows)
        if keep:
            add("floor: bulk_create 1,000", (time.perf_counter() - start) * 1000)
    for _round in range(2):
        Extension.objects.filter(hotline=scratch).delete()
        start = time.perf_counter()
        for n in range(1000, 2000):
            extension_create(hotline=scratch, number=str(n), alias=f"nv{n}", description="Ca sáng")
        add("reference: 1,000 × extension_create", (time.perf_counter() - start) * 1000)
    Extension.objects.filter(hotline=scratch).delete()

    # CSV: 10,000 rows of the big hotline, each round with a new description (10,000 updates).
    import_url = f"/hotlines/{world.big.pk}/extensions/import/"
    base = list(export_rows(hotline=world.big))
    for round_no in range(args.write_rounds + 1):
        keep = round_no > 0
        for row in base:
            row["description"] = f"Nhân viên kinh doanh — đợt {round_no}"
        text = "".join(iter_export_csv(base)).encode("utf-8")
        ms = request_ms(
            lambda text=text: page_client.post(
                import_url, {"file": SimpleUploadedFile("staff.csv", text, content_type="text/csv")}
            )
        )
        job = ImportJob.objects.latest("pk")
        assert job.summary["counts"]["update"] == BIG, job.summary["counts"]
        if keep:
            add("CSV 10,000 rows: upload + dry run (page)", ms)
        ms = request_ms(lambda job=job: page_client.post(f"/extensions/imports/{job.pk}/apply/"))
        job.refresh_from_db()
        assert job.status == "applied", job.summary.get("file_errors")
        if keep:
            add("CSV 10,000 rows: apply, 10,000 updates (page)", ms)
        # Floors: read the file and the hotline's rows; write the one changed column.
        start = time.perf_counter()
        list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
        current = list(Extension.objects.filter(hotline=world.big))
        if keep:
            add("floor: parse 10,000 rows + read the hotline", (time.perf_counter() - start) * 1000)
        for extension in current:
            extension.description = f"floor {round_no}"
        start = time.perf_counter()
        bulk_update_values(Extension, current, ["description"])
        if keep:
            add(
                "floor: one UPDATE … FROM (VALUES …) of 10,000 descriptions",
                (time.perf_counter() - start) * 1000,
            )

        # 10,000 creates into the empty scratch hotline.
        Extension.objects.filter(hotline=scratch).delete()
        new = "number,alias,description\r\n" + "".join(
            f"{n},nv{n},Nhân viên mới {n}\r\n" for n in range(10_000, 20_000)
        )
        page_client.post(
            f"/hotlines/{scratch.pk}/extensions/import/",
            {"file": SimpleUploadedFile("new.csv", new.encode(), content_type="text/csv")},
        )
        job = ImportJob.objects.latest("pk")
        ms = request_ms(lambda job=job: page_client.post(f"/extensions/imports/{job.pk}/apply/"))
        assert Extension.objects.filter(hotline=scratch).count() == 10_000
        if keep:
            add("CSV 10,000 rows: apply, 10,000 creates (page)", ms)
    Extension.objects.filter(hotline=scratch).delete()
    return {name: statistics.median(values) for name, values in results.items()}


def explain(world, api_first_page) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from extensions.filtersets import filter_extensions
    from extensions.models import Extension

    def plan(qs) -> str:
        return qs.explain(analyze=True)

    with CaptureQueriesContext(connection) as ctx:
        request_ms(api_first_page)
    with connection.cursor() as cursor:  # the API's own rows query, as it was sent
        cursor.execute("EXPLAIN ANALYZE " + ctx.captured_queries[-1]["sql"])
        api_plan = "\n".join(row[0] for row in cursor.fetchall())

    page_qs = filter_extensions(Extension.objects.filter(hotline=world.big), search=SEARCH)
    tenant_qs = filter_extensions(Extension.objects.filter(hotline__tenant=world.tenant), search=SEARCH)
    return "\n".join(
        [
            f"-- the page's search on the 10,000-extension hotline (search={SEARCH}), rows:",
            plan(page_qs.order_by("number")[:50]),
            "-- its COUNT:",
            plan(page_qs.order_by()),
            "-- the same search over the whole tenant (the API without ?hotline=), COUNT:",
            plan(tenant_qs.order_by()),
            "-- the list API's first page (?hotline=: the tenant check is a one-time EXISTS), the "
            "50 rows with their total, as sent:",
            api_plan,
        ]
    )


def print_targets(medians: dict, query_counts: dict, writes: dict) -> None:
    """The targets of the issue this bench was written for, checked against this run."""
    checks = []
    for label in ("first page", "search", "filter"):
        page, admin = medians[("page", label)], medians[("admin", label)]
        checks.append(
            (
                f"list page, {label}: ≤ 15 ms and ≤ 0.5 × admin changelist",
                f"{page:.1f} ms, {page / admin:.2f} ×",
                page <= 15 and page <= admin / 2,
            )
        )
    for label in ("first page", "search", "filter"):
        api = medians[("api", label)]
        checks.append((f"list API, {label}: ≤ 10 ms", f"{api:.1f} ms", api <= 10))
    for kind in ("page", "api"):
        search = medians[(kind, "search")]
        checks.append(
            (
                f"{'list page' if kind == 'page' else 'list API'} search at {BIG:,} rows: ≤ 10 ms",
                f"{search:.1f} ms",
                search <= 10,
            )
        )
    for kind, counts in query_counts.items():
        checks.append(
            (
                f"queries per {'list page' if kind == 'page' else 'list API'} request: ≤ 6, "
                f"the same for {SMALL} and {BIG:,} rows",
                ", ".join(map(str, sorted(counts))),
                len(counts) == 1 and max(counts) <= 6,
            )
        )
    limits = {
        "range create 1,000 (page)": 500,
        "CSV 10,000 rows: upload + dry run (page)": 3000,
        "CSV 10,000 rows: apply, 10,000 updates (page)": 5000,
        "CSV 10,000 rows: apply, 10,000 creates (page)": 5000,
    }
    for name, limit in limits.items():
        if name in writes:
            checks.append((f"{name}: ≤ {limit:,} ms", f"{writes[name]:.0f} ms", writes[name] <= limit))
    print("\nTargets, in this run:")
    print("| target | measured | met |")
    print("|---|---:|:-:|")
    for target, measured, met in checks:
        print(f"| {target} | {measured} | {'yes' if met else '**no**'} |")


def main() -> int:
    args = parse_args()
    recreate_database(args.database_url)
    try:
        setup_django(args.database_url, args.redis_url)
        started = time.perf_counter()
        world = build_world()
        install_floor_url()
        # An app server's heap does not hold the objects that built 10,000 extensions; without
        # this, each of Python's full garbage collections would walk them during the reads.
        gc.collect()
        gc.freeze()
        print(f"Machine: {machine()}")
        print(
            f"Data: hotline of {BIG} extensions and one of {SMALL}, built in "
            f"{time.perf_counter() - started:.0f} s\n"
        )
        cases, small, page_client = read_cases(world)
        load_before = os.getloadavg()[0]
        medians = interleaved(cases, args.rounds)
        print(
            f"Reads (median of {args.rounds} interleaved rounds, ms, server-side; load average "
            f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after — this process and "
            f"PostgreSQL keep about 1 of the {os.cpu_count()} CPUs busy):"
        )
        print("| case | ours | admin changelist | floor | ours / admin | ours / floor |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in ("page", "api"):
            for label in ("first page", "search", "filter"):
                ours = medians[(kind, label)]
                admin = medians[("admin", label)]
                floor = medians[("floor", label)]
                name = "list page" if kind == "page" else "list API"
                print(
                    f"| {name}: {label} | {ours:.1f} | {admin:.1f} | {floor:.1f} | "
                    f"{ours / admin:.2f} | {ours / floor:.2f} |"
                )
        print("\nQueries per request (10,000-row hotline / 10-row hotline):")
        big_page = queries_of(cases[("page", "first page")])
        big_api = queries_of(cases[("api", "first page")])
        print(
            f"- list page: {big_page} / {queries_of(small['page'])}; search "
            f"{queries_of(cases[('page', 'search')])}; filter {queries_of(cases[('page', 'filter')])}"
        )
        print(
            f"- list API: {big_api} / {queries_of(small['api'])}; search "
            f"{queries_of(cases[('api', 'search')])}; filter {queries_of(cases[('api', 'filter')])}"
        )
        print(f"- admin changelist: {queries_of(cases[('admin', 'first page')])}")
        labels = ("first page", "search", "filter")
        query_counts = {
            kind: {queries_of(cases[(kind, label)]) for label in labels} | {queries_of(small[kind])}
            for kind in ("page", "api")
        }

        # Before the writes leave dead rows and GIN pending entries.
        plans = explain(world, cases[("api", "first page")])
        writes = {}
        if args.write_rounds:
            writes = write_cases(world, args, page_client)
            print(f"\nWrites (median of {args.write_rounds} rounds, ms, server-side):")
            print("| case | ms |")
            print("|---|---:|")
            for name, ms in writes.items():
                print(f"| {name} | {ms:.0f} |")
        print_targets(medians, query_counts, writes)
        print("\nEXPLAIN ANALYZE (after the reads, before the writes):\n" + plans)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(args.database_url, drop_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
