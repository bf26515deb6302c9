"""No SIP password in plaintext where errors go: import messages (and the import job kept in
the database), and the DEBUG error page of a failed export."""

import html
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from core import auth_views
from core.guard import SESSION_AUTH_TIME
from extensions import bulk_views, csvio, imports, views
from extensions.api.views import ExtensionViewSet
from extensions.credentials import LoginInfo
from extensions.models import Extension, ImportJob
from tests.api import api_client

pytestmark = pytest.mark.django_db

# Password cells a spreadsheet would run as formulas, a weak one, and one on a row whose cells
# are shifted (an unquoted comma puts the password under "enabled", whose errors quote the cell).
FORMULA_PASSWORDS = ["=cmd|' /C calc'!A0", "+Abc123456", "@Secret12345", "-Minus98765x"]
WEAK_PASSWORD = "Weakpw7"
SHIFTED_PASSWORD = "Shifted-Secret-42"
IMPORT_CSV = (
    "number,alias,password,enabled\r\n"
    + "".join(
        f'{103 + i},kd{103 + i},"{cell.replace(chr(34), chr(34) * 2)}",true\r\n'
        for i, cell in enumerate(FORMULA_PASSWORDS)
    )
    + f"110,kd110,{WEAK_PASSWORD},true\r\n"
    + f"111,kd,111,{SHIFTED_PASSWORD},true\r\n"
)
SECRETS = [*FORMULA_PASSWORDS, WEAK_PASSWORD, SHIFTED_PASSWORD]


def assert_no_secret(text: str, where: str) -> None:
    """Not the cell, nor the cell without its first character (a message could drop it), nor
    their HTML- or JSON-escaped forms."""
    for secret in SECRETS:
        for needle in {secret, secret[1:]}:
            for form in {needle, html.escape(needle), json.dumps(needle)[1:-1]}:
                assert form not in text, f"{secret!r} in {where}"


