"""Call history as CSV: the rows (one rule for the export streamed in a request and for the
worker's file) and the background exports of long ranges.

An export of up to CALL_EXPORT_INLINE_ROWS calls streams in the request, as it always did. A
larger one (a year of a busy hotline: ~20 s of a web worker) becomes a `CallExport` job: the
request only counts up to the threshold and queues it (milliseconds); the task queue's worker
(`manage.py run_huey`) writes the same rows to a file under CALL_EXPORT_ROOT, and its owner
downloads it from the exports page. The job keeps its scope (hotline or extension) and its
filters, not a query: the worker asks again what the user may see (`call_list`, the scope's own
404), in the user's language, so a user who lost access exports nothing.

The worker's sweep (every minute) queues again jobs whose enqueue was lost (the queue was down
when they were asked), marks failed the running ones whose worker stopped reporting (a crash or
restart: CALL_EXPORT_STALE_SECONDS), and deletes files and rows after
CALL_EXPORT_RETENTION_HOURS.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from extensions.models import Extension
from hotlines.models import Hotline
from hotlines.selectors import hotline_get
from tenants.choices import Role
from tenants.selectors import membership_for

from .choices import CallDirection, Disposition, ExportStatus
from .filtersets import CallFilterSet
from .history import call_extension_get, call_list
from .models import Call, CallExport

logger = logging.getLogger(__name__)

ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)
# How often a running export tells that it is alive (and how far it got).
HEARTBEAT_SECONDS = 5.0
# A queued job not started after this long lost its enqueue (or waits behind others: taking it
# again is harmless, only one worker can claim it).
REQUEUE_AFTER = dt.timedelta(minutes=2)
# The files' names (sip.models.export_file_name), all the purge ever deletes.
EXPORT_FILE_STEM = re.compile(r"[0-9a-f]{32}")

# Messages a failed export shows (stored untranslated, shown in the reader's language).
INTERRUPTED = gettext_noop("The export was interrupted (the server restarted). Please export again.")
NOT_ALLOWED = gettext_noop("You can no longer see these calls.")
FAILED = gettext_noop("The export failed. Please try again; if it fails again, contact support.")


class _Echo:
    def write(self, value: str) -> str:
        return value


def call_csv_rows(queryset: QuerySet[Call]) -> Iterator[str]:
    """The CSV of `queryset`'s calls, line by line, in the active language and time zone."""
    writer = csv.writer(_Echo())
    yield "\ufeff"  # Excel opens UTF-8 (Vietnamese names) only with a BOM
    yield writer.writerow(
        [
            _("Started at"),
            _("Caller"),
            _("Callee"),
            _("Direction"),
            _("Caller ID"),
            _("Result"),
            _("Reason"),
            _("Answered at"),
            _("Ended at"),
            _("Duration (seconds)"),
        ]
    )
    tz = timezone.get_current_timezone()
    directions = {value: str(label) for value, label in CallDirection.choices}
    results = {value: str(label) for value, label in Disposition.choices}

    def when(value):
        return value.astimezone(tz).isoformat(timespec="seconds") if value else ""

    # Tuples, labels looked up once: a model instance and two get_…_display() a row were most
    # of the export's time (docs/performance.md, "Call history").
    columns = ("started_at", "caller", "callee", "direction", "caller_id", "disposition", "reason")
    rows = queryset.values_list(*columns, "answered_at", "ended_at", "duration")
    for (
        started,
        caller,
        callee,
        direction,
        caller_id,
        disposition,
        reason,
        answered,
        ended,
        duration,
    ) in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                when(started),
                caller,
                callee,
                directions.get(direction, direction),
                caller_id,
                results.get(disposition, disposition),
                reason,
                when(answered),
                when(ended),
                duration,
            ]
        )


def call_filters(data) -> dict[str, str]:
    """The history filters in a query string (`request.GET`), as a job keeps them."""
    return {name: data[name] for name in CallFilterSet.base_filters if data.get(name, "") != ""}


