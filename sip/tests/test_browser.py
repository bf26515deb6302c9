"""A real WebRTC SIP client, JsSIP (npm) in Debian's headless Chromium, registers over ws://
with the login info the credentials service reveals, exactly as the Chrome extension would."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connections

from extensions.services import extension_reveal_credentials, extension_rotate_password
from sip.selectors import contacts_for
from tests.factories import HotlineFactory, make_extension

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
