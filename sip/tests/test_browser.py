"""A real WebRTC SIP client, JsSIP (npm) in Debian's headless Chromium, registers over ws://
and wss:// with the login info the credentials service reveals, exactly as the Chrome extension
would; and when the browser goes, the extension is offline at once and calls to it get 480."""

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse

from extensions.services import extension_reveal_credentials, extension_rotate_password
from sip.kamailio import host_port
from sip.selectors import contacts_for
from sip.sipclient import SipClient
from sip.tls import spki_sha256
from tests.api import api_client
from tests.factories import HotlineFactory, make_admin, make_extension

pytestmark = [pytest.mark.sip, pytest.mark.browser]

JSSIP_BUNDLE = Path(__file__).parent / "js" / "build" / "jssip.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Register with the login info; resolve with "registered" or "failed: <cause>".
REGISTER_JS = """
async (info) => {
  const socket = new JsSIP.WebSocketInterface(info.websocket_url);
  const ua = new JsSIP.UA({
    sockets: [socket], uri: info.sip_uri, authorization_user: info.username,
    password: info.password, display_name: info.display_name, register: true,
    register_expires: 300, connection_recovery_min_interval: 60,
  });
  window.ua = ua;
  return await new Promise((resolve) => {
    ua.on('registered', () => resolve('registered'));
    ua.on('registrationFailed', (e) => resolve('failed: ' + e.cause));
    setTimeout(() => resolve('timeout'), 10000);
    ua.start();
  });
}
"""


def in_thread(function, *args, **kwargs):
    """Django refuses database calls in a thread that runs an event loop (Playwright's)."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()  # this thread's own connection, before the thread ends

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_jssip_registers_over_websocket_with_the_revealed_login_info(kamailio):
    from playwright.sync_api import sync_playwright

    if not JSSIP_BUNDLE.exists():
        pytest.skip("JsSIP is not built: run `make js-deps` (npm).")
    hotline = HotlineFactory()
    kamailio.reload_domains()
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension).as_dict()
    assert info["websocket_url"].startswith("ws://127.0.0.1:")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.add_script_tag(path=str(JSSIP_BUNDLE))

            assert page.evaluate(REGISTER_JS, info) == "registered"
            contacts = in_thread(contacts_for, extension)
            assert [c.transport for c in contacts] == ["ws"]
            assert contacts[0].user_agent.startswith("JsSIP")
            assert contacts[0].socket == f"tcp:127.0.0.1:{kamailio.config.ws_port}"

            # After a rotation the old password no longer logs the extension in.
            page.evaluate("() => window.ua.stop()")
            in_thread(extension_rotate_password, extension=extension)
            failed = page.evaluate(REGISTER_JS, info)
            assert failed.startswith("failed"), failed
            page.evaluate("() => window.ua.stop()")
        finally:
            browser.close()


@contextmanager
def chromium(*args: str):
    """Debian's headless Chromium with JsSIP loaded in a blank page."""
    from playwright.sync_api import sync_playwright

    if not JSSIP_BUNDLE.exists():
        pytest.skip("JsSIP is not built: run `make js-deps` (npm).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args], headless=True
        )
        try:
            page = browser.new_page()
            page.add_script_tag(path=str(JSSIP_BUNDLE))
            yield browser, page
        finally:
            browser.close()


def test_jssip_registers_over_secure_websocket_with_the_revealed_login_info(kamailio_tls):
    """wss:// with the self-signed certificate `make sip` makes: the browser trusts exactly
    that key (--ignore-certificate-errors-spki-list), as a user who accepted it once would."""
    hotline = HotlineFactory()
    kamailio_tls.reload_domains()
    extension = make_extension(hotline, "101", "sale01")
    info = extension_reveal_credentials(extension=extension).as_dict()
    config = kamailio_tls.config
    assert info["websocket_url"] == f"wss://127.0.0.1:{config.wss_port}/ws"
    assert info["transports"] == ["udp", "tcp", "tls", "wss"]

    # Without trusting the certificate the browser refuses the connection …
    with chromium() as (_, page):
        assert page.evaluate(REGISTER_JS, info) != "registered"
    # … and with it, registers over TLS.
    with chromium(f"--ignore-certificate-errors-spki-list={spki_sha256(config.tls_cert_file)}") as (_, page):
        assert page.evaluate(REGISTER_JS, info) == "registered"
        contacts = in_thread(contacts_for, extension)
        assert [c.transport for c in contacts] == ["wss"]
        assert contacts[0].user_agent.startswith("JsSIP")
        assert contacts[0].socket == f"tls:127.0.0.1:{config.wss_port}"
    # The browser is gone, and so is its registration.
    assert wait_for(lambda: in_thread(contacts_for, extension) == [], timeout=2) < 2


def wait_for(condition, *, timeout: float) -> float:
    """Seconds until `condition()` held (polling), or a failure after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_closed_browser_is_offline_at_once_and_calls_to_it_get_480(kamailio, dial_rules, client):
    """The WebRTC extension's tab is closed: within 2 s its registration is gone from
    `location`, the dashboard and the API say offline, and a call to it is answered 480
    (before, it stayed "online" until it expired, and a call got 500)."""
    hotline = HotlineFactory()
    kamailio.reload_domains()
    agent = make_extension(hotline, "101", "sale01")
    caller = make_extension(hotline, "102", "kd01")
    info = extension_reveal_credentials(extension=agent).as_dict()
    admin = make_admin(hotline.tenant)

    def api_online() -> tuple[bool, list]:
        body = api_client(admin).get(f"/api/v1/extensions/{agent.pk}/").json()
        return body["online"], [c["transport"] for c in body["contacts"]]

    with chromium() as (_, page):
        assert page.evaluate(REGISTER_JS, info) == "registered"
        assert in_thread(api_online) == (True, ["ws"])
        page.close()  # the tab goes; so does its WebSocket
        offline = wait_for(lambda: in_thread(contacts_for, agent) == [], timeout=2)
    assert offline < 2

    assert api_online() == (False, [])
    client.force_login(admin)
    client.cookies["django_language"] = "en"
    html = client.get(
        reverse("extensions:extension_list", kwargs={"hotline_pk": agent.hotline_id})
    ).content.decode()
    row = next(row for row in html.split("<tr>") if f'value="{agent.pk}"' in row)
    assert "Offline" in row and "Online" not in row

    caller_info = extension_reveal_credentials(extension=caller)
    host, port = host_port(caller_info.proxy, 5060)
    with SipClient(host, port) as phone:
        start = time.monotonic()
        call = phone.invite(
            number="101", domain=caller_info.domain, username="102", password=caller_info.password
        )
    assert (call.status, call.response.reason) == (480, "Temporarily Unavailable")
    assert time.monotonic() - start < 2
