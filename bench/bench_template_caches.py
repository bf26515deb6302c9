#!/usr/bin/env python
"""Do the template caches pay? The list page with and without `{% cached_url %}` and the
per-process fragments (`{% cache … using="fragments" %}`), measured side by side.

    .venv/bin/python bench/bench_template_caches.py        # see --help

Separate runs of `bench_scale.py` cannot answer this on a shared machine: a run's page / floor
ratio moves by ±10 % from run to run, more than what is being measured. So this compares the
variants *paired*, in one process on one database (bench_scale's hotline of 10,000 extensions):
the project's templates and copies of them with one trick, the other or both taken out
(`{% cached_url` → `{% url`, the `{% cache %}` tags dropped, their content kept), each loaded by
its own template engine; whole requests through the test Client, rounds interleaved, the
engine the views render with swapped before each request. A second engine of the variant
without either trick (an A/A twin) shows how far two identical variants drift apart. Before
measuring, every variant must render the same page as the project's templates (CSRF tokens and
whitespace aside). Results: docs/performance.md, "Template caches".
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale  # noqa: E402

CACHE_TAGS = re.compile(r'\{% cache [^%]*using="fragments" %\}|\{% endcache %\}')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
QUERIES = {"first page": "", "search": f"search={bench_scale.SEARCH}", "filter": "call_permission=internal"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", bench_scale.DEFAULT_DB_URL),
        help="Scratch PostgreSQL database (created and dropped). Default: %(default)s",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", bench_scale.DEFAULT_REDIS_URL),
        help="Redis for the cache and sessions. Default: %(default)s",
    )
    parser.add_argument("--rounds", type=int, default=150, help="Interleaved rounds (default 150).")
    return parser.parse_args()


def template_variants(source: Path, into: Path) -> dict[str, Path]:
    """Copies of the templates without one trick, the other or both."""
    edits = {
        "fragments only": lambda text: text.replace("{% cached_url ", "{% url "),
        "cached_url only": lambda text: CACHE_TAGS.sub("", text),
        "neither": lambda text: CACHE_TAGS.sub("", text.replace("{% cached_url ", "{% url ")),
    }
    dirs = {"both (current)": source}
    for name, edit in edits.items():
        target = into / name.replace(" ", "_")
        shutil.copytree(source, target)
        for path in target.rglob("*.html"):
            path.write_text(edit(path.read_text()))
        dirs[name] = target
    dirs["neither, A/A twin"] = dirs["neither"]
    return dirs


def normalised(html: str) -> list[str]:
    return CSRF.sub("", html).split()


def main() -> int:
    args = parse_args()
    bench_scale.recreate_database(args.database_url)
    try:
        bench_scale.setup_django(args.database_url, args.redis_url)
        world = bench_scale.build_world()
        bench_scale.install_floor_url()
        gc.collect()
        gc.freeze()
        from django.conf import settings
        from django.template import engines
        from django.template.backends.django import DjangoTemplates
        from django.test import Client

        project = engines["django"]
        config = {key: value for key, value in settings.TEMPLATES[0].items() if key != "BACKEND"}
        page, floor = Client(), Client()
        page.force_login(world.admin)
        page_url = f"/hotlines/{world.big.pk}/extensions/"
        floor_url = f"/bench/floor/{world.big.pk}/"
        with tempfile.TemporaryDirectory() as tmp:
            variants = template_variants(Path(config["DIRS"][0]), Path(tmp))
            backends = {
                name: DjangoTemplates({**config, "NAME": f"variant{i}", "DIRS": [directory]})
                for i, (name, directory) in enumerate(variants.items())
            }
            # The views render with the first engine of `engines`; Django has no public way to
            # swap it, so the handler's own cache of engines is set before each request.
            expected = {q: normalised(page.get(f"{page_url}?{q}").content.decode()) for q in QUERIES.values()}
            for name, backend in backends.items():
                engines._engines["django"] = backend
                for q in QUERIES.values():
                    if normalised(page.get(f"{page_url}?{q}").content.decode()) != expected[q]:
                        raise SystemExit(f"{name}: the page differs from the project's templates ({q!r})")
            calls = {}
            for label, q in QUERIES.items():
                for name in backends:
                    calls[(name, label)] = (backends[name], lambda q=q: page.get(f"{page_url}?{q}"))
                calls[("floor", label)] = (project, lambda q=q: floor.get(f"{floor_url}?{q}"))
            samples = {key: [] for key in calls}
            keys = list(calls)
            load_before = os.getloadavg()[0]
            for round_no in range(3 + args.rounds):
                shift = round_no % len(keys)
                for key in keys[shift:] + keys[:shift]:
                    backend, call = calls[key]
                    engines._engines["django"] = backend
                    ms = bench_scale.request_ms(call)
                    if round_no >= 3:
                        samples[key].append(ms)
            engines._engines["django"] = project
        print(f"Machine: {bench_scale.machine()}")
        print(
            f"List page of the 10,000-extension hotline, median of {args.rounds} interleaved rounds "
            f"(ms, server-side; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after):"
        )
        median = {key: statistics.median(values) for key, values in samples.items()}
        print("| templates | first page | search | filter | / floor | / neither |")
        print("|---|---:|---:|---:|---|---|")
        for name in ["floor", *backends]:
            cells = " | ".join(f"{median[(name, label)]:.2f}" for label in QUERIES)
            to_floor = ", ".join(
                f"{median[(name, label)] / median[('floor', label)]:.2f}" for label in QUERIES
            )
            to_neither = ", ".join(
                f"{median[(name, label)] / median[('neither', label)]:.3f}" for label in QUERIES
            )
            print(f"| {name} | {cells} | {to_floor} | {to_neither} |")
    finally:
        from django.db import connections

        connections.close_all()
        bench_scale.recreate_database(args.database_url, drop_only=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
