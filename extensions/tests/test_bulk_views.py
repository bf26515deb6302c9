"""The bulk pages: range create, bulk edit, bulk passwords, CSV import (preview → apply) and
export, as a tenant admin uses them; plus who may open them."""

import re
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from core.guard import SESSION_AUTH_TIME
from extensions.bulk_views import progress_reporter
from extensions.choices import CallPermission, ImportStatus
from extensions.models import Extension, ImportJob

pytestmark = pytest.mark.django_db

HEADER = "number,alias,call_permission,supervisor,outbound_hotlines,outbound_groups,description,enabled"


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def url(name, **kwargs):
    return reverse(f"extensions:{name}", kwargs=kwargs)


def upload(client, hotline, text, name="staff.csv", **extra):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return client.post(
        url("extension_import", hotline_pk=hotline.pk),
        {"file": SimpleUploadedFile(name, data, content_type="text/csv"), **extra},
    )


# --- the list page ------------------------------------------------------------------------------


def test_list_page_has_checkboxes_and_the_bulk_bar(admin_client, world):
    html = admin_client.get(url("extension_list", hotline_pk=world.hotline_a.pk)).content.decode()
    assert 'id="bulk-form"' in html
    assert html.count('class="form-check-input js-select-row"') == 3
    assert f'name="pk" value="{world.ext_a["101"].pk}" form="bulk-form"' in html
    assert url("extension_bulk_edit", hotline_pk=world.hotline_a.pk) in html
    assert "js/bulk.js" in html and "<script>" not in html and "style=" not in html


# --- range create -------------------------------------------------------------------------------


