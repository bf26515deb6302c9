"""The web phone's media through TURN: Debian's Chromium with `iceTransportPolicy: 'relay'`
(WEB_PHONE_ICE_TRANSPORT_POLICY, the setting for diagnosing TURN) and only a TURN server over TCP,
as a browser behind a firewall that blocks UDP (or over UDP), calls a desk phone (baresip) and
answers its call: every candidate the browser offers is a relay one, the pair in use goes through
coturn over that transport (with the short-lived credential the dashboard issued, checked by
coturn's use-auth-secret), and each side hears the other's tone. The page's traffic never holds
the TURN secret. A TURN server that never answers does not hold a call up."""

import contextlib
import socket
import threading
import time

import pytest

from extensions.services import extension_reveal_credentials

from . import test_webphone_browser as webphone
from .media import Baresip, chromium_args, heard
from .test_browser import wait_for
from .test_webphone_browser import (
    BROWSER_HZ,
    LISTEN,
    SOFTPHONE_HZ,
    assert_hears,
    assert_page_hears,
    chromium,
    har_texts,
    sign_in,
    wait_registered,
)

# The web phone tests' fixture: extensions 101 (the agent's) and 102 (the desk phone's).
office = webphone.office

pytestmark = [pytest.mark.sip, pytest.mark.browser]

# The page's RTCPeerConnections, kept for the test (an init script, outside the page's policy).
RECORD_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__peers.push(this);
    }
  };
})();
"""

# The last call's configuration, every local candidate it gathered, and the pair carrying media.
ICE_IN_USE = """
async () => {
  const pc = window.__peers[window.__peers.length - 1];
  const stats = await pc.getStats();
  let pair = null;
  const locals = [];
  stats.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
    if (r.type === 'local-candidate') locals.push(r.candidateType);
  });
  const config = pc.getConfiguration();
  const seen = {
    policy: config.iceTransportPolicy,
    servers: config.iceServers.map((s) => ({urls: s.urls, username: s.username})),
    gathered: locals,
  };
  if (!pair) return {...seen, local: null, remote: null};  // no media path at all
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {
    ...seen,
    local: {
      type: local.candidateType, relayProtocol: local.relayProtocol, address: local.address, port: local.port,
    },
    remote: {type: remote.candidateType, address: remote.address, port: remote.port},
    bytesReceived: pair.bytesReceived,
    bytesSent: pair.bytesSent,
  };
}
"""


def assert_relayed(ice: dict, turn_server, user: str, transport: str) -> None:
    """The call's ICE went through `turn_server` only, over `transport`, with a credential for
    `user`."""
    config = turn_server.config
    assert ice["policy"] == "relay", ice
    [server] = ice["servers"] or [None]
    assert server and server["urls"] == [f"turn:{config.listen_ip}:{config.port}?transport={transport}"], ice
    assert server["username"].endswith(f":{user}"), ice
    assert ice["gathered"] and set(ice["gathered"]) == {"relay"}, ice
    # Our end of the pair is coturn's relayed address, reached over `transport`.
    assert ice["local"], f"no candidate pair carries media: {ice}"
    assert ice["local"]["type"] == "relay" and ice["local"]["relayProtocol"] == transport, ice
    assert ice["local"]["address"] == config.relay_ip, ice
    assert config.min_port <= ice["local"]["port"] <= config.max_port, ice
    assert ice["bytesReceived"] > 10_000 and ice["bytesSent"] > 10_000, ice


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_a_relayed_browser_calls_and_answers_through_turn_and_both_hear(
    transport, office, kamailio, rtpengine_server, turn_server, settings, tmp_path
):
    """Over TCP: a browser behind a firewall that blocks UDP. Over UDP: one that may send UDP
    to the TURN server only."""
    settings.WEB_PHONE_ICE_TRANSPORT_POLICY = "relay"
    settings.WEB_PHONE_TURN_URLS = [url for url in turn_server.config.urls() if url.endswith(transport)]
    desk_info = extension_reveal_credentials(extension=office.desk)
    har = tmp_path / "phone.har"
    with (
        Baresip(desk_info, tmp_path / "desk", office.tones["softphone"]) as desk,
        chromium(
            *chromium_args(office.tones["browser"]), record_har_path=str(har), record_har_content="embed"
        ) as (context, page),
    ):
        context.add_init_script(script=RECORD_PEERS)
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        sign_in(page, office.url, office.agent.username)
        # The page's policy stays as it was: TURN is ICE, which connect-src does not govern.
        policy = page.goto(f"{office.url}/phone/").headers["content-security-policy"]
        assert "turn" not in policy and "connect-src 'self' ws://" in policy, policy
        wait_registered(page)

        # Out: the agent calls the desk phone (which answers by itself).
        page.get_by_label("Số cần gọi").fill("102")
        page.get_by_role("button", name="Gọi", exact=True).click()
        desk.wait_event("CALL_ESTABLISHED", timeout=20)
        page.locator("#phone-timer").wait_for(state="visible")
        page_heard = page.evaluate(LISTEN, 2)
        out = page.evaluate(ICE_IN_USE)
        page.get_by_role("button", name="Kết thúc").click()
        desk.wait_event("CALL_CLOSED")
        assert_page_hears(page_heard, SOFTPHONE_HZ)
        assert_hears(heard(desk.recording("dec")), BROWSER_HZ)
        page.get_by_role("button", name="Gọi", exact=True).wait_for(state="visible")

        # In: the desk phone calls; the agent answers, through TURN too.
        desk.dial("101")
        answer = page.get_by_role("button", name="Trả lời")
        answer.wait_for(state="visible", timeout=10_000)
        answer.click()
        desk.wait_event("CALL_ESTABLISHED", timeout=20)
        page.locator("#phone-timer").wait_for(state="visible")
        page_heard_in = page.evaluate(LISTEN, 2)
        incoming = page.evaluate(ICE_IN_USE)
        desk.hangup()
        page.get_by_role("button", name="Gọi", exact=True).wait_for(state="visible", timeout=10_000)
        assert_page_hears(page_heard_in, SOFTPHONE_HZ)
        assert_hears(heard(desk.recording("dec")), BROWSER_HZ)
        dom = page.content()

    media = rtpengine_server.config
    assert not [text for text in console if "Content Security Policy" in text], console
    for ice in (out, incoming):
        assert_relayed(ice, turn_server, f"101@{office.hotline.sip_domain}", transport)
        # …to rtpengine, the other end of the pair.
        assert ice["remote"]["address"] == "127.0.0.1", ice
        assert media.port_min <= ice["remote"]["port"] <= media.port_max, ice
    # coturn relayed both calls' media to rtpengine with the dashboard's credential, and logged
    # the traffic when the page released each allocation at the call's end.
    relay_ports = {ice["local"]["port"] for ice in (out, incoming)}
    assert len(relay_ports) == 2
    wait_for(lambda: turn_server.log().count("peer usage: realm=<turn.test>, username=<") >= 2, timeout=15)
    log = turn_server.log()
    for ice in (out, incoming):
        assert f"user <{ice['servers'][0]['username']}>: incoming packet ALLOCATE processed, success" in log
    assert "error 401" not in log.replace("user <>: incoming packet message processed, error 401", "")
    # The secret: not in coturn's log, nor anywhere the page saw.
    secret = turn_server.config.secret
    texts = har_texts(har)
    assert any('"ice_servers"' in text for text in texts)
    assert secret not in log and secret not in dom and not [t for t in texts if secret in t]


@contextlib.contextmanager
def silent_turn_server():
    """A TURN server that accepts TCP connections and never answers (a firewall that lets the SYN
    through and drops the rest behaves the same for the browser)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"turn:127.0.0.1:{server.getsockname()[1]}?transport=tcp"
    finally:
        server.close()
        for sock in accepted:
            sock.close()