def import_job_row_text(job: ImportJob) -> str:
    """The whole row as PostgreSQL stores it (what a pg_dump holds), every column as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(j)::text FROM extensions_importjob j WHERE id = %s", [job.pk])
        return cursor.fetchone()[0]


def test_a_formula_in_the_password_column_is_refused_without_quoting_it(world):
    [row] = csvio.read("number,password\r\n103,=1+2Abcdefgh\r\n").rows
    [error] = row.errors
    assert "formula" in error and "password" in error
    assert "1+2Abcdefgh" not in error and "“=" not in error
    # Other columns still quote the cell: it helps to find it, and it is no secret.
    [row] = csvio.read("number,description\r\n103,=1+2\r\n").rows
    assert "“=1+2”" in row.errors[0]


def test_a_shifted_row_of_a_file_with_passwords_reads_no_cell_but_its_number(world):
    [row] = csvio.read("number,alias,password,call_permission\r\n103,kd,03,Shifted-Secret-42,mobile\r\n").rows
    assert row.cells == {"number": "103"}
    assert row.errors == ["This row has 5 cells; the header has 4."]
    [row] = csvio.read("number,alias,password\r\nShifted-Secret-42\r\n").rows
    assert row.cells == {}


def test_the_import_page_never_shows_or_stores_a_password_cell(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    response = client.post(
        reverse("extensions:extension_import", kwargs={"hotline_pk": world.hotline_a.pk}),
        {"file": SimpleUploadedFile("staff.csv", IMPORT_CSV.encode(), content_type="text/csv")},
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    page = client.get(reverse("extensions:import_job", kwargs={"pk": job.pk})).content.decode()
    assert page.count("formula") == len(FORMULA_PASSWORDS)  # every formula row is refused
    assert "at least 10 characters" in page and "This row has 5 cells" in page
    assert_no_secret(page, "the preview page")
    assert_no_secret(json.dumps(job.summary, ensure_ascii=False), "ImportJob.summary")
    assert_no_secret(import_job_row_text(job), "the import job's row in the database")

    client.post(reverse("extensions:import_job_apply", kwargs={"pk": job.pk}))  # refused: errors
    job.refresh_from_db()
    assert job.status == "failed"
    page = client.get(reverse("extensions:import_job", kwargs={"pk": job.pk})).content.decode()
    assert_no_secret(page, "the page of the refused import")
    assert_no_secret(import_job_row_text(job), "the refused import job's row")


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_the_import_api_never_returns_a_password_cell(world, dry_run):
    response = api_client(world.admin_a).generic(
        "POST",
        f"/api/v1/extensions/import/?hotline={world.hotline_a.pk}&dry_run={dry_run}",
        IMPORT_CSV.encode(),
        content_type="text/csv",
    )
    assert response.status_code == (200 if dry_run == "true" else 400)
    body = response.content.decode()
    assert "formula" in body and "This row has 5 cells" in body
    assert_no_secret(body, f"the API's answer (dry_run={dry_run})")


# --- the DEBUG error page of a failed export -----------------------------------------------------


def fail_after_reading_every_row(rows, **kwargs):
    """A CSV writer that reads (so decrypts) every row, then fails: a bug after the decrypt."""
    rows = list(rows)
    raise RuntimeError(f"the CSV writer broke after {len(rows)} rows")


def fail_to_audit(**kwargs):
    raise RuntimeError("the audit insert failed")


def page_client(user) -> Client:
    """Signed in just now (the reveal guard's recent sign-in); a server error comes back as the
    error page instead of being raised in the test."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    session = client.session
    session[SESSION_AUTH_TIME] = int(time.time())
    session.save()
    return client


def export_page(world):
    client = page_client(world.admin_a)
    return lambda: client.post(
        reverse("extensions:extension_export", kwargs={"hotline_pk": world.hotline_a.pk})
    )


def export_api(world):
    client = api_client(world.admin_a)
    client.raise_request_exception = False
    return lambda: client.post(
        f"/api/v1/extensions/export/?hotline={world.hotline_a.pk}", HTTP_ACCEPT="text/html"
    )


@pytest.mark.parametrize("export", [export_page, export_api], ids=["page", "api"])
@pytest.mark.parametrize(
    "target, name, failure",
    # The audit record of the operation, written before any row is read (the per-extension
    # records of each batch, written while the response streams: test_export_stream.py).
    [(csvio, "write", fail_after_reading_every_row), (imports, "audit_record", fail_to_audit)],
    ids=["writer-fails", "audit-fails"],
)
def test_the_debug_page_of_a_failed_export_shows_no_password(
    world, settings, monkeypatch, export, target, name, failure
):
    settings.DEBUG = True
    settings.DEBUG_PAGES = True  # Django's technical page, with locals
    monkeypatch.setattr(target, name, failure)
    response = export(world)()
    page = response.content.decode()
    assert response.status_code == 500
    assert "RuntimeError" in page and "Local vars" in page  # Django's technical page, with locals
    for extension in world.ext_a.values():
        assert extension.get_sip_password() not in page


@pytest.mark.parametrize("batch", [1000, 2])
def test_the_export_writes_its_audit_rows_before_it_decrypts_a_password(world, monkeypatch, batch):
    """The order, seen from the inside: every decrypt happens once the audit rows of its batch
    exist (one batch of 3, or batches of 2 and 1: the second batch's rows come after the first
    batch's decrypts, before its own), and the operation's record before anything is read."""
    monkeypatch.setattr(imports, "EXPORT_BATCH", batch)
    decrypted_with_audit_rows = []
    real = imports.Extension.get_sip_password
    extension_rows = AuditEvent.objects.filter(action=Action.EXPORT, object_type="extensions.extension")

    def spy(extension):
        assert extension_rows.filter(object_id=str(extension.pk)).exists()
        decrypted_with_audit_rows.append(extension_rows.count())
        return real(extension)

    monkeypatch.setattr(imports.Extension, "get_sip_password", spy)
    rows = imports.export_rows_with_passwords(hotline=world.hotline_a, user=world.admin_a)
    assert decrypted_with_audit_rows == [] and not extension_rows.exists()
    assert AuditEvent.objects.filter(action=Action.EXPORT, object_type="hotlines.hotline").count() == 1
    assert [row["password"] for row in rows] == [real(e) for e in world.ext_a.values()]
    assert decrypted_with_audit_rows == ([3, 3, 3] if batch > 3 else [2, 2, 3])


# --- the DEBUG error pages of the other routes that hold a password ---------------------------------


def fail(*args, **kwargs):
    raise RuntimeError("failed while holding a password")


def test_the_debug_page_of_a_failed_reveal_shows_no_password(world, settings, monkeypatch):
    settings.DEBUG = True
    settings.DEBUG_PAGES = True  # Django's technical page, with locals
    extension = world.ext_a["101"]
    monkeypatch.setattr(LoginInfo, "as_text", fail)  # after the password was read, before the page
    response = page_client(world.admin_a).post(
        reverse("extensions:extension_reveal", kwargs={"pk": extension.pk})
    )
    assert response.status_code == 500 and "Local vars" in response.content.decode()
    assert extension.get_sip_password() not in response.content.decode()


def test_the_debug_page_of_a_failed_api_reveal_shows_no_password(world, settings, monkeypatch):
    settings.DEBUG = True
    settings.DEBUG_PAGES = True  # Django's technical page, with locals
    extension = world.ext_a["101"]
    monkeypatch.setattr(ExtensionViewSet, "_login_info_response", fail)
    client = api_client(world.admin_a)
    client.raise_request_exception = False
    response = client.post(f"/api/v1/extensions/{extension.pk}/credentials/", HTTP_ACCEPT="text/html")
    assert response.status_code == 500 and "Local vars" in response.content.decode()
    assert extension.get_sip_password() not in response.content.decode()


def test_the_debug_page_of_a_failed_bulk_regenerate_shows_no_new_password(world, settings, monkeypatch):
    settings.DEBUG = True
    settings.DEBUG_PAGES = True  # Django's technical page, with locals
    monkeypatch.setattr(bulk_views.messages, "success", fail)  # after the new passwords were made
    response = page_client(world.admin_a).post(
        reverse("extensions:extension_bulk_regenerate", kwargs={"hotline_pk": world.hotline_a.pk}),
        {"pk": [e.pk for e in world.ext_a.values()], "step": "apply"},
    )
    page = response.content.decode()
    assert response.status_code == 500 and "Local vars" in page
    for extension in Extension.objects.filter(hotline=world.hotline_a):
        assert extension.get_sip_password() not in page


def test_the_debug_page_of_a_failed_edit_shows_no_typed_password(world, settings, monkeypatch):
    settings.DEBUG = True
    settings.DEBUG_PAGES = True  # Django's technical page, with locals
    extension = world.ext_a["101"]
    monkeypatch.setattr(views.services, "extension_update", fail)
    response = page_client(world.admin_a).post(
        reverse("extensions:extension_edit", kwargs={"pk": extension.pk}),
        {
            "alias": extension.alias,
            "call_permission": extension.call_permission,
            "enabled": "on",
            "version": extension.version,
            "password": "Typed-Secret-2026",
        },
    )
    page = response.content.decode()
    assert response.status_code == 500 and "Local vars" in page
    assert "Typed-Secret-2026" not in page


def test_the_debug_page_of_a_failed_password_confirmation_shows_no_password(world, settings, monkeypatch):
    settings.DEBUG = True
    settings.DEBUG_PAGES = True  # Django's technical page, with locals
    world.admin_a.set_password("Sign-In-Secret-77")
    world.admin_a.save()
    monkeypatch.setattr(auth_views, "authenticate", fail)
    client = page_client(world.admin_a)
    response = client.post(reverse("confirm_password"), {"password": "Sign-In-Secret-77"})
    page = response.content.decode()
    assert response.status_code == 500 and "Local vars" in page
    assert "Sign-In-Secret-77" not in page
