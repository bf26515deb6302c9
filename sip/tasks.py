"""The task queue's tasks for calls (Huey: `manage.py run_huey` runs them; webhooks/tasks.py
has the webhooks')."""

from huey import crontab  # type: ignore[import-untyped]  # huey has no type information
from huey.contrib.djhuey import db_periodic_task, db_task  # type: ignore[import-untyped]  # huey has no type information

from . import call_exports


@db_task()
def call_export_run(pk: int) -> None:
    call_exports.call_export_run(pk)


@db_periodic_task(crontab(minute="*"))
def call_exports_sweep() -> None:
    """Every minute: lost enqueues again, interrupted exports failed, expired ones deleted."""
    call_exports.call_exports_sweep()