def filtered_calls(queryset: QuerySet[Call], data) -> QuerySet[Call]:
    """`queryset` with the history page's filters; filters that are not understood are ignored,
    as the page ignores them."""
    filterset = CallFilterSet(data, queryset=queryset)
    return filterset.qs if filterset.is_valid() else queryset


def fits_inline(queryset: QuerySet[Call]) -> bool:
    """Whether the export is small enough to stream in the request: counts at most one row past
    the threshold (`SELECT count(*) FROM (… LIMIT n + 1)`), never the whole range."""
    limit = settings.CALL_EXPORT_INLINE_ROWS
    return queryset.order_by()[: limit + 1].count() <= limit


class TooManyExports(Exception):
    """The user already has CALL_EXPORT_MAX_ACTIVE exports queued or running."""


def call_export_create(
    *,
    user,
    filters: dict[str, str],
    filename: str,
    hotline: Hotline | None = None,
    extension: Extension | None = None,
) -> CallExport:
    """Queue an export of the calls `user` sees in the scope with `filters`. The same export,
    asked again while it is queued or running (a second click, a reload), is the same job."""
    membership = membership_for(user)
    if membership is None:
        raise Http404
    active = CallExport.objects.filter(tenant_id=membership.tenant_id, user=user, status__in=ACTIVE)
    same = active.filter(hotline=hotline, extension=extension, filters=filters).first()
    if same is not None:
        return same
    if active.count() >= settings.CALL_EXPORT_MAX_ACTIVE:
        raise TooManyExports
    with transaction.atomic():
        job = CallExport.objects.create(
            tenant_id=membership.tenant_id,
            user=user,
            hotline=hotline,
            extension=extension,
            filters=filters,
            filename=filename,
            language=translation.get_language() or settings.LANGUAGE_CODE,
        )
        transaction.on_commit(lambda: enqueue(job.pk))
    return job


def enqueue(pk: int) -> None:
    """Hand the job to the worker; when the queue cannot be reached the job stays queued and the
    sweep queues it again: the request goes on regardless."""
    from .tasks import call_export_run  # the queue's client, configured from settings

    try:
        call_export_run(pk)
    except Exception:  # any failure of the queue's storage (Redis down, SQLite locked)
        logger.warning("call exports: could not enqueue export %s; the sweep will", pk)


def call_export_list(*, user) -> QuerySet[CallExport]:
    """The exports `user` may see and download: a tenant admin the tenant's, anyone else their
    own (of their tenant); nobody another tenant's."""
    membership = membership_for(user)
    if membership is None:
        return CallExport.objects.none()
    qs = CallExport.objects.filter(tenant_id=membership.tenant_id)
    if membership.role != Role.ADMIN:
        qs = qs.filter(user=user)
    return qs.select_related("user", "hotline", "extension")


