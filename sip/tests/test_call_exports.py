"""Call history exports too large for a request: queued as a job, written by the real task-queue
worker (the same CSV as the streamed export), downloaded by their owner only, swept (lost
workers, retention)."""

import datetime as dt
import os
import time

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sip import tasks
from sip.call_exports import (
    FAILED,
    INTERRUPTED,
    NOT_ALLOWED,
    call_export_run,
    call_exports_sweep,
    export_path,
)
from sip.choices import CallDirection, Disposition, ExportStatus
from sip.models import Call, CallExport
from tenants.choices import Role
from tenants.models import Membership
from tests.api import api_client
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

NOW = timezone.now()
REASONS = ["", 'Quyền gọi: cần "quốc tế", không đủ', "line\nbreak, comma"]


def fill_calls(world, count: int) -> None:
    """`count` calls of tenant A's hotline over two days, every direction and result, and a few
    of tenant B (which no export of A may hold)."""
    a, b = world.ext_a, world.ext_b
    directions, results = list(CallDirection.values), list(Disposition.values)
    calls = [
        Call(
            tenant=world.tenant_a,
            hotline=world.hotline_a,
            caller_extension=a["101"] if i % 3 else a["102"],
            callee_extension=a["100"] if i % 5 == 0 else None,
            caller=a["101"].number if i % 3 else a["102"].number,
            callee="100" if i % 5 == 0 else f"09{i:08d}",
            direction=directions[i % len(directions)],
            caller_id=world.hotline_a.number,
            started_at=NOW - dt.timedelta(minutes=17 * i),
            answered_at=NOW - dt.timedelta(minutes=17 * i) + dt.timedelta(seconds=4) if i % 2 else None,
            ended_at=NOW - dt.timedelta(minutes=17 * i) + dt.timedelta(seconds=60),
            duration=(i * 7) % 300,
            disposition=results[i % len(results)],
            reason=REASONS[i % len(REASONS)],
            sip_call_id=f"export-{i}@test",
        )
        for i in range(count)
    ]
    calls += [
        Call(
            tenant=world.tenant_b,
            hotline=world.hotline_b,
            caller_extension=b["101"],
            caller="101",
            callee="0987654321",
            direction=CallDirection.OUTBOUND,
            started_at=NOW - dt.timedelta(minutes=i),
            disposition=Disposition.ANSWERED,
            reason="beta-call",
            sip_call_id=f"export-b-{i}@test",
        )
        for i in range(5)
    ]
    Call.objects.bulk_create(calls)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def streamed(response) -> bytes:
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content)


def a_job(world, **fields) -> CallExport:
    """An export of tenant A's hotline (by its admin), as `call_export_create` makes them."""
    values = {"user": world.admin_a, "hotline": world.hotline_a}
    return CallExport.objects.create(
        tenant=world.tenant_a, filename="calls.csv", language="vi", **{**values, **fields}
    )


def wait_for(job: CallExport, *statuses: str, seconds: float = 60) -> CallExport:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in statuses:
            return job
        time.sleep(0.2)
    pytest.fail(f"export {job.pk} is still {job.status} after {seconds} s")


