"""The web phone ("Điện thoại") in Debian's Chromium, against the real Kamailio and rtpengine.

The agent signs in to the dashboard and opens the phone from the menu: it registers on their
extension (online in the list and the API within 2 s), calls a desk phone (baresip) and both hear
each other's tone, answers a call from it after the ring, mutes and holds; the page's whole
network traffic (HTTP bodies and WebSocket frames) and its DOM never hold the stored SIP
password. And the messages users meet most: no microphone permission, no microphone, the
connection to the SIP server lost (and found again, by itself)."""

import base64
import contextlib
import json
import re
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.urls import reverse

from extensions.services import extension_reveal_credentials, extension_update
from sip.selectors import contacts_for
from tests.api import api_client
from tests.factories import HotlineFactory, make_admin, make_agent, make_extension

from .media import CHROMIUM, JS_DIR, Baresip, chromium_args, heard, write_tone
from .test_browser import in_thread, wait_for

pytestmark = [pytest.mark.sip, pytest.mark.browser]

BROWSER_HZ = 400
SOFTPHONE_HZ = 1000
TOLERANCE_HZ = 20
WEB_PHONE_BUNDLE = Path(__file__).resolve().parents[2] / "frontend" / "build" / "webphone" / "phone.js"

# What the page plays through its remote <audio>: {frequency, share, levelDb}, measured as the
# media tests do (sip/tests/js/listen.js, injected into every page of the test's browser).
LISTEN = "(seconds) => listenTo(document.getElementById('phone-remote-audio').srcObject, seconds)"


@pytest.fixture
def office(kamailio, dial_rules, live_server, tmp_path):
    """A hotline with the agent's extension 101 and a desk phone's 102, and their admin."""
    if not WEB_PHONE_BUNDLE.exists():
        pytest.fail("The web phone is not built: run `make js-deps` (npm).")
    hotline = HotlineFactory()
    kamailio.reload_domains()
    mine = make_extension(hotline, "101", "sale01")
    desk = make_extension(hotline, "102", "kd01")
    return SimpleNamespace(
        hotline=hotline,
        mine=mine,
        desk=desk,
        agent=make_agent(hotline.tenant, mine, username="agent-101"),
        admin=make_admin(hotline.tenant),
        url=live_server.url,
        tones={
            "browser": write_tone(tmp_path / "browser.wav", BROWSER_HZ, rate=48000, seconds=20),
            "softphone": write_tone(tmp_path / "softphone.wav", SOFTPHONE_HZ, seconds=20),
        },
    )


