"""The audit page as a person reads it: field labels, choices by label, extensions by number
(for rows written now and rows written before with ids), local time, a readable action filter,
and a query count that does not grow with the page."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from extensions.choices import CallPermission
from extensions.services import extension_update

pytestmark = pytest.mark.django_db


def _found(pattern: str, text: str, flags: int = 0) -> str:
    match = re.search(pattern, text, flags)
    assert match is not None, pattern
    return match.group(0)


URL = reverse("audit:auditevent_list")


def _page(client, user, language="vi", query="") -> str:
    client.force_login(user)
    if language == "en":
        client.post(reverse("set_language"), {"language": "en", "next": "/"})
    response = client.get(URL + query)
    assert response.status_code == 200
    return response.content.decode()


def _text(html: str) -> str:
    """The page's visible text, one space between words."""
    html = re.sub(r"</?strong>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _old_row(world, **changes) -> AuditEvent:
    """A row as the writer stored it before relations were named: ids."""
    ext = world.ext_a["102"]
    return AuditEvent.objects.create(
        tenant=world.tenant_a,
        action=Action.UPDATE,
        object_type="extensions.extension",
        object_id=str(ext.pk),
        object_repr="102 (kda)",
        changes=changes,
    )


def test_a_change_reads_with_labels_and_numbers(client, world):
    ext = world.ext_a["102"]
    extension_update(
        extension=ext,
        data={"call_permission": CallPermission.LANDLINE, "supervisor": world.ext_a["101"]},
    )
    extension_update(extension=ext, data={"supervisor": world.ext_a["100"]})
    text = _text(_page(client, world.admin_a))
    assert "Quyền gọi: Di động → Cố định" in text
    assert "Máy giám sát: — → 101" in text
    assert "Máy giám sát: 101 → 100" in text
    assert "call_permission" not in text and "supervisor:" not in text
    english = _text(_page(client, world.admin_a, "en"))
    assert "Call permission: Mobile → Landline" in english
    assert "Supervisor extension: 101 → 100" in english


def test_new_rows_store_numbers_and_names_not_ids(world):
    ext = world.ext_a["102"]
    extension_update(
        extension=ext,
        data={
            "supervisor": world.ext_a["100"],
            "outbound_hotlines": [world.hotline_a2],
            "outbound_groups": [world.group_a],
        },
    )
    event = AuditEvent.objects.filter(object_id=str(ext.pk), action=Action.UPDATE).latest("id")
    assert event.changes["supervisor"] == [None, "100"]
    assert event.changes["outbound_hotlines"] == [[], [world.hotline_a2.number]]
    assert event.changes["outbound_groups"] == [[], ["Group A"]]


def test_rows_written_with_ids_read_as_numbers_even_after_a_delete(client, world):
    e100, e101 = world.ext_a["100"], world.ext_a["101"]
    _old_row(
        world,
        supervisor=[e100.pk, e101.pk],
        outbound_groups=[[], [world.group_a.pk]],
        outbound_hotlines=[[world.hotline_a2.pk], []],
        call_permission=[3, 2],
        enabled=[True, False],
    )
    text = _text(_page(client, world.admin_a))
    assert "Máy giám sát: 100 → 101" in text
    assert "Nhóm đầu số gọi ra: — → Group A" in text
    assert f"Đầu số gọi ra: {world.hotline_a2.number} → —" in text
    assert "Quyền gọi: Di động → Cố định" in text
    assert "Đang hoạt động: Có → Không" in text


def test_secrets_only_say_that_they_changed(client, world):
    extension_update(extension=world.ext_a["102"], data={}, password="An0ther-Secret-Y")
    html = _page(client, world.admin_a)
    assert "Mật khẩu</strong>: đã đổi" in html
    assert "••••••" not in html and "An0ther-Secret-Y" not in html


def test_times_are_local_in_the_one_format(client, world):
    AuditEvent.objects.filter(tenant=world.tenant_a).update(
        created_at=datetime(2026, 12, 2, 6, 27, tzinfo=UTC)
    )
    assert "02/12/2026 13:27" in _page(client, world.admin_a)
    assert "2 Dec 2026 13:27" in _page(client, world.admin_a, "en")


def test_the_action_filter_lists_translated_labels(client, world):
    html = _page(client, world.admin_a)
    select = _found(r'<select name="action".*?</select>', html, re.S)
    assert ">Tất cả thao tác<" in select and "---------" not in select
    assert ">Đã sửa<" in select and ">Đã hiện thông tin đăng nhập<" in select
    english = _page(client, world.admin_a, "en")
    select = _found(r'<select name="action".*?</select>', english, re.S)
    assert ">All actions<" in select and ">Changed<" in select


def _queries(client, user) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_the_rows(client, world):
    exts = list(world.ext_a.values())
    for i in range(5):
        _old_row(
            world,
            supervisor=[exts[i % 3].pk, exts[(i + 1) % 3].pk],
            outbound_groups=[[], [world.group_a.pk]],
            outbound_hotlines=[[world.hotline_a.pk], []],
        )
    few = _queries(client, world.admin_a)
    for i in range(40):
        _old_row(world, supervisor=[exts[i % 3].pk, None], outbound_hotlines=[[world.hotline_a.pk], []])
    assert _queries(client, world.admin_a) == few
