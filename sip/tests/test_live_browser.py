"""The extension list updates to online without a reload: a real softphone registers with a
real Kamailio while the page is open in Debian's Chromium (static/js/live.js under the CSP)."""

import time

import pytest

from extensions.services import extension_reveal_credentials
from sip.kamailio import host_port
from sip.sipclient import SipClient
from tests.browser import chromium_page
from tests.factories import HotlineFactory, make_admin, make_extension
from tests.test_browser import sign_in

from .test_browser import in_thread

pytestmark = [pytest.mark.sip, pytest.mark.browser]


def test_the_list_shows_online_within_two_seconds_without_reload(kamailio, live_server):
    hotline = HotlineFactory(number="19008888")
    kamailio.reload_domains()
    extension = make_extension(hotline, "101", "sale01")
    admin = make_admin(hotline.tenant)
    info = extension_reveal_credentials(extension=extension)
    with chromium_page() as page:
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, live_server.url, admin.username, "pw")
        page.goto(f"{live_server.url}/hotlines/{hotline.pk}/extensions/")
        cell = page.locator(f'[data-ext-status="{extension.pk}"]')
        assert "Trực tuyến" not in cell.inner_text()  # the default language: Vietnamese
        page.evaluate("window.notReloaded = true")

        host, port = host_port(info.proxy, 5060)
        with SipClient(host, port) as phone:
            response = in_thread(
                phone.register, username=info.username, domain=info.domain, password=info.password
            )
            assert response.status == 200
            registered = time.monotonic()
            page.locator(f'[data-ext-status="{extension.pk}"][data-online="1"]').wait_for(timeout=5000)
            assert time.monotonic() - registered <= 2.5
            assert "Trực tuyến" in cell.inner_text()
            assert page.evaluate("window.notReloaded") is True
            in_thread(
                phone.register, username=info.username, domain=info.domain, password=info.password, expires=0
            )
        page.locator(f'[data-ext-status="{extension.pk}"][data-online="0"]').wait_for(timeout=5000)
        assert "Mất kết nối" in cell.inner_text()  # "Went offline"
        assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e]


@pytest.mark.django_db(transaction=True)
def test_a_page_in_a_background_tab_polls_rarely_and_at_once_when_shown(live_server):
    hotline = HotlineFactory(number="19008889")
    make_extension(hotline, "101", "sale01")
    admin = make_admin(hotline.tenant)
    status_path = f"/hotlines/{hotline.pk}/status/"
    with chromium_page() as page:
        polls: list[float] = []
        page.on("request", lambda r: polls.append(time.monotonic()) if r.url.endswith(status_path) else None)
        sign_in(page, live_server.url, admin.username, "pw")
        page.goto(f"{live_server.url}/hotlines/{hotline.pk}/extensions/")
        page.wait_for_timeout(2500)
        assert len(polls) >= 1  # shown: a poll a second

        # The tab goes to the background (as the browser says it when another tab is chosen).
        page.evaluate(
            "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
            "document.dispatchEvent(new Event('visibilitychange'))"
        )
        page.wait_for_timeout(1500)  # the poll under way, if any, ends
        hidden_from = len(polls)
        page.wait_for_timeout(4000)
        assert len(polls) - hidden_from <= 1

        page.evaluate(
            "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
            "document.dispatchEvent(new Event('visibilitychange'))"
        )
        shown = time.monotonic()
        page.wait_for_timeout(1000)
        assert any(at >= shown for at in polls[hidden_from:])