@contextlib.contextmanager
def chromium(*args: str, **context_options):
    """Debian's Chromium (its own process: the fake microphone is per process) and one page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(args))
        try:
            context = browser.new_context(**context_options)
            # Outside the page's Content Security Policy, which would refuse an inline script.
            context.add_init_script(path=str(JS_DIR / "listen.js"))
            yield context, context.new_page()
            context.close()
        finally:
            browser.close()


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def wait_registered(page, timeout: float = 10) -> None:
    page.wait_for_function(
        "() => document.body.dataset.phoneRegistration === 'registered'", timeout=timeout * 1000
    )


def api_presence(admin, extension) -> tuple[bool, list[str], list[str]]:
    body = api_client(admin).get(f"/api/v1/extensions/{extension.pk}/").json()
    return (
        body["online"],
        [c["transport"] for c in body["contacts"]],
        [c["user_agent"] for c in body["contacts"]],
    )


def list_row(client, admin, extension) -> str:
    client.force_login(admin)
    client.cookies["django_language"] = "en"
    html = client.get(
        reverse("extensions:extension_list", kwargs={"hotline_pk": extension.hotline_id})
    ).content.decode()
    return next(row for row in html.split("<tr>") if f'value="{extension.pk}"' in row)


def assert_hears(spectrum, frequency: float) -> None:
    assert abs(spectrum.frequency - frequency) <= TOLERANCE_HZ, spectrum
    assert spectrum.share >= 0.5, spectrum


def assert_page_hears(heard_: dict, frequency: float) -> None:
    assert abs(heard_["frequency"] - frequency) <= TOLERANCE_HZ, heard_
    assert heard_["share"] >= 0.5 and heard_["levelDb"] > -60, heard_


def har_texts(path: Path) -> list[str]:
    """Every URL, header, request body and response body of a HAR file, decoded."""
    texts = []
    for entry in json.loads(path.read_text())["log"]["entries"]:
        request, response = entry["request"], entry["response"]
        texts.append(request["url"])
        texts += [f"{h['name']}: {h['value']}" for h in request["headers"] + response["headers"]]
        texts.append((request.get("postData") or {}).get("text", ""))
        content = response.get("content") or {}
        text = content.get("text", "")
        if content.get("encoding") == "base64":
            text = base64.b64decode(text).decode("utf-8", "replace")
        texts.append(text)
    return texts


def test_the_agent_registers_calls_and_answers_and_never_sees_the_password(office, client, tmp_path):
    stored = office.mine.get_sip_password()
    desk_info = extension_reveal_credentials(extension=office.desk)
    frames: list[str] = []
    doms: list[str] = []
    har = tmp_path / "phone.har"

    def record_frames(websocket) -> None:
        websocket.on("framesent", lambda payload: frames.append(str(payload)))
        websocket.on("framereceived", lambda payload: frames.append(str(payload)))

    with (
        Baresip(desk_info, tmp_path / "desk", office.tones["softphone"]) as desk,
        chromium(
            *chromium_args(office.tones["browser"]), record_har_path=str(har), record_har_content="embed"
        ) as (_, page),
    ):
        page.on("websocket", record_frames)
        sign_in(page, office.url, office.agent.username)

        # "Điện thoại" from the menu: registered, and online in the API and the list within 2 s.
        started = time.monotonic()
        page.get_by_role("link", name="Điện thoại").click()
        page.wait_for_url("**/phone/")
        while not in_thread(api_presence, office.admin, office.mine)[0]:
            assert time.monotonic() - started < 2, "not online in the API within 2 s"
            time.sleep(0.05)
        assert "Online" in in_thread(list_row, client, office.admin, office.mine)
        assert time.monotonic() - started < 2.5
        online, transports, agents = in_thread(api_presence, office.admin, office.mine)
        assert transports == ["ws"] and agents[0].startswith("PBX web phone (JsSIP")
        wait_registered(page)
        assert "Sẵn sàng" in page.locator("#phone-registration").inner_text()
        doms.append(page.content())

        # A call to the desk phone (which answers by itself): both hear the other's tone.
        page.get_by_label("Số cần gọi").fill("102")
        page.get_by_role("button", name="Gọi", exact=True).click()
        desk.wait_event("CALL_ESTABLISHED", timeout=15)
        page.locator("#phone-timer").wait_for(state="visible")
        assert "102" in page.locator("#phone-call-status").inner_text()
        page_heard = page.evaluate(LISTEN, 2)
        assert re.fullmatch(r"00:0[1-9]", page.locator("#phone-timer").inner_text())
        doms.append(page.content())
        page.get_by_role("button", name="Kết thúc").click()
        desk.wait_event("CALL_CLOSED")
        assert_page_hears(page_heard, SOFTPHONE_HZ)
        assert_hears(heard(desk.recording("dec")), BROWSER_HZ)
        page.get_by_role("button", name="Gọi", exact=True).wait_for(state="visible")

        # A call from the desk phone: it rings, the agent answers; mute and hold work.
        desk.dial("101")
        answer = page.get_by_role("button", name="Trả lời")
        answer.wait_for(state="visible", timeout=10_000)
        assert "102" in page.locator("#phone-incoming-caller").inner_text()
        assert page.evaluate("() => document.body.dataset.phoneTone") == "ring"
        answer.click()
        desk.wait_event("CALL_ESTABLISHED", timeout=15)
        page.locator("#phone-timer").wait_for(state="visible")
        assert page.evaluate("() => document.body.dataset.phoneTone") is None
        page_heard = page.evaluate(LISTEN, 2)
        mute = page.get_by_role("button", name="Tắt tiếng")
        mute.click()
        assert mute.get_attribute("aria-pressed") == "true"
        mute.click()
        assert mute.get_attribute("aria-pressed") == "false"
        hold = page.get_by_role("button", name="Giữ máy")
        hold.click()
        page.wait_for_function("() => document.getElementById('phone-hold').ariaPressed === 'true'")
        hold.click()
        page.wait_for_function("() => document.getElementById('phone-hold').ariaPressed === 'false'")
        doms.append(page.content())
        # Resumed: the desk phone is heard again.
        resumed = page.evaluate(LISTEN, 1)
        # The desk phone hangs up: its BYE reaches the page after the page's own re-INVITEs.
        desk.hangup()
        page.get_by_role("button", name="Gọi", exact=True).wait_for(state="visible", timeout=10_000)
        assert "kết thúc" in page.locator("#phone-call-status").inner_text()
        assert_page_hears(page_heard, SOFTPHONE_HZ)
        assert_page_hears(resumed, SOFTPHONE_HZ)
        assert_hears(heard(desk.recording("dec")), BROWSER_HZ)
        doms.append(page.content())

    # The stored password went nowhere near the page: not in any request or response, not in a
    # WebSocket frame, not in the DOM. What the page did receive was the short-lived credential,
    # which is what it signed in with (so the log above really holds the traffic).
    texts = har_texts(har)
    issued = [t for t in texts if t.startswith('{"username"') and '"password"' in t]
    assert issued, "the credentials answer is in the network log"
    username = json.loads(issued[0])["username"]
    assert any(f'username="{username}"' in frame for frame in frames)
    assert any("REGISTER" in frame for frame in frames) and any("INVITE" in frame for frame in frames)
    for where, haystack in (("HTTP", texts), ("WebSocket", frames), ("DOM", doms)):
        assert not [text for text in haystack if stored in text], f"the stored password is in the {where} log"


class Relay:
    """A TCP relay between the browser and Kamailio's WebSocket port that the test can cut: the
    connection to the SIP server lost, and back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection and refuse new ones until `restore`."""
        self.open.clear()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.cut()
        self.server.close()


def call_and_read_the_error(page, office) -> str:
    """Sign in, open the phone, call 102: the error the page shows."""
    sign_in(page, office.url, office.agent.username)
    page.goto(f"{office.url}/phone/")
    wait_registered(page)
    page.get_by_label("Số cần gọi").fill("102")
    page.get_by_role("button", name="Gọi", exact=True).click()
    error = page.locator("#phone-error")
    error.wait_for(state="visible")
    return error.inner_text()


def test_the_phone_explains_a_missing_microphone_or_permission_and_reconnects_by_itself(
    office, kamailio, settings
):
    relay = Relay((kamailio.config.listen_ip, kamailio.config.ws_port))
    settings.SIP_WEBSOCKET_URL = f"ws://127.0.0.1:{relay.port}{kamailio.config.ws_path}"
    fake_microphone = [a for a in chromium_args(office.tones["browser"]) if "fake-ui" not in a]
    try:
        # A microphone the user did not allow: the browser refuses, the page says what to do.
        with chromium(*fake_microphone) as (_, page):
            assert "chưa được phép dùng micro" in call_and_read_the_error(page, office)

            # The connection to the SIP server lost: the page says so, and signs in again by
            # itself when the server is back (no reload).
            relay.cut()
            page.wait_for_function("() => document.body.dataset.phoneRegistration !== 'registered'")
            assert "Mất kết nối" in page.locator("#phone-registration").inner_text()
            wait_for(lambda: in_thread(contacts_for, office.mine) == [], timeout=2)  # offline
            relay.restore()
            wait_registered(page, timeout=15)
            assert in_thread(lambda: [c.transport for c in contacts_for(office.mine)]) == ["ws"]

            # The extension disabled meanwhile: its next REGISTER is refused, the dashboard
            # issues no new credentials, and the page says why (and stops trying).
            in_thread(extension_update, extension=office.mine, data={"enabled": False})
            relay.cut()
            relay.restore()
            error = page.locator("#phone-error")
            error.wait_for(state="visible", timeout=20_000)
            assert "đang bị tắt" in error.inner_text()
            assert page.get_by_role("button", name="Gọi", exact=True).is_disabled()
            in_thread(extension_update, extension=office.mine, data={"enabled": True})

        # No microphone at all (no capture device), though allowed.
        no_device = [a for a in fake_microphone if "fake" not in a]
        with chromium(*no_device, permissions=["microphone"]) as (_, page):
            assert "Không tìm thấy micro" in call_and_read_the_error(page, office)
    finally:
        relay.close()
