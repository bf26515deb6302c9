"""The seed's whole flow in a real browser (Debian's Chromium), in Vietnamese."""

import pytest
from django.core.signals import request_started

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
        page.fill("#id_supervisor", boss.number)  # typed; the picker offers matches
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


def test_guarded_reveal(live_server, world, settings):
    import time

    settings.REVEAL_REAUTH_SECONDS = 3
    settings.REVEAL_VISIBLE_SECONDS = 2
    ext = world.ext_a["101"]
    password = ext.get_sip_password()
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


def test_one_time_share_link_keeps_its_token_out_of_every_url(live_server, world, request):
    """The link is /share/#<token>: the browser never sends the part after "#", so no request
    line (what access logs keep), nor a Referer, holds the token; the page posts it. Recorded
    on both sides: every request the browsers make, and every request the server receives."""
    ext = world.ext_a["101"]
    password = ext.get_sip_password()
    output = request.config.rootpath / "test-results" / request.node.name
    output.mkdir(parents=True, exist_ok=True)
    received = []

    def record(sender, environ, **kwargs):
        received.append(f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')}")

    sent = []

    def watch(page):
        page.on("request", lambda r: sent.append((r.url, r.headers.get("referer", ""), r.post_data or "")))

    request_started.connect(record)
    try:
        with chromium_page() as page:
            watch(page)
            sign_in(page, live_server.url, world.admin_a.username, "pw")
            page.goto(f"{live_server.url}/extensions/{ext.pk}/")
            page.click("#share-create-button")
            share_url = page.locator("#share-url").input_value()
        base, token = share_url.split("#")
        assert base == f"{live_server.url}/share/" and len(token) >= 40
        with chromium_page(java_script_enabled=False) as no_js:
            watch(no_js)
            no_js.goto(share_url)  # says what to do, and uses nothing
            assert no_js.locator("#share-needs-js").is_visible()
        with chromium_page() as staff:
            watch(staff)
            staff.goto(share_url)
            staff.wait_for_selector("#share-open-button")
            assert token not in staff.url  # dropped from the address bar and the history entry
            assert password not in staff.content()
            staff.click("#share-open-button")
            assert staff.locator("#revealed-password").inner_text() == password
            assert staff.locator("#share-qr svg").is_visible()
            staff.screenshot(path=str(output / "share-link.png"), full_page=True)
            staff.goto("about:blank")
            staff.goto(share_url)  # a second time: refused
            staff.wait_for_selector("#share-error")
            assert password not in staff.content()
    finally:
        request_started.disconnect(record)
    assert any(path == "/share/?" for path in received)
    assert [line for line in received if token in line] == []
    for url, referer, _body in sent:
        assert token not in url and token not in referer, url
    # It did travel, in the bodies of the posts.
    assert sum(token in body for _url, _referer, body in sent) == 3  # peek, open; peek (refused)
