"""/api/v1/extensions/bulk/, import/ and export/: the bulk services through the API, mirroring
test_bulk_views (same rules, same refusals)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.choices import Action
from audit.models import AuditEvent
from extensions.choices import CallPermission
from extensions.models import Extension
from tests.api import api_client, errors

pytestmark = pytest.mark.django_db

HEADER = "number,alias,call_permission,supervisor,outbound_hotlines,outbound_groups,description,enabled"
BULK = "/api/v1/extensions/bulk/"
IMPORT = "/api/v1/extensions/import/"
EXPORT = "/api/v1/extensions/export/"


@pytest.fixture
def admin(world):
    return api_client(world.admin_a)


def test_the_routes_are_where_the_contract_says():
    assert reverse("api:extension-bulk") == BULK
    assert reverse("api:extension-import-csv") == IMPORT
    assert reverse("api:extension-export-csv") == EXPORT


# --- bulk ---------------------------------------------------------------------------------------


def test_range_create(admin, world):
    response = admin.post(
        BULK,
        {
            "action": "create_range",
            "hotline": world.hotline_a.pk,
            "first": "200",
            "last": "299",
            "alias_pattern": "sale{n}",
            "call_permission": "landline",
            "supervisor": world.ext_a["100"].pk,
            "outbound_groups": [world.group_a.pk],
            "description": "Ca chiều",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["count"] == 100 and len(body["results"]) == 100
    item = next(i for i in body["results"] if i["number"] == "250")
    assert item["alias"] == "sale250" and item["call_permission"] == "landline"
    assert item["supervisor"] == world.ext_a["100"].pk and item["outbound_groups"] == [world.group_a.pk]
    assert "password" not in item


def test_range_create_errors_are_per_number(admin, world):
    response = admin.post(
        BULK,
        {
            "action": "create_range",
            "hotline": world.hotline_a.pk,
            "first": "099",
            "last": "103",
            "alias_pattern": "x{n}",
        },
    )
    assert "already exists" in errors(response, "101")
    assert set(response.json()) == {"100", "101", "102"}
    response = admin.post(
        BULK,
        {
            "action": "create_range",
            "hotline": world.hotline_a.pk,
            "first": "100",
            "last": "5000",
            "alias_pattern": "x{n}",
        },
    )
    assert "at most 1000" in errors(response, "last")
    assert not Extension.objects.filter(alias__startswith="x").exists()


def test_range_create_on_another_tenants_hotline_is_refused(admin, world):
    response = admin.post(
        BULK,
        {
            "action": "create_range",
            "hotline": world.hotline_b.pk,
            "first": "500",
            "last": "501",
            "alias_pattern": "x{n}",
        },
    )
    assert "does not exist" in errors(response, "hotline")


def test_bulk_update_and_cycle_refusal(admin, world):
    ids = [world.ext_a["101"].pk, world.ext_a["102"].pk]
    response = admin.post(
        BULK, {"action": "update", "ids": ids, "call_permission": "internal", "enabled": False}
    )
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 2
    assert set(Extension.objects.filter(pk__in=ids).values_list("call_permission", "enabled")) == {
        (CallPermission.INTERNAL, False)
    }
    assert AuditEvent.objects.filter(action=Action.UPDATE, object_id__in=map(str, ids)).count() == 2
    response = admin.post(
        BULK, {"action": "update", "ids": [world.ext_a["100"].pk], "supervisor": world.ext_a["101"].pk}
    )
    assert "supervision cycle (100 → 101 → 100)" in errors(response, "100")


def test_bulk_update_of_other_tenants_ids_is_refused(admin, world):
    response = admin.post(BULK, {"action": "update", "ids": [world.ext_b["100"].pk], "enabled": False})
    assert "Unknown extension id(s)" in errors(response, "ids")
    assert Extension.objects.get(pk=world.ext_b["100"].pk).enabled


def test_bulk_regenerate_returns_passwords_only_when_revealed(admin, world):
    ids = [world.ext_a["100"].pk, world.ext_a["102"].pk]
    response = admin.post(BULK, {"action": "regenerate_passwords", "ids": ids})
    assert response.status_code == 200 and "credentials" not in response.json()
    assert not AuditEvent.objects.filter(action=Action.REVEAL).exists()
    response = admin.post(BULK, {"action": "regenerate_passwords", "ids": ids, "reveal": True})
    body = response.json()
    assert response["Cache-Control"] == "no-store"
    by_user = {c["username"]: c["password"] for c in body["credentials"]}
    assert by_user["100"] == Extension.objects.get(pk=ids[0]).get_sip_password()
    assert AuditEvent.objects.filter(action=Action.REVEAL).count() == 2
    assert AuditEvent.objects.filter(action=Action.ROTATE_PASSWORD).count() == 4


def test_bulk_regenerate_with_reveal_obeys_the_rate_limit(admin, world, settings):
    settings.BULK_RATE_LIMIT = (0, 3600)  # a bulk operation of the guard: the bulk budget
    before = Extension.objects.get(pk=world.ext_a["100"].pk).ha1
    response = admin.post(
        BULK, {"action": "regenerate_passwords", "ids": [world.ext_a["100"].pk], "reveal": True}
    )
    assert response.status_code == 429
    assert Extension.objects.get(pk=world.ext_a["100"].pk).ha1 == before


def test_bulk_needs_a_known_action(admin):
    assert "Choose one of" in errors(admin.post(BULK, {"action": "explode"}), "action")
    assert "Choose one of" in errors(admin.post(BULK, [1, 2], format="json"), "action")


# --- import -------------------------------------------------------------------------------------


def csv_post(client, world, text, *, dry_run=None, multipart=False, hotline=None):
    params = {"hotline": (hotline or world.hotline_a).pk}
    if dry_run is not None:
        params["dry_run"] = "true" if dry_run else "false"
    url = f"{IMPORT}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
    data = text.encode("utf-8") if isinstance(text, str) else text
    if multipart:
        from django.core.files.uploadedfile import SimpleUploadedFile

        return client.post(url, {"file": SimpleUploadedFile("x.csv", data)}, format="multipart")
    return client.generic("POST", url, data, content_type="text/csv")


@pytest.mark.parametrize("multipart", [False, True])
def test_import_dry_run_then_apply(admin, world, multipart):
    text = f"\ufeff{HEADER}\r\n100,bossa,internal,,,,Trưởng phòng,true\r\n103,kd03,mobile,100,,,,có\r\n"
    preview = csv_post(admin, world, text, multipart=multipart)  # dry run by default
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["applied"] is False and body["ok"] is True
    assert body["counts"] == {"create": 1, "update": 1, "unchanged": 0, "error": 0}
    assert body["rows"][0]["changes"]["description"] == ["", "Trưởng phòng"]
    assert not Extension.objects.filter(hotline=world.hotline_a, number="103").exists()
    applied = csv_post(admin, world, text, dry_run=False, multipart=multipart)
    assert applied.json()["applied"] is True
    assert Extension.objects.get(hotline=world.hotline_a, number="103").supervisor == world.ext_a["100"]


def test_import_apply_with_an_error_row_writes_nothing(admin, world):
    text = f"{HEADER}\r\n103,kd03,mobile,,,,,true\r\n104,kd 04,mobile,,,,,true\r\n"
    response = csv_post(admin, world, text, dry_run=False)
    assert "104: Alias: The alias has spaces" in errors(response, "line 3")
    assert not Extension.objects.filter(hotline=world.hotline_a, number="103").exists()
    preview = csv_post(admin, world, text, dry_run=True).json()
    assert [row["action"] for row in preview["rows"]] == ["create", "error"]


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "Send the CSV"),
        (b"number,alias\r\n", "header but no rows"),
        ("number,description\r\n100,Nhân\r\n".encode("cp1252"), "not UTF-8"),
        (b"number,number\r\n1,2\r\n", "more than once"),
        (b"number,alias\r\n100,=cmd|' /C calc'!A0\r\n", "formula"),
    ],
)
def test_import_of_hostile_files_is_a_400_that_writes_nothing(admin, world, data, fragment):
    before = Extension.objects.count()
    response = csv_post(admin, world, data, dry_run=False)
    assert response.status_code == 400
    assert fragment in str(response.json())
    assert Extension.objects.count() == before


def test_import_of_100000_rows_is_refused(admin, world):
    data = HEADER + "\r\n" + "".join(f"{100000 + i},a{i},mobile,,,,,true\r\n" for i in range(100_000))
    response = csv_post(admin, world, data, dry_run=False, multipart=True)
    assert "more than 20000 rows" in errors(response, "file")


def test_import_needs_an_own_hotline_and_a_csv_body(admin, world):
    assert "does not exist" in errors(csv_post(admin, world, HEADER, hotline=world.hotline_b), "hotline")
    response = admin.post(f"{IMPORT}?hotline={world.hotline_a.pk}", {"file": "x"}, format="json")
    assert response.status_code == 415


# --- export -------------------------------------------------------------------------------------


def test_export_round_trip_through_the_api(admin, world):
    response = admin.get(EXPORT, {"hotline": world.hotline_a.pk})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content)
    assert b"password" not in text
    preview = csv_post(admin, world, text).json()
    assert preview["counts"] == {"create": 0, "update": 0, "unchanged": 3, "error": 0}


def test_export_with_passwords_is_guarded_and_audited(admin, world):
    response = admin.post(f"{EXPORT}?hotline={world.hotline_a.pk}")
    text = b"".join(response.streaming_content).decode()
    assert world.ext_a["100"].get_sip_password() in text
    assert AuditEvent.objects.filter(action=Action.EXPORT, object_type="extensions.extension").count() == 3
    assert AuditEvent.objects.filter(action=Action.EXPORT, object_type="hotlines.hotline").count() == 1
    # A browser session signed in long ago must sign in again first.
    browser = APIClient()
    browser.force_login(world.admin_a)
    session = browser.session
    session["auth_time"] = 0
    session.save()
    refused = browser.post(f"{EXPORT}?hotline={world.hotline_a.pk}")
    assert refused.status_code == 403
    assert AuditEvent.objects.filter(action=Action.EXPORT).count() == 4


def test_bulk_routes_are_admin_only(world):
    agent = api_client(world.agent_a)
    anonymous = api_client()
    for client, expected in ((agent, 403), (anonymous, 401)):
        assert (
            client.post(
                BULK, {"action": "update", "ids": [world.ext_a["101"].pk], "enabled": False}
            ).status_code
            == expected
        )
        assert client.get(EXPORT, {"hotline": world.hotline_a.pk}).status_code == expected
        assert csv_post(client, world, HEADER).status_code == expected