def test_a_turn_server_that_does_not_answer_does_not_hold_the_call_up(
    office, kamailio, turn_server, settings, tmp_path
):
    """The browser waits for ICE candidates before it sends its INVITE; one TURN URL that never
    answers must not keep the call waiting for the browser's own timeout (40 s in Chromium,
    measured before phone.js bounded it; 1.8 s after)."""
    settings.WEB_PHONE_ICE_TRANSPORT_POLICY = "relay"
    desk_info = extension_reveal_credentials(extension=office.desk)
    with (
        silent_turn_server() as silent,
        Baresip(desk_info, tmp_path / "desk", office.tones["softphone"]) as desk,
        chromium(*chromium_args(office.tones["browser"])) as (_, page),
    ):
        settings.WEB_PHONE_TURN_URLS = [*settings.WEB_PHONE_TURN_URLS, silent]
        sign_in(page, office.url, office.agent.username)
        page.goto(f"{office.url}/phone/")
        wait_registered(page)
        page.get_by_label("Số cần gọi").fill("102")
        started = time.monotonic()
        page.get_by_role("button", name="Gọi", exact=True).click()
        desk.wait_event("CALL_ESTABLISHED", timeout=60)
        elapsed = time.monotonic() - started
        page.locator("#phone-timer").wait_for(state="visible")
        page_heard = page.evaluate(LISTEN, 2)
        page.get_by_role("button", name="Kết thúc").click()
        desk.wait_event("CALL_CLOSED")
    assert_page_hears(page_heard, SOFTPHONE_HZ)
    assert elapsed < 6, f"the call waited {elapsed:.1f} s for the silent TURN server"