def call_export_get(*, user, pk) -> CallExport:
    try:
        return call_export_list(user=user).get(pk=pk)
    except (CallExport.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def export_path(job: CallExport) -> Path:
    """The job's file: a name nobody can guess or choose, in a folder per tenant."""
    return Path(settings.CALL_EXPORT_ROOT) / str(job.tenant_id) / job.path


def _job_calls(job: CallExport) -> QuerySet[Call]:
    """What the job exports, asked again now: the scope as its user may see it today."""
    user = job.user
    membership = membership_for(user)
    if membership is None or membership.tenant_id != job.tenant_id:
        raise Http404
    if job.extension_id is not None:
        calls = call_list(user=user, extension=call_extension_get(user=user, pk=job.extension_id))
    elif job.hotline_id is not None:
        calls = call_list(user=user, hotline=hotline_get(user=user, pk=job.hotline_id, counts=False))
    else:  # the API's: every call the user sees, narrowed by the filters
        calls = call_list(user=user)
    return filtered_calls(calls, job.filters)


def call_export_run(pk: int) -> None:
    """Write the job's file (the worker's task). Only one worker claims a queued job."""
    now = timezone.now()
    claimed = CallExport.objects.filter(pk=pk, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return  # already taken, finished or deleted
    job = CallExport.objects.select_related("user").get(pk=pk)
    path = export_path(job)
    part = path.with_suffix(".part")
    try:
        with translation.override(job.language):
            calls = _job_calls(job)
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = _write(job, calls, part)
        part.replace(path)
    except Http404:
        _fail(job, NOT_ALLOWED, part)
        return
    except Exception:
        logger.exception("call exports: export %s failed", pk)
        _fail(job, FAILED, part)
        return
    finished = CallExport.objects.filter(pk=pk, status=ExportStatus.RUNNING).update(
        status=ExportStatus.DONE, rows=rows, size=path.stat().st_size, finished_at=timezone.now()
    )
    if not finished:  # the sweep gave up on it meanwhile (or it was deleted): keep no orphan
        path.unlink(missing_ok=True)


def _write(job: CallExport, calls: QuerySet[Call], part: Path) -> int:
    rows = -1  # the header is not a call
    beat = time.monotonic()
    with open(part, "w", encoding="utf-8", newline="") as out:
        for line in call_csv_rows(calls):
            out.write(line)
            rows += line != "\ufeff"
            if rows % 1000 == 0 and time.monotonic() - beat > HEARTBEAT_SECONDS:
                beat = time.monotonic()
                CallExport.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now(), rows=rows)
    return rows


def _fail(job: CallExport, message: str, part: Path) -> None:
    with contextlib.suppress(OSError):  # the storage that failed may fail this too
        part.unlink(missing_ok=True)
    CallExport.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
        status=ExportStatus.FAILED, error=message, finished_at=timezone.now()
    )


def call_exports_sweep() -> dict[str, int]:
    """The worker's minute: queue again the lost, fail the interrupted, delete the expired."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.CALL_EXPORT_STALE_SECONDS)
    interrupted = CallExport.objects.filter(status=ExportStatus.RUNNING, heartbeat_at__lt=stale).update(
        status=ExportStatus.FAILED, error=INTERRUPTED, finished_at=now
    )
    waiting = list(
        CallExport.objects.filter(status=ExportStatus.QUEUED, created_at__lt=now - REQUEUE_AFTER).values_list(
            "pk", flat=True
        )
    )
    for pk in waiting:
        enqueue(pk)
    return {"interrupted": interrupted, "requeued": len(waiting), "deleted": call_exports_purge(now=now)}


def call_exports_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the exports asked more than CALL_EXPORT_RETENTION_HOURS ago, files first."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.CALL_EXPORT_RETENTION_HOURS)
    expired = list(CallExport.objects.filter(created_at__lt=cutoff))
    _delete(expired)
    # Files whose row went another way (its user, hotline or tenant deleted) go by their age: a
    # file is never older than its row, so nothing is deleted before its time.
    # Only our own names (export_file_name: 32 hex digits): CALL_EXPORT_ROOT may be shared. A
    # file renamed or deleted by a running export meanwhile is simply gone.
    for path in Path(settings.CALL_EXPORT_ROOT).glob("*/*.*"):
        if path.suffix not in (".csv", ".part") or not EXPORT_FILE_STEM.fullmatch(path.stem):
            continue
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff.timestamp():
                path.unlink(missing_ok=True)
    return len(expired)


def call_exports_discard(*, user_id: int) -> int:
    """Delete the user's exports, files first: their role, tenant or extension changed, so what
    they exported under the old one is no longer theirs to download (a running job finds its
    row gone and removes its file)."""
    jobs = list(CallExport.objects.filter(user_id=user_id))
    _delete(jobs)
    return len(jobs)


def _delete(jobs: list[CallExport]) -> None:
    for job in jobs:
        path = export_path(job)
        path.unlink(missing_ok=True)
        path.with_suffix(".part").unlink(missing_ok=True)
    CallExport.objects.filter(pk__in=[job.pk for job in jobs]).delete()
