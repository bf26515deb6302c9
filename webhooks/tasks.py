"""The task queue's tasks (Huey: `manage.py run_huey` runs them; settings.HUEY says where the
queue lives — Redis in production, an SQLite file in the demo)."""

from huey import crontab  # type: ignore[import-untyped]  # huey has no type information
from huey.contrib.djhuey import db_periodic_task, db_task  # type: ignore[import-untyped]  # huey has no type information

from . import delivery


@db_task()
def dispatch_deliveries(ids: list[int]) -> None:
    """One task per request, however many deliveries it made (a CSV import of 10,000 extensions
    enqueues once); the worker fans them out."""
    for pk in ids:
        deliver(pk)


@db_task()
def deliver(delivery_id: int) -> None:
    delay = delivery.attempt(delivery_id)
    if delay is not None:
        deliver.schedule(args=(delivery_id,), delay=delay)


@db_periodic_task(crontab(minute="*"))
def sweep() -> None:
    """Every minute: deliveries whose attempt is overdue go back to the queue, and the log is
    trimmed to WEBHOOK_LOG_DAYS."""
    for pk in delivery.due_ids():
        deliver(pk)
    delivery.purge_old()