def test_range_create_through_the_form(admin_client, world):
    response = admin_client.post(
        url("extension_add_range", hotline_pk=world.hotline_a.pk),
        {
            "first": "200",
            "last": "219",
            "alias_pattern": "sale{n}",
            "call_permission": CallPermission.LANDLINE,
            "supervisor": "100",
            "outbound_groups": [world.group_a.pk],
            "description": "Ca sáng",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    created = Extension.objects.filter(hotline=world.hotline_a, alias__startswith="sale2")
    assert created.count() == 20
    assert set(created.values_list("supervisor__number", flat=True)) == {"100"}


def test_range_create_shows_per_number_errors(admin_client, world):
    response = admin_client.post(
        url("extension_add_range", hotline_pk=world.hotline_a.pk),
        {
            "first": "099",
            "last": "105",
            "alias_pattern": "x{n}",
            "call_permission": CallPermission.MOBILE,
            "enabled": "on",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="per-number-errors"' in html
    for number in ("100", "101", "102"):
        assert re.search(
            rf'<td class="fw-semibold">{number}</td><td>Extension number: This extension '
            r"number already exists",
            html,
        )
    assert not Extension.objects.filter(alias__startswith="x").exists()


def test_range_create_refuses_an_unknown_supervisor_and_too_many(admin_client, world):
    response = admin_client.post(
        url("extension_add_range", hotline_pk=world.hotline_a.pk),
        {
            "first": "1000",
            "last": "2000",
            "alias_pattern": "x{n}",
            "supervisor": "777",
            "call_permission": CallPermission.MOBILE,
        },
    )
    form = response.context["form"]
    assert "There is no extension 777 on this hotline." in form.errors["supervisor"]
    assert response.status_code == 400


# --- bulk edit ----------------------------------------------------------------------------------


def test_bulk_edit_asks_then_confirms_then_applies(admin_client, world):
    edit = url("extension_bulk_edit", hotline_pk=world.hotline_a.pk)
    ids = [world.ext_a["101"].pk, world.ext_a["102"].pk]
    step1 = admin_client.post(edit, {"pk": ids})
    assert step1.status_code == 200
    assert "101 (salea)" in step1.content.decode()
    values = {
        "pk": ids,
        "call_permission": str(CallPermission.INTERNAL),
        "supervisor": "100",
        "enabled": "false",
    }
    step2 = admin_client.post(edit, {**values, "step": "preview"})
    html = step2.content.decode()
    assert step2.status_code == 200 and 'id="bulk-changes"' in html
    assert "Internal" in html and "Mobile" in html  # now → after
    assert Extension.objects.get(pk=ids[1]).call_permission == CallPermission.MOBILE  # not yet
    step3 = admin_client.post(edit, {**values, "step": "apply"})
    assert step3.status_code == 302
    for ext in Extension.objects.filter(pk__in=ids):
        assert (ext.call_permission, ext.supervisor_id, ext.enabled) == (
            CallPermission.INTERNAL,
            world.ext_a["100"].pk,
            False,
        )
    assert AuditEvent.objects.filter(action=Action.UPDATE, object_id__in=map(str, ids)).count() == 2


def test_bulk_edit_refuses_a_cycle_with_the_extension_named(admin_client, world):
    response = admin_client.post(
        url("extension_bulk_edit", hotline_pk=world.hotline_a.pk),
        {
            "pk": [world.ext_a["100"].pk],
            "supervisor": "101",
            "step": "preview",
        },
    )
    assert response.status_code == 400
    assert "supervision cycle (100 → 101 → 100)" in response.content.decode()
    assert Extension.objects.get(pk=world.ext_a["100"].pk).supervisor_id is None


def test_bulk_edit_needs_a_selection_and_a_change(admin_client, world):
    edit = url("extension_bulk_edit", hotline_pk=world.hotline_a.pk)
    response = admin_client.post(edit, {}, follow=True)
    assert "Select at least one extension." in response.content.decode()
    response = admin_client.post(edit, {"pk": [world.ext_a["100"].pk], "step": "preview"})
    assert response.status_code == 400
    assert "Choose at least one thing to change." in response.content.decode()


def test_bulk_edit_cannot_reach_another_tenants_extensions(admin_client, world):
    response = admin_client.post(
        url("extension_bulk_edit", hotline_pk=world.hotline_a.pk),
        {"pk": [world.ext_b["100"].pk], "enabled": "false", "step": "apply"},
        follow=True,
    )
    assert "not one of the available choices" in response.content.decode()
    assert Extension.objects.get(pk=world.ext_b["100"].pk).enabled
    response = admin_client.post(
        url("extension_bulk_edit", hotline_pk=world.hotline_b.pk), {"pk": [world.ext_b["100"].pk]}
    )
    assert response.status_code == 404


# --- bulk passwords -----------------------------------------------------------------------------


def test_bulk_regenerate_confirms_then_regenerates(admin_client, world):
    regenerate = url("extension_bulk_regenerate", hotline_pk=world.hotline_a.pk)
    ids = [world.ext_a["100"].pk, world.ext_a["102"].pk]
    old = {pk: Extension.objects.get(pk=pk).ha1 for pk in ids}
    confirm = admin_client.post(regenerate, {"pk": ids})
    assert confirm.status_code == 200 and "Generate new passwords" in confirm.content.decode()
    assert {pk: Extension.objects.get(pk=pk).ha1 for pk in ids} == old
    done = admin_client.post(regenerate, {"pk": ids, "step": "apply"})
    assert done.status_code == 302
    assert all(Extension.objects.get(pk=pk).ha1 != old[pk] for pk in ids)
    assert AuditEvent.objects.filter(action=Action.ROTATE_PASSWORD).count() == 2


# --- import -------------------------------------------------------------------------------------


def test_import_preview_then_apply(admin_client, world):
    text = f"\ufeff{HEADER}\r\n100,bossa,internal,,,,Trưởng phòng,true\r\n103,kd03,mobile,100,,,Mới,có\r\n"
    response = upload(admin_client, world.hotline_a, text)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == url("import_job", pk=job.pk)
    page = admin_client.get(response.url).content.decode()
    assert 'id="apply-import"' in page
    assert "Trưởng phòng" in page and "import-create" in page and "import-update" in page
    assert not Extension.objects.filter(number="103", hotline=world.hotline_a).exists()
    token = "a" * 32
    applied = admin_client.post(url("import_job_apply", pk=job.pk), {"progress": token})
    assert applied.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.APPLIED
    assert Extension.objects.get(number="103", hotline=world.hotline_a).supervisor == world.ext_a["100"]
    # The progress the page polls reached the end.
    state = admin_client.get(url("import_progress"), {"token": token}).json()
    assert state["phase"] == "writing" and state["percent"] == 100
    again = admin_client.post(url("import_job_apply", pk=job.pk), follow=True)
    assert "already applied" in again.content.decode()


def test_import_preview_lists_errors_and_offers_no_apply(admin_client, world):
    upload(admin_client, world.hotline_a, f"{HEADER}\r\n103,kd 03,mobile,,,,=1+1,true\r\n")
    page = admin_client.get(url("import_job", pk=ImportJob.objects.get().pk)).content.decode()
    assert "apply-import" not in page
    assert "The alias has spaces" in page and "kd.03" in page and "formula" in page


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "The submitted file is empty."),
        ("number,alias\r\n100,Nhân\r\n".encode("cp1252"), "not UTF-8"),
        (b"foo,bar\r\n1,2\r\n", "Unknown column(s)"),
        (HEADER.encode() + b"\r\n", "header but no rows"),
    ],
)
def test_unreadable_uploads_are_refused_on_the_form(admin_client, world, data, fragment):
    response = upload(admin_client, world.hotline_a, data)
    assert response.status_code == 400
    assert any(fragment in error for error in response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_progress_is_per_user(client, world):
    client.force_login(world.admin_b)
    progress_reporter(user=world.admin_a, token="b" * 32)("writing", 5, 10)
    assert client.get(url("import_progress"), {"token": "b" * 32}).status_code == 404
    client.force_login(world.admin_a)
    assert client.get(url("import_progress"), {"token": "b" * 32}).json()["percent"] == 50


def test_someone_elses_import_is_not_found(client, world):
    client.force_login(world.admin_a)
    upload(client, world.hotline_a, f"{HEADER}\r\n103,kd03,mobile,,,,,true\r\n")
    job = ImportJob.objects.get()
    client.force_login(world.admin_b)
    assert client.get(url("import_job", pk=job.pk)).status_code == 404
    assert client.post(url("import_job_apply", pk=job.pk)).status_code == 404


# --- export -------------------------------------------------------------------------------------


def test_export_without_passwords_is_a_download(admin_client, world):
    response = admin_client.get(url("extension_export", hotline_pk=world.hotline_a.pk))
    body = b"".join(response.streaming_content).decode("utf-8")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert body.startswith("\ufeffnumber,alias,") and "password" not in body


def test_export_with_passwords_needs_a_recent_sign_in_and_is_audited(admin_client, world):
    export = url("extension_export", hotline_pk=world.hotline_a.pk)
    session = admin_client.session
    session[SESSION_AUTH_TIME] = int(time.time()) - settings.REVEAL_REAUTH_SECONDS - 5
    session.save()
    response = admin_client.post(export)
    assert response.status_code == 302 and reverse("confirm_password") in response.url
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()
    session[SESSION_AUTH_TIME] = int(time.time())
    session.save()
    response = admin_client.post(export)
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.splitlines()[0].endswith(",enabled,password")
    assert world.ext_a["101"].get_sip_password() in body
    assert response["Cache-Control"] == "no-store"
    # One record per extension, and one of the operation (the hotline, with its count).
    exported = AuditEvent.objects.filter(action=Action.EXPORT, actor=world.admin_a)
    assert exported.filter(object_type="extensions.extension").count() == 3
    assert list(exported.filter(object_type="hotlines.hotline").values_list("object_id", "changes")) == [
        (str(world.hotline_a.pk), {"with_passwords": [False, True], "count": [0, 3]})
    ]


def test_export_then_import_through_the_pages_changes_nothing(admin_client, world):
    response = admin_client.get(url("extension_export", hotline_pk=world.hotline_a.pk))
    upload(admin_client, world.hotline_a, b"".join(response.streaming_content), name="export.csv")
    job = ImportJob.objects.get()
    assert job.summary["counts"] == {"create": 0, "update": 0, "unchanged": 3, "error": 0}


# --- who may use the bulk pages ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, method",
    [
        ("extension_add_range", "get"),
        ("extension_import", "get"),
        ("extension_export", "get"),
        ("extension_bulk_edit", "post"),
        ("extension_bulk_regenerate", "post"),
    ],
)
def test_bulk_pages_are_for_tenant_admins_only(client, world, name, method):
    target = url(name, hotline_pk=world.hotline_a.pk)
    response = getattr(client, method)(target)
    assert response.status_code == 302 and reverse("login") in response.url
    client.force_login(world.agent_a)
    assert getattr(client, method)(target).status_code == 403
    client.force_login(world.admin_b)
    assert getattr(client, method)(target).status_code == 404


def hidden_inputs(html: str) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        data.setdefault(name, []).append(value)
    return data


def test_bulk_edit_confirmation_page_carries_every_value(admin_client, world):
    """What the confirmation page posts back is what was reviewed (hidden fields)."""
    edit = url("extension_bulk_edit", hotline_pk=world.hotline_a.pk)
    ids = [world.ext_a["100"].pk, world.ext_a["102"].pk]
    preview = admin_client.post(
        edit,
        {
            "pk": ids,
            "step": "preview",
            "call_permission": "",
            "clear_supervisor": "on",
            "outbound_groups": [world.group_a.pk],
            "enabled": "false",
        },
    )
    data = hidden_inputs(preview.content.decode())
    assert data["step"] == ["apply"] and sorted(map(int, data["pk"])) == sorted(ids)
    assert admin_client.post(edit, data).status_code == 302
    for ext in Extension.objects.filter(pk__in=ids):
        assert list(ext.outbound_groups.all()) == [world.group_a] and not ext.enabled
        assert ext.call_permission == CallPermission.MOBILE  # kept


def test_import_preview_lists_every_row_over_pages(admin_client, world):
    rows = "".join(f"{1000 + i},n{i},mobile,,,,,true\r\n" for i in range(1200))
    upload(admin_client, world.hotline_a, f"{HEADER}\r\n{rows}")
    job_url = url("import_job", pk=ImportJob.objects.get().pk)
    numbers = []
    for page in (1, 2, 3):
        html = admin_client.get(job_url, {"page": page}).content.decode()
        numbers += re.findall(r'<td class="fw-semibold">(\d+)</td>', html)
    assert numbers == [str(1000 + i) for i in range(1200)]
    errors_only = admin_client.get(job_url, {"only": "error"}).content.decode()
    assert "No rows." in errors_only


def test_a_full_batch_of_1000_goes_through_the_bulk_edit_form(admin_client, world):
    """The form posts one `pk` per extension: a batch as large as the limit must fit in the
    request (Django refused more than 1,000 fields with TooManyFieldsSent)."""
    from extensions.services.bulk import MAX_BATCH, extension_range_create

    created = extension_range_create(
        hotline=world.hotline_a2, first="1000", last=str(999 + MAX_BATCH), alias_pattern="b{n}"
    )
    ids = [e.pk for e in created]
    bulk_edit = url("extension_bulk_edit", hotline_pk=world.hotline_a2.pk)
    form = {
        "pk": ids,
        "call_permission": CallPermission.INTERNAL,
        "enabled": "",
    }
    preview = admin_client.post(bulk_edit, {**form, "step": "preview"})
    assert preview.status_code == 200
    applied = admin_client.post(bulk_edit, {**form, "step": "apply"})
    assert applied.status_code == 302
    assert Extension.objects.filter(pk__in=ids, call_permission=CallPermission.INTERNAL).count() == MAX_BATCH
