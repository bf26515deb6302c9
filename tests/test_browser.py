"""The seed's whole flow in a real browser (Debian's Chromium), in Vietnamese."""

import pytest

from extensions.models import Extension
from tests.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base, username, password):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("form button[type=submit]").last.click()


def test_seed_walkthrough(live_server, world, tmp_path, request):
    hotline, boss = world.hotline_a, world.ext_a["100"]
    Extension.objects.filter(hotline=hotline, number="101").delete()  # the seed creates 101 itself
    output = request.config.rootpath / "test-results" / request.node.name
    output.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        sign_in(page, live_server.url, world.admin_a.username, "pw")
        # Hotlines → hotline → extensions, in Vietnamese by default.
        page.get_by_role("link", name="Quản lý đầu số").first.click()
        page.get_by_role("link", name=hotline.display_number).click()
        page.get_by_role("link", name="Quản lý máy lẻ").first.click()
        page.get_by_role("link", name="Tạo máy lẻ").click()
        # Create 101 sale01, mobile, supervisor 100, a number group.
        page.fill("#id_number", "101")
        page.fill("#id_alias", "sale01")
        assert page.locator("#id_call_permission").input_value() == "3"
        page.select_option("#id_supervisor", str(boss.pk))
        page.get_by_label(world.group_a.name).check()
        page.get_by_role("button", name="Tạo máy lẻ").click()
        page.wait_for_url("**/extensions/*/")
        ext = Extension.objects.get(hotline=hotline, number="101")
        password = ext.get_sip_password()
        assert password not in page.content()
        # Reveal login info.
        page.get_by_role("button", name="Hiện thông tin đăng nhập").click()
        assert page.locator("#revealed-password").inner_text() == password
        assert hotline.sip_domain in page.locator("#login-info").inner_text()
        page.screenshot(path=str(output / "login-info.png"), full_page=True)
        # Change the password, save, and see the change.
        page.get_by_role("link", name="Sửa").click()
        page.fill("#id_password", "Mat-Khau-M0i-2026")
        page.get_by_role("button", name="Lưu lại").click()
        page.wait_for_url(f"**/extensions/{ext.pk}/")
        assert "đã được lưu" in page.content()
        page.get_by_role("button", name="Hiện thông tin đăng nhập").click()
        assert page.locator("#revealed-password").inner_text() == "Mat-Khau-M0i-2026"
        page.screenshot(path=str(output / "after-change.png"), full_page=True)
        # English can be chosen from the page.
        with page.expect_navigation():
            page.select_option("select[name=language]", "en")
        assert page.get_by_role("link", name="Hotline management").count() >= 1
        assert page.get_by_role("button", name="Reveal login info").count() == 1
    ext.refresh_from_db()
    assert ext.get_sip_password() == "Mat-Khau-M0i-2026"
    assert ext.supervisor == boss
    assert list(ext.outbound_groups.all()) == [world.group_a]
    assert (output / "login-info.png").stat().st_size > 10_000


def test_guarded_reveal_and_one_time_share_link(live_server, world, settings, request):
    import time

    settings.REVEAL_REAUTH_SECONDS = 3
    settings.REVEAL_VISIBLE_SECONDS = 2
    ext = world.ext_a["101"]
    password = ext.get_sip_password()
    output = request.config.rootpath / "test-results" / request.node.name
    output.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        sign_in(page, live_server.url, world.admin_a.username, "pw")
        page.goto(f"{live_server.url}/extensions/{ext.pk}/")
        time.sleep(4)  # the sign-in is now older than REVEAL_REAUTH_SECONDS
        page.click("#reveal-button")
        page.wait_for_url("**/accounts/confirm-password/**")
        page.fill("#id_password", "pw")
        page.click("#confirm-password-button")
        page.wait_for_url(f"**/extensions/{ext.pk}/")
        page.click("#reveal-button")
        assert page.locator("#revealed-password").inner_text() == password
        # It hides itself: the password leaves the page.
        page.wait_for_selector("#login-info-hidden", state="visible", timeout=10_000)
        assert password not in page.content()
        # A one-time share link, opened once (with its QR code), refused the second time.
        settings.REVEAL_REAUTH_SECONDS = 600  # creating a link is guarded too; we signed in just now
        page.click("#share-create-button")
        share_url = page.locator("#share-url").input_value()
        assert "/share/" in share_url
    with chromium_page() as staff:
        staff.goto(share_url)
        staff.click("#share-open-button")
        assert staff.locator("#revealed-password").inner_text() == password
        assert staff.locator("#share-qr svg").is_visible()
        staff.screenshot(path=str(output / "share-link.png"), full_page=True)
        staff.goto(share_url)
        assert staff.locator("#share-error").is_visible()
        assert password not in staff.content()
