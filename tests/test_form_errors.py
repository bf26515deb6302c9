"""Errors you cannot miss: every form that comes back with errors starts with a summary linking to
each field (templates/partials/form_errors.html, drawn by crispy-forms for every form), the focus
goes to the first field in error, typed values stay (a typed password is cleared, and the page
says to type it again), and a long description shows a live count instead of being cut."""

import html

import pytest
from django.urls import reverse

from extensions.models import Extension
from tests.browser import chromium_page
from tests.test_browser import sign_in

PHONE = {"width": 375, "height": 812}


def _summary(page: str) -> str:
    assert 'id="error-summary"' in page, page[:2000]
    start = page.index('id="error-summary"')
    return html.unescape(page[start : page.index("</div>", start)])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "args", "data", "fields"),
    [
        (
            "extensions:extension_add",
            "hotline",
            {"number": "1", "alias": "a b", "call_permission": 3},
            ["id_number", "id_alias"],
        ),
        (
            "extensions:extension_add_range",
            "hotline",
            {"first": "x", "last": "", "alias_pattern": ""},
            ["id_last", "id_alias_pattern"],
        ),
        ("hotlines:numbergroup_add", None, {"name": "", "strategy": "first"}, ["id_name"]),
        ("confirm_password", None, {"password": "wrong"}, ["id_password"]),
    ],
)
def test_every_form_starts_with_a_summary_linking_to_each_field(client, world, name, args, data, fields):
    client.force_login(world.admin_a)
    url = reverse(name, args=[world.hotline_a.pk] if args else [])
    response = client.post(url, data)
    summary = _summary(response.content.decode())
    for field in fields:
        assert f'href="#{field}"' in summary


@pytest.mark.django_db
def test_the_sign_in_form_says_to_type_the_password_again(client, world):
    page = client.post(
        reverse("login"), {"username": world.admin_a.username, "password": "wrong"}
    ).content.decode()
    summary = _summary(page)
    assert "mật khẩu bạn đã gõ đã được xóa: hãy gõ lại" in summary
    assert f'value="{world.admin_a.username}"' in page  # the username stays


@pytest.mark.django_db
def test_the_bulk_edit_form_has_the_summary_too(client, world):
    client.force_login(world.admin_a)
    url = reverse("extensions:extension_bulk_edit", args=[world.hotline_a.pk])
    page = client.post(
        url,
        {"step": "preview", "pk": [world.ext_a["100"].pk], "supervisor_action": "set", "supervisor": "999"},
    ).content.decode()
    assert 'href="#id_supervisor"' in _summary(page)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_error_below_the_fold_is_announced_focused_and_keeps_what_was_typed(live_server, world):
    long_text = "Mô tả " * 170  # 1,020 characters: over the limit of 1,000
    with chromium_page() as page:
        page.set_viewport_size(PHONE)
        sign_in(page, live_server.url, world.admin_a.username, "pw")
        page.goto(f"{live_server.url}{reverse('extensions:extension_add', args=[world.hotline_a.pk])}")
        page.fill("#id_number", "150")
        page.fill("#id_alias", "Nguyễn Văn Hà")
        page.fill("#id_description", long_text)
        # A live count, and no maxlength to cut the text at.
        counter = page.locator("#id_description-counter")
        assert counter.inner_text().startswith(f"{len(long_text)}/1000")
        assert "over" in counter.get_attribute("class")
        assert page.locator("#id_description").get_attribute("maxlength") is None
        assert page.locator("#id_description").input_value() == long_text
        page.fill("#id_password", "  Tr0ng-Dong-Xanh  ")
        with page.expect_navigation():
            page.get_by_role("button", name="Tạo máy lẻ").click()
        # The summary is at the top, the focus on the first field in error.
        summary = page.locator("#error-summary")
        assert summary.is_visible()
        assert summary.bounding_box()["y"] < page.locator("#id_number").bounding_box()["y"]
        text = summary.inner_text()
        assert "Tên gợi nhớ có dấu cách; dấu tiếng Việt" in text and "Ví dụ: nguyen.van.ha" in text
        assert "1000" in text  # the description's limit
        assert "hãy gõ lại" in text  # the typed password was cleared
        assert page.evaluate("document.activeElement.id") == "id_alias"
        # Everything typed is still there (but the password).
        assert page.locator("#id_alias").input_value() == "Nguyễn Văn Hà"
        assert page.locator("#id_description").input_value() == long_text
        assert page.locator("#id_password").input_value() == ""
        # A link of the summary takes the focus to its field.
        summary.get_by_role("link", name="Mô tả").click()
        assert page.evaluate("document.activeElement.id") == "id_description"
    assert not Extension.objects.filter(hotline=world.hotline_a, number="150").exists()
