"""Suite-wide rules: under CI=true a skipped test is a failure (nothing may hide); fixtures
several apps use (`world`, the task-queue `worker`)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"Skipped under CI=true, which must run everything: {reason}"


@pytest.fixture(autouse=True)
def english_messages():
    """Unit tests read messages in English; requests still get Vietnamese by default, since
    the language middleware activates the user's language per request."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def world(db):
    """Two tenants, each with an admin, two hotlines, a number group and extensions 100–102;
    tenant A also has an agent on its extension 101."""
    from tests.factories import (
        HotlineFactory,
        NumberGroupFactory,
        TenantFactory,
        make_admin,
        make_agent,
        make_extension,
    )

    class World:
        pass

    w = World()
    for key in ("a", "b"):
        tenant = TenantFactory(slug=f"tenant-{key}", name=f"Tenant {key.upper()}")
        hotline = HotlineFactory(tenant=tenant)
        second = HotlineFactory(tenant=tenant)
        group = NumberGroupFactory(tenant=tenant, name=f"Group {key.upper()}")
        e100 = make_extension(hotline, "100", f"boss{key}")
        e101 = make_extension(hotline, "101", f"sale{key}", supervisor=e100, outbound_groups=[group])
        e102 = make_extension(hotline, "102", f"kd{key}")
        setattr(w, f"tenant_{key}", tenant)
        setattr(w, f"admin_{key}", make_admin(tenant))
        setattr(w, f"hotline_{key}", hotline)
        setattr(w, f"hotline_{key}2", second)
        setattr(w, f"group_{key}", group)
        setattr(w, f"ext_{key}", {"100": e100, "101": e101, "102": e102})
    w.agent_a = make_agent(w.tenant_a, w.ext_a["101"], username="agent-a")
    return w


ROOT = Path(__file__).resolve().parent
# The worker's webhook retries are short: 0.5 s, 1 s, 1 s … for two minutes.
WORKER_ENV = {
    "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
    "WEBHOOK_RETRY_FOR_SECONDS": "120",
    "WEBHOOK_CONNECT_TIMEOUT": "1",
    "WEBHOOK_TIMEOUT": "2",
    "WEBHOOK_DEADLINE": "3",
}


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _manage(args: list[str], log: Path) -> subprocess.Popen:
    """`manage.py <args>` in a subprocess on the test database (and this run's task queue),
    its output in `log`."""
    if connection.vendor != "postgresql":
        pytest.fail("the tests of background processes need PostgreSQL (DATABASE_URL)")
    env = {
        **os.environ,
        **WORKER_ENV,
        "DJANGO_SETTINGS_MODULE": "pbx_admin.settings_test",
        "DATABASE_URL": _database_url(),
        "PYTHONUNBUFFERED": "1",  # its log is complete whenever the test reads it
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 — our own command line
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    process.log_path = log  # type: ignore[attr-defined]
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A real task-queue worker (`manage.py run_huey`, as `make run` and production start it)
    on this run's queue and the test database, for webhook deliveries and call exports;
    stopped by its PID."""
    from huey.contrib.djhuey import HUEY  # type: ignore[import-untyped]  # huey has no type information

    HUEY.flush()
    process = _manage(["run_huey", "--workers", "2", "--worker-type", "thread"], tmp_path / "worker.log")
    time.sleep(0.5)
    yield process
    _stop(process)
    HUEY.flush()


@pytest.fixture
def follower(transactional_db, tmp_path):
    """`manage.py import_call_records --follow` (as `make sip` and production run it beside
    Kamailio): imports call records and notices registration changes with no page open;
    stopped by its PID."""
    process = _manage(["import_call_records", "--follow"], tmp_path / "follower.log")
    yield process
    _stop(process)
