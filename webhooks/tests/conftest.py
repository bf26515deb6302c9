import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from .receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
# Short backoff for the worker: 0.5 s, 1 s, 1 s … for two minutes.
WORKER_ENV = {
    "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
    "WEBHOOK_RETRY_FOR_SECONDS": "120",
    "WEBHOOK_CONNECT_TIMEOUT": "1",
    "WEBHOOK_TIMEOUT": "2",
}


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A real task-queue worker (`manage.py run_huey`, as `make run` and production start it)
    on this run's queue and the test database; stopped by its PID."""
    if connection.vendor != "postgresql":
        pytest.fail("the webhook worker tests need PostgreSQL (DATABASE_URL)")
    from huey.contrib.djhuey import HUEY  # type: ignore[import-untyped]  # huey has no type information

    HUEY.flush()
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        **WORKER_ENV,
        "DJANGO_SETTINGS_MODULE": "pbx_admin.settings_test",
        "DATABASE_URL": _database_url(),
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 — our own command line
            [sys.executable, "manage.py", "run_huey", "--workers", "2", "--worker-type", "thread"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    time.sleep(0.5)
    process.log_path = log  # type: ignore[attr-defined]
    yield process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    HUEY.flush()