def test_a_small_export_streams_and_a_large_one_becomes_one_job(world, client, settings):
    fill_calls(world, 12)
    client.force_login(world.admin_a)
    url = reverse("calls:hotline_calls_export", args=[world.hotline_a.pk])
    settings.CALL_EXPORT_INLINE_ROWS = 2

    busy = streamed(client.get(url, {"disposition": "busy"}))  # 2 of 12: not over the threshold
    assert busy.decode().count("\r\n") == 1 + 2
    assert not CallExport.objects.exists()

    response = client.get(url, {"direction": "outbound", "after": "ignored", "junk": "x"})
    job = CallExport.objects.get()
    assert response.status_code == 302 and response.url == f"{reverse('calls:export_list')}#export-{job.pk}"
    assert (job.tenant, job.user, job.hotline, job.extension) == (
        world.tenant_a,
        world.admin_a,
        world.hotline_a,
        None,
    )
    assert job.filters == {"direction": "outbound"} and job.status == ExportStatus.QUEUED
    assert job.filename == f"calls-{world.hotline_a.number}.csv" and job.language == "vi"

    client.get(url, {"direction": "outbound"})  # a second click, a reload: the same job
    assert CallExport.objects.count() == 1
    page = client.get(reverse("calls:export_list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Xuất dữ liệu" in text and "Đang chờ" in text and 'http-equiv="refresh"' in text
    assert "Chiều gọi: Gọi ra" in text  # the filters as the history page names them
    assert "bạn có thể rời trang này" in text  # the message that says where the file will be


def test_the_worker_writes_the_same_csv_as_the_streamed_export(world, worker, settings):
    fill_calls(world, 300)
    admin = signed_in(world.admin_a)
    url = reverse("calls:hotline_calls_export", args=[world.hotline_a.pk])
    filters = {"since": (NOW - dt.timedelta(days=2)).date().isoformat(), "disposition": "answered"}
    inline = streamed(admin.get(url, filters))
    assert inline.decode().count("\r\n") > 1 + 20  # more than the threshold below

    settings.CALL_EXPORT_INLINE_ROWS = 20
    started = time.perf_counter()
    response = admin.get(url, filters)
    asked_in = time.perf_counter() - started
    assert response.status_code == 302
    job = wait_for(CallExport.objects.get(), ExportStatus.DONE, ExportStatus.FAILED)
    assert job.status == ExportStatus.DONE, (job.error, worker.log_path.read_text())
    assert job.rows == inline.decode().count("\r\n") - 1 and job.size == len(inline)
    assert asked_in < 2  # the request only counts up to the threshold and queues

    page = admin.get(reverse("calls:export_list")).content.decode()
    download_url = reverse("calls:export_download", args=[job.pk])
    assert download_url in page and "Xong" in page and 'http-equiv="refresh"' not in page

    download = admin.get(download_url)
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="calls-{world.hotline_a.number}.csv"'
    assert download["Cache-Control"] == "no-store"
    assert streamed(download) == inline
    assert b"beta-call" not in inline

    # Not for another tenant, nor for an agent who did not ask for it.
    assert signed_in(world.admin_b).get(download_url).status_code == 404
    assert signed_in(world.agent_a).get(download_url).status_code == 404
    other_page = signed_in(world.admin_b).get(reverse("calls:export_list")).content.decode()
    assert f"export-{job.pk}" not in other_page and job.filename not in other_page

    # Retention: file and row go with the worker's sweep.
    path = export_path(job)
    assert path.exists() and not str(path).startswith(str(settings.STATIC_ROOT))
    assert call_exports_sweep()["deleted"] == 0
    CallExport.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(hours=25))
    assert tasks.call_exports_sweep.task_class().validate_datetime(timezone.now())  # every minute
    tasks.call_exports_sweep.call_local()  # the worker's periodic task
    assert not path.exists() and not CallExport.objects.exists()
    assert admin.get(download_url).status_code == 404


def test_an_agent_exports_own_calls_and_loses_them_with_access(world, settings):
    fill_calls(world, 30)
    settings.CALL_EXPORT_INLINE_ROWS = 3
    agent = signed_in(world.agent_a)
    response = agent.get(reverse("calls:extension_calls_export", args=[world.ext_a["101"].pk]))
    assert response.status_code == 302
    job = CallExport.objects.get()
    assert job.extension == world.ext_a["101"] and job.user == world.agent_a

    call_export_run(job.pk)  # what the worker does
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE and job.rows == 20  # 101's own calls: 2 of every 3
    download = agent.get(reverse("calls:export_download", args=[job.pk]))
    assert streamed(download).count(b"\r\n") == 21
    # The tenant's admin may fetch it too; a colleague may not.
    assert signed_in(world.admin_a).get(reverse("calls:export_download", args=[job.pk])).status_code == 200
    colleague = make_agent(world.tenant_a, world.ext_a["102"], username="agent-a-102")
    assert signed_in(colleague).get(reverse("calls:export_download", args=[job.pk])).status_code == 404

    # Taken off extension 101 before the next export ran: it exports nothing, and says why.
    again = a_job(world, user=world.agent_a, extension=world.ext_a["101"])
    Membership.objects.filter(user=world.agent_a).update(extension=None)
    call_export_run(again.pk)
    again.refresh_from_db()
    assert again.status == ExportStatus.FAILED and again.error == NOT_ALLOWED and again.rows == 0
    assert not export_path(again).exists()
    page = agent.get(reverse("calls:export_list"))
    assert page.status_code == 200 and "Bạn không còn xem được các cuộc gọi này." in page.content.decode()


def test_an_interrupted_export_is_failed_by_the_sweep_and_a_lost_one_queued_again(world, settings):
    settings.CALL_EXPORT_STALE_SECONDS = 60
    old = timezone.now() - dt.timedelta(minutes=5)
    crashed = a_job(world, status=ExportStatus.RUNNING, started_at=old, heartbeat_at=old)
    alive = a_job(world, status=ExportStatus.RUNNING, started_at=old, heartbeat_at=timezone.now())
    lost = a_job(world)
    CallExport.objects.filter(pk=lost.pk).update(created_at=old)

    assert call_exports_sweep() == {"interrupted": 1, "requeued": 1, "deleted": 0}
    crashed.refresh_from_db()
    alive.refresh_from_db()
    assert crashed.status == ExportStatus.FAILED and crashed.error == INTERRUPTED
    assert alive.status == ExportStatus.RUNNING
    page = signed_in(world.admin_a).get(reverse("calls:export_list")).content.decode()
    assert "Quá trình xuất bị gián đoạn" in page and "Thất bại" in page
    # A job the sweep gave up on leaves no file if its worker comes back after all.
    call_export_run(crashed.pk)
    assert not export_path(crashed).exists()


def test_too_many_exports_at_once_are_refused_with_a_message(world, settings):
    fill_calls(world, 10)
    settings.CALL_EXPORT_INLINE_ROWS = 1
    settings.CALL_EXPORT_MAX_ACTIVE = 2
    admin = signed_in(world.admin_a)
    url = reverse("calls:hotline_calls_export", args=[world.hotline_a.pk])
    for direction in ("", "outbound"):
        assert admin.get(url, {"direction": direction}).status_code == 302
    response = admin.get(url, {"direction": "internal"}, follow=True)
    assert CallExport.objects.count() == 2
    assert response.status_code == 200 and "đang được xuất" in response.content.decode()


def test_the_api_exports_the_same_csv_with_the_filters_of_the_calls_api(world, settings):
    fill_calls(world, 40)
    settings.CALL_EXPORT_MAX_ACTIVE = 1
    api = api_client(world.admin_a)
    wrong = api.post("/api/v1/call-exports/", {"since": "yesterday", "direction": "sideways"})
    assert wrong.status_code == 400 and set(wrong.json()) == {"direction"}
    assert set(api.post("/api/v1/call-exports/", {"since": "yesterday"}).json()) == {"since"}
    assert not CallExport.objects.exists()

    filters = {"hotline": world.hotline_a.pk, "disposition": "answered"}
    asked = api.post("/api/v1/call-exports/", filters)
    assert asked.status_code == 202, asked.content
    job = asked.json()
    assert job["status"] == "queued" and job["download"] is None
    assert job["filters"] == {"hotline": str(world.hotline_a.pk), "disposition": "answered"}
    assert api.post("/api/v1/call-exports/", filters).json()["id"] == job["id"]  # the same job
    busy = api.post("/api/v1/call-exports/", {"disposition": "busy"})
    assert busy.status_code == 429 and "1 exports in progress" in busy.json()["detail"]
    assert api.get(f"/api/v1/call-exports/{job['id']}/download/").status_code == 404  # not yet

    call_export_run(job["id"])  # what the worker does
    done = api.get(f"/api/v1/call-exports/{job['id']}/").json()
    assert done["status"] == "done" and done["rows"] == 7 and done["error"] == ""
    download = api.get(done["download"])
    assert download.status_code == 200 and download["Cache-Control"] == "no-store"
    page = signed_in(world.admin_a)
    page.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the API client reads English
    inline = page.get(
        reverse("calls:hotline_calls_export", args=[world.hotline_a.pk]), {"disposition": "answered"}
    )
    assert streamed(download) == streamed(inline)
    assert [j["id"] for j in api.get("/api/v1/call-exports/").json()["results"]] == [job["id"]]

    other = api_client(world.admin_b)
    assert other.get(f"/api/v1/call-exports/{job['id']}/").status_code == 404
    assert other.get(f"/api/v1/call-exports/{job['id']}/download/").status_code == 404
    assert other.get("/api/v1/call-exports/").json()["results"] == []
    assert api_client(world.agent_a).get(f"/api/v1/call-exports/{job['id']}/").status_code == 404


def test_a_failed_write_says_so_and_leaves_nothing(world, settings, tmp_path):
    fill_calls(world, 3)
    settings.CALL_EXPORT_ROOT = tmp_path / "not-a-folder"
    settings.CALL_EXPORT_ROOT.write_text("")  # the tenant's folder cannot be made under a file
    job = a_job(world)
    call_export_run(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and job.error == FAILED and job.finished_at

    page = signed_in(world.admin_a).get(reverse("calls:export_list"))
    assert page.status_code == 200 and "Xuất dữ liệu thất bại" in page.content.decode()
    assert signed_in(world.admin_a).get(reverse("calls:export_download", args=[job.pk])).status_code == 404


def test_files_left_without_their_row_go_after_the_retention(world, settings, tmp_path):
    settings.CALL_EXPORT_ROOT = tmp_path
    (tmp_path / "7").mkdir()
    old, recent = tmp_path / "7" / f"{'a' * 32}.csv", tmp_path / "7" / f"{'b' * 32}.part"
    foreign = tmp_path / "7" / "someone-elses.csv"  # CALL_EXPORT_ROOT may be a shared folder
    for path in (old, recent, foreign):
        path.write_text("x")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    os.utime(foreign, (day_ago, day_ago))
    assert call_exports_sweep()["deleted"] == 0
    assert not old.exists() and recent.exists() and foreign.exists()


def test_a_role_or_extension_change_takes_the_exports_made_under_the_old_one(world, settings):
    """An admin's export of the whole hotline, kept for a day, is not theirs to read once they
    are an agent; the API serves the file to a client that asks for text/csv."""
    fill_calls(world, 12)
    job = a_job(world)
    call_export_run(job.pk)
    job.refresh_from_db()
    api = api_client(world.admin_a)
    download = api.get(f"/api/v1/call-exports/{job.pk}/download/", HTTP_ACCEPT="text/csv")
    assert streamed(download).count(b"\r\n") == 13
    path = export_path(job)
    assert path.exists()

    membership = world.admin_a.membership
    membership.save()  # nothing changed: nothing goes
    assert CallExport.objects.filter(pk=job.pk).exists()
    membership.role = Role.AGENT
    membership.extension = world.ext_a["101"]
    membership.save()
    assert not CallExport.objects.filter(pk=job.pk).exists() and not path.exists()
    assert api.get(f"/api/v1/call-exports/{job.pk}/download/").status_code == 404
