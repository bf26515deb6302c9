"""CSV in the user's language: an import takes the column names and call permissions the
dashboard shows (Vietnamese or English) as well as the column codes; the preview and its errors
use labels; the export writes Vietnamese headers on request and imports back unchanged."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from extensions.choices import CallPermission, RowAction
from extensions.imports import import_apply, import_preview
from extensions.models import Extension, ImportJob
from extensions.services import extension_update

pytestmark = pytest.mark.django_db

VI_HEADER = "Số máy,Tên gợi nhớ,Quyền gọi,Máy giám sát,Đầu số gọi ra,Nhóm đầu số,Mô tả,Đang hoạt động"


def _text(header: str, *lines: str) -> str:
    return "\r\n".join([header, *lines]) + "\r\n"


def _state():
    return (
        sorted(
            Extension.objects.values_list(
                "hotline_id",
                "number",
                "alias",
                "call_permission",
                "supervisor_id",
                "description",
                "enabled",
                "password_encrypted",
            )
        ),
        sorted(Extension.outbound_hotlines.through.objects.values_list("extension_id", "hotline_id")),
        sorted(Extension.outbound_groups.through.objects.values_list("extension_id", "numbergroup_id")),
    )


def test_vietnamese_headers_and_permission_names_are_imported(world):
    hotline = world.hotline_a
    text = _text(
        VI_HEADER,
        "150,nv150,Nội bộ,100,,Group A,Phòng A,có",
        "151,nv151,Cố định,,,,,không",
        "152,nv152,di dong,,,,,có",  # without diacritics, as some keyboards type it
        "153,nv153,QUỐC TẾ,,,,,có",
        "154,nv154,mobile,,,,,true",  # the codes still work
    )
    result = import_apply(hotline=hotline, data=text)
    assert result.ok, [r.errors for r in result.rows]
    created = {
        e.number: e
        for e in Extension.objects.filter(hotline=hotline, number__in=["150", "151", "152", "153", "154"])
    }
    assert created["150"].call_permission == CallPermission.INTERNAL
    assert created["150"].supervisor == world.ext_a["100"]
    assert list(created["150"].outbound_groups.all()) == [world.group_a]
    assert created["150"].description == "Phòng A"
    assert created["151"].call_permission == CallPermission.LANDLINE and not created["151"].enabled
    assert created["152"].call_permission == CallPermission.MOBILE
    assert created["153"].call_permission == CallPermission.INTERNATIONAL
    assert created["154"].call_permission == CallPermission.MOBILE


def test_headers_without_diacritics_and_english_labels_are_imported(world):
    for header in ("so may,quyen goi", "Extension number,Call permission", "number,call_permission"):
        result = import_preview(hotline=world.hotline_a, data=_text(header, "101,Quốc tế"))
        assert result.ok, (header, result.file_errors)
        (row,) = result.rows
        assert row.action == RowAction.UPDATE and row.changes["call_permission"] == [
            "mobile",
            "international",
        ]


def _upload(client, hotline, text):
    return client.post(
        reverse("extensions:extension_import", kwargs={"hotline_pk": hotline.pk}),
        {"file": SimpleUploadedFile("staff.csv", text.encode(), content_type="text/csv")},
    )


def test_the_preview_and_its_errors_use_labels(client, world):
    client.force_login(world.admin_a)
    response = _upload(client, world.hotline_a, _text(VI_HEADER, "101,salea,Quốc tế,100,,Group A,,có"))
    assert response.status_code == 302, response.content.decode()[:2000]
    html = client.get(response["Location"]).content.decode()
    assert "<strong>Quyền gọi</strong>: " in html
    assert re.search(r"Di động</span> → Quốc tế", html)
    assert "call_permission" not in html and ">international<" not in html
    ImportJob.objects.all().delete()
    refused = _upload(client, world.hotline_a, _text(VI_HEADER, "101,salea,Sếp,100,,Group A,,có"))
    html = (
        client.get(refused["Location"]).content.decode()
        if refused.status_code == 302
        else refused.content.decode()
    )
    assert "Quyền gọi: “Sếp” không phải là quyền gọi" in html, html[:3000]
    assert "Nội bộ, Cố định, Di động, Quốc tế" in html


def test_an_unknown_column_lists_the_names_people_know(client, world):
    client.force_login(world.admin_a)
    html = _upload(client, world.hotline_a, _text("Số máy,Chức vụ", "101,x")).content.decode()
    assert "“Chức vụ”" in html
    assert "Quyền gọi (call_permission)" in html


def _export(client, hotline, language=None) -> str:
    url = reverse("extensions:extension_export", kwargs={"hotline_pk": hotline.pk})
    response = client.get(url, {"language": language} if language else {})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_the_import_page_offers_an_export_in_its_language(client, world):
    client.force_login(world.admin_a)
    html = client.get(
        reverse("extensions:extension_import", kwargs={"hotline_pk": world.hotline_a.pk})
    ).content.decode()
    assert re.search(r'href="[^"]+/export/\?language=vi" id="export-link"', html)
    assert '<input type="hidden" name="language" value="vi">' in html


def test_a_vietnamese_export_imports_back_with_nothing_changed_or_lost(client, world):
    hotline = world.hotline_a
    extension_update(
        extension=world.ext_a["102"],
        data={
            "call_permission": CallPermission.INTERNATIONAL,
            "enabled": False,
            "description": 'Kế toán; tầng 2, phòng "B"',
            "outbound_hotlines": [world.hotline_a2],
        },
    )
    extension_update(extension=world.ext_a["100"], data={"call_permission": CallPermission.INTERNAL})
    client.force_login(world.admin_a)
    text = _export(client, hotline, "vi")
    header, *lines = text.splitlines()
    assert header == VI_HEADER
    assert any(",Quốc tế," in line and line.endswith(",Không") for line in lines), lines
    assert any(",Nội bộ," in line for line in lines) and any(",Di động," in line for line in lines)
    before = _state()
    result = import_apply(hotline=hotline, data=text)
    assert result.ok, [r.errors for r in result.rows]
    assert {row.action for row in result.rows} == {RowAction.UNCHANGED}
    assert _state() == before


def test_english_labels_on_request_and_codes_by_default(client, world):
    client.force_login(world.admin_a)
    english = _export(client, world.hotline_a, "en").splitlines()
    assert english[0].startswith("Extension number,Alias,Call permission,Supervisor extension")
    assert english[1].startswith("100,") and ",Mobile," in english[1] and english[1].endswith(",Yes")
    codes = _export(client, world.hotline_a).splitlines()
    assert codes[0].startswith("number,alias,call_permission")
    assert ",mobile," in codes[1] and codes[1].endswith(",true")
