"""Bulk edit and range create show one field each for "Máy giám sát" and "Nhóm đầu số" (the
searchable supervisor picker, as on the extension form); a loop message names only the rows
that make the loop; the create and edit forms have "Hủy"."""

import re

import pytest
from django.urls import reverse

from extensions.models import Extension
from extensions.services import extension_update

pytestmark = pytest.mark.django_db


def _found(pattern: str, text: str, flags: int = 0) -> str:
    match = re.search(pattern, text, flags)
    assert match is not None, pattern
    return match.group(0)


def _form(html: str) -> str:
    """The page's main form (the menu above it also says "Nhóm đầu số")."""
    return _found(r'<form method="post"[^>]*novalidate>.*?</form>', html, re.S)


def _labels(form: str, text: str) -> int:
    """How many labels or legends of the form read exactly `text`."""
    return len(
        re.findall(rf"<(?:label|legend)[^>]*>\s*{re.escape(text)}(?:<span[^>]*>\*</span>)?\s*</", form)
    )


def _bulk_edit_page(client, world, *numbers) -> str:
    client.force_login(world.admin_a)
    response = client.post(
        reverse("extensions:extension_bulk_edit", kwargs={"hotline_pk": world.hotline_a.pk}),
        {"pk": [world.ext_a[n].pk for n in numbers]},
    )
    assert response.status_code == 200
    return response.content.decode()


def test_bulk_edit_has_one_supervisor_field_and_one_number_group_field(client, world):
    form = _form(_bulk_edit_page(client, world, "101", "102"))
    assert _labels(form, "Máy giám sát") == 1
    assert _labels(form, "Nhóm đầu số") == 1
    assert form.count("data-picker=") == 1  # the searchable picker
    assert 'name="supervisor_action"' not in form and 'name="groups_action"' not in form


def test_range_create_has_one_supervisor_field_and_one_number_group_field(client, world):
    client.force_login(world.admin_a)
    html = client.get(
        reverse("extensions:extension_add_range", kwargs={"hotline_pk": world.hotline_a.pk})
    ).content.decode()
    form = _form(html)
    assert _labels(form, "Máy giám sát") == 1
    assert _labels(form, "Nhóm đầu số") == 1
    assert form.count("data-picker=") == 1


def _bulk_edit(client, world, numbers, **values):
    client.force_login(world.admin_a)
    return client.post(
        reverse("extensions:extension_bulk_edit", kwargs={"hotline_pk": world.hotline_a.pk}),
        {"pk": [world.ext_a[n].pk for n in numbers], "step": "apply", **values},
    )


def test_a_typed_supervisor_sets_it_and_the_box_removes_it(client, world):
    assert _bulk_edit(client, world, ["102"], supervisor="100").status_code == 302
    assert Extension.objects.get(pk=world.ext_a["102"].pk).supervisor_id == world.ext_a["100"].pk
    assert _bulk_edit(client, world, ["101", "102"], clear_supervisor="on").status_code == 302
    assert not Extension.objects.filter(pk__in=[world.ext_a["101"].pk, world.ext_a["102"].pk]).exclude(
        supervisor=None
    )


def test_ticked_groups_replace_none_ticked_keeps_and_the_box_removes(client, world):
    e101 = world.ext_a["101"]
    assert list(e101.outbound_groups.all()) == [world.group_a]
    assert _bulk_edit(client, world, ["101"], enabled="false").status_code == 302
    assert list(e101.outbound_groups.all()) == [world.group_a]  # kept
    assert _bulk_edit(client, world, ["101"], clear_groups="on").status_code == 302
    assert not e101.outbound_groups.exists()
    assert _bulk_edit(client, world, ["101", "102"], outbound_groups=[world.group_a.pk]).status_code == 302
    assert list(world.ext_a["102"].outbound_groups.all()) == [world.group_a]


def test_a_value_and_its_removal_together_are_refused(client, world):
    response = _bulk_edit(
        client,
        world,
        ["102"],
        supervisor="100",
        clear_supervisor="on",
        outbound_groups=[world.group_a.pk],
        clear_groups="on",
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nhập máy giám sát hoặc bỏ nó, không phải cả hai." in html
    assert "Đánh dấu nhóm hoặc bỏ tất cả, không phải cả hai." in html


def test_a_loop_message_names_only_the_rows_on_the_loop(client, world):
    # 102 → 101 → 100 today; making 100 and 102 supervised by 101 closes 100 → 101 → 100 only:
    # 102 hangs off the loop but is not on it.
    extension_update(extension=world.ext_a["102"], data={"supervisor": world.ext_a["101"]})
    response = _bulk_edit(client, world, ["100", "102"], supervisor="101")
    assert response.status_code == 400
    html = response.content.decode()
    table = _found(r'<div class="alert alert-danger" id="per-number-errors">.*?</table>', html, re.S)
    rows = re.findall(r'<td class="fw-semibold">(\d+)</td>', table)
    assert rows == ["100"]
    assert "100 → 101 → 100" in table and "102 →" not in table


@pytest.mark.parametrize("editing", [False, True])
def test_the_extension_form_has_a_cancel_link(client, world, editing):
    client.force_login(world.admin_a)
    ext = world.ext_a["101"]
    if editing:
        page = reverse("extensions:extension_edit", kwargs={"pk": ext.pk})
        back = reverse("extensions:extension_detail", kwargs={"pk": ext.pk})
    else:
        page = reverse("extensions:extension_add", kwargs={"hotline_pk": world.hotline_a.pk})
        back = reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk})
    form = _found(r'<form method="post" novalidate>.*?</form>', client.get(page).content.decode(), re.S)
    assert re.search(rf'<a class="btn btn-outline-secondary" href="{re.escape(back)}">Hủy</a>', form)
