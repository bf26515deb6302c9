"""Calls with real audio through Kamailio and the media relay (rtpengine), on the loopback.

The phones are real: the WebRTC phone is JsSIP in headless Chromium (the Chrome extension's
stack) whose microphone plays one tone, the desk/mobile softphone is baresip limited to G.711
playing another. Each side must hear the other's tone: the browser measures the remote track
with a WebAudio analyser, baresip records what it decodes and the test finds the dominant
frequency. The SDP each phone receives must name only the relay (its address and ports), and
the relay must hold no session once the call is over, however it ended.
"""

import dataclasses
import re
import socket
import time

import pytest

from extensions.services import extension_reveal_credentials
from sip.kamailio import Kamailio, free_port, free_sip_port, host_port
from sip.models import Location
from sip.sipclient import SipClient
from tests.factories import HotlineFactory, make_extension

from .media import (
    Baresip,
    BaresipError,
    RtpTone,
    browser_phones,
    dominant_frequency,
    heard,
    sdp_addresses,
    sdp_media_ports,
    sdp_profile,
    write_tone,
)

pytestmark = pytest.mark.sip

# The transports the browser phone registers over. "wss" joins when Kamailio serves WebSocket
# over TLS (SIP_TLS, the TLS work): websocket_url() below then needs its port.
TRANSPORTS = ["ws", "wss"]

# Each phone's microphone: a tone no other phone in the test plays.
BROWSER_HZ = 400
SOFTPHONE_HZ = 1000
SECOND_BROWSER_HZ = 700
SECOND_SOFTPHONE_HZ = 1500
TOLERANCE_HZ = 20


def websocket_url(kamailio, transport: str) -> str:
    config = kamailio.config
    port = config.ws_port if transport == "ws" else config.wss_port
    return f"{transport}://{config.listen_ip}:{port}{config.ws_path}"


@pytest.fixture
def hotline(kamailio, dial_rules):
    # Not test_calls.py's hotline: Kamailio runs for the whole session and keeps registrations.
    hotline = HotlineFactory(number="19005555")
    kamailio.reload_domains()
    return hotline


@pytest.fixture
def logins(hotline):
    """Login info of extensions 101–104, as the dashboard reveals it."""
    return {
        number: extension_reveal_credentials(extension=make_extension(hotline, number, f"ext{number}"))
        for number in ("101", "102", "103", "104")
    }


@pytest.fixture
def tones(tmp_path):
    """The microphones: 48 kHz for Chromium's fake capture device, 8 kHz for baresip."""
    return {
        "browser": write_tone(tmp_path / "browser.wav", BROWSER_HZ, rate=48000, seconds=10),
        "browser2": write_tone(tmp_path / "browser2.wav", SECOND_BROWSER_HZ, rate=48000, seconds=10),
        "softphone": write_tone(tmp_path / "softphone.wav", SOFTPHONE_HZ),
        "softphone2": write_tone(tmp_path / "softphone2.wav", SECOND_SOFTPHONE_HZ),
    }


def new_session(relay, before: set[str]) -> str:
    """The one session the relay has now that it did not have in `before`."""
    deadline = time.monotonic() + 3
    while True:
        sessions = set(relay.calls()) - before
        if sessions or time.monotonic() > deadline:
            assert len(sessions) == 1, f"expected one new relay session, got {sessions}"
            return sessions.pop()
        time.sleep(0.05)


def assert_freed(relay, call_id: str) -> None:
    """The relay forgets the call soon after it ends (Kamailio's delete is asynchronous to us)."""
    deadline = time.monotonic() + 3
    while call_id in relay.calls():
        if time.monotonic() > deadline:
            lines = [line for line in relay.log().splitlines() if call_id in line]
            pytest.fail(f"the relay still holds {call_id}:\n" + "\n".join(lines[-40:]))
        time.sleep(0.05)


def assert_only_the_relay(sdp: str, relay) -> None:
    """An SDP a phone received names the relay's address and ports, nothing else."""
    assert sdp_addresses(sdp) == {relay.config.interface}, sdp
    ports = sdp_media_ports(sdp)
    assert ports and all(relay.config.port_min <= p <= relay.config.port_max for p in ports), sdp


def assert_hears(spectrum, frequency: float, *, share: float = 0.5) -> None:
    """The dominant frequency is the other phone's tone, and most of the power is in it."""
    assert abs(spectrum.frequency - frequency) <= TOLERANCE_HZ, spectrum
    assert spectrum.share >= share, spectrum


def assert_browser_hears(heard_: dict, frequency: float) -> None:
    assert abs(heard_["frequency"] - frequency) <= TOLERANCE_HZ, heard_
    assert heard_["share"] >= 0.5 and heard_["levelDb"] > -60, heard_


def baresip_codec(phone: Baresip) -> str:
    """The codec baresip decodes (its log: "audio: Set audio decoder: PCMU 8000Hz 1ch")."""
    match = re.search(r"Set audio decoder: (\S+)", phone.log())
    return match.group(1) if match else ""


# --- WebRTC <-> plain RTP ----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("opus_only", [True, False], ids=["opus-transcoded", "g711-shared"])
def test_browser_calls_a_g711_softphone_and_both_hear_each_other(
    kamailio, relay, logins, tones, tmp_path, transport, opus_only
):
    """The Chrome extension's path to a desk phone: DTLS-SRTP + ICE on the browser's side,
    plain RTP/AVP on baresip's. With a browser that speaks only Opus the relay transcodes
    Opus <-> G.711; with Chromium's usual offer (Opus first, G.711 too) G.711 passes through."""
    before = set(relay.calls())
    with (
        Baresip(logins["102"], tmp_path / "softphone", tones["softphone"]) as softphone,
        browser_phones(tones["browser"]) as [browser],
    ):
        assert browser.start(
            logins["101"], websocket_url=websocket_url(kamailio, transport), opus_only=opus_only
        ) == ("registered")
        browser.call(f"sip:102@{logins['102'].domain}")
        assert browser.wait_for("confirmed", "failed", "ended") == "confirmed"
        call_id = new_session(relay, before)

        browser_heard = browser.listen(2)
        stats = browser.stats()
        browser.hangup()
        softphone.wait_event("CALL_CLOSED")

        [offer] = softphone.received_sdp()
        [answer] = browser.remote_sdps()

    assert_browser_hears(browser_heard, SOFTPHONE_HZ)
    assert_hears(heard(softphone.recording("dec")), BROWSER_HZ)
    # Each side got SDP in its own dialect, naming only the relay.
    assert sdp_profile(answer) == "UDP/TLS/RTP/SAVPF"
    assert "a=fingerprint:" in answer and "a=rtcp-mux" in answer and "a=crypto:" not in answer
    assert_only_the_relay(answer, relay)
    assert sdp_profile(offer) == "RTP/AVP"
    assert not re.search(r"^a=(candidate|fingerprint|crypto|ice-)", offer, flags=re.M), offer
    assert_only_the_relay(offer, relay)
    # Opus on the browser's leg and G.711 on baresip's: the relay transcoded between them.
    assert baresip_codec(softphone) == "PCMU"
    expected = "audio/opus" if opus_only else "audio/PCMU"
    assert (stats["inboundCodec"], stats["outboundCodec"]) == (expected, expected), stats
    assert_freed(relay, call_id)


@pytest.mark.browser
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_g711_softphone_calls_an_opus_browser_and_both_hear_each_other(
    kamailio, relay, logins, tones, tmp_path, transport
):
    """The other direction: baresip's plain offer becomes a WebRTC offer (ICE, DTLS-SRTP,
    rtcp-mux, Opus added) for the browser, which answers with Opus only."""
    before = set(relay.calls())
    with (
        Baresip(logins["102"], tmp_path / "softphone", tones["softphone"]) as softphone,
        browser_phones(tones["browser"]) as [browser],
    ):
        assert (
            browser.start(
                logins["101"],
                websocket_url=websocket_url(kamailio, transport),
                opus_only=True,
                auto_answer=True,
            )
            == "registered"
        )
        softphone.dial("101")
        softphone.wait_event("CALL_ESTABLISHED")
        assert browser.wait_for("confirmed", "failed", "ended") == "confirmed"
        call_id = new_session(relay, before)

        browser_heard = browser.listen(2)
        stats = browser.stats()
        softphone.hangup()
        assert browser.wait_for("ended", "failed").startswith("ended")

        [offer] = browser.remote_sdps()
        [answer] = softphone.received_sdp()

    assert_browser_hears(browser_heard, SOFTPHONE_HZ)
    assert_hears(heard(softphone.recording("dec")), BROWSER_HZ)
    assert sdp_profile(offer) == "UDP/TLS/RTP/SAVPF"
    assert re.search(r"^a=rtpmap:\d+ opus/48000", offer, flags=re.M), offer
    assert "a=ice-ufrag:" in offer and "a=crypto:" not in offer
    assert_only_the_relay(offer, relay)
    assert sdp_profile(answer) == "RTP/AVP"
    assert_only_the_relay(answer, relay)
    assert (stats["inboundCodec"], baresip_codec(softphone)) == ("audio/opus", "PCMU"), stats
    assert_freed(relay, call_id)


# --- WebRTC <-> WebRTC, plain <-> plain ---------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_browser_calls_browser_through_the_relay(kamailio, relay, logins, tones, transport):
    """Two WebRTC phones: DTLS-SRTP is terminated at the relay on both sides, so neither
    browser learns the other's address."""
    before = set(relay.calls())
    url = websocket_url(kamailio, transport)
    with browser_phones(tones["browser"], tones["browser2"]) as [caller, callee]:
        assert caller.start(logins["101"], websocket_url=url) == "registered"
        assert callee.start(logins["103"], websocket_url=url, auto_answer=True) == "registered"
        caller.call(f"sip:103@{logins['103'].domain}")
        assert caller.wait_for("confirmed", "failed", "ended") == "confirmed"
        assert callee.wait_for("confirmed", "failed", "ended") == "confirmed"
        call_id = new_session(relay, before)

        caller_heard, callee_heard = caller.listen(2), callee.listen(2)
        caller.hangup()
        assert callee.wait_for("ended", "failed").startswith("ended")
        [answer], [offer] = caller.remote_sdps(), callee.remote_sdps()
        caller_ports = sdp_media_ports(caller.local_sdp())

    assert_browser_hears(caller_heard, SECOND_BROWSER_HZ)
    assert_browser_hears(callee_heard, BROWSER_HZ)
    for sdp in (offer, answer):
        assert sdp_profile(sdp) == "UDP/TLS/RTP/SAVPF"
        assert_only_the_relay(sdp, relay)
    assert not set(caller_ports) & set(sdp_media_ports(offer))
    assert_freed(relay, call_id)


def test_softphone_calls_softphone_through_the_relay(relay, logins, tones, tmp_path):
    """Plain RTP on both sides is anchored too: phones never see each other's addresses."""
    before = set(relay.calls())
    with (
        Baresip(logins["101"], tmp_path / "caller", tones["softphone"]) as caller,
        Baresip(logins["104"], tmp_path / "callee", tones["softphone2"]) as callee,
    ):
        caller.dial("104")
        call_id = caller.wait_event("CALL_ESTABLISHED")["id"]
        assert new_session(relay, before) == call_id
        time.sleep(2.5)
        caller.hangup()
        callee.wait_event("CALL_CLOSED")
        [offer], [answer] = callee.received_sdp(), caller.received_sdp()

    assert_hears(heard(caller.recording("dec")), SECOND_SOFTPHONE_HZ)
    assert_hears(heard(callee.recording("dec")), SOFTPHONE_HZ)
    for sdp in (offer, answer):
        assert sdp_profile(sdp) == "RTP/AVP"
        assert_only_the_relay(sdp, relay)
    assert_freed(relay, call_id)


# --- The session is freed however the call ends -------------------------------------------------


def test_a_failure_after_the_offer_frees_the_session(relay, logins, tones, tmp_path, gateway):
    """The carrier answers 486 Busy Here to an INVITE whose SDP the relay already took."""
    with Baresip(logins["101"], tmp_path / "caller", tones["softphone"]) as caller:
        caller.dial("0912345678")
        closed = caller.wait_event("CALL_CLOSED")

    assert closed["param"].startswith("486")
    call_id = gateway.invites[0].header("call-id")
    assert f"[{call_id}]: [control] Received command 'offer'" in relay.log()
    assert_freed(relay, call_id)


def test_a_cancelled_call_frees_the_session(relay, logins, tones, tmp_path):
    """The caller hangs up while the callee rings: CANCEL, 487, session gone."""
    with (
        Baresip(logins["101"], tmp_path / "caller", tones["softphone"]) as caller,
        Baresip(logins["104"], tmp_path / "callee", tones["softphone2"], answer=False) as callee,
    ):
        caller.dial("104")
        call_id = callee.wait_event("CALL_INCOMING")["id"]
        assert call_id in relay.calls()
        caller.hangup()
        callee.wait_event("CALL_CLOSED")
    assert_freed(relay, call_id)


@pytest.fixture
def impatient_kamailio(kamailio, relay, hotline, tmp_path):
    """A second Kamailio on the same database and relay whose timers are short: an INVITE
    rings 3 s at most (408), an answered call lasts 3 s at most (BYE to both phones)."""
    config = dataclasses.replace(
        kamailio.config,
        sip_port=free_sip_port(),
        ws_port=free_port(),
        sips_port=free_port(),
        wss_port=free_port(),
        metrics_listen="",  # the session's Kamailio serves its metrics port
        runtime_dir=tmp_path / "kamailio",
        dialog_timeout=3,
        invite_timeout_ms=3000,
    )
    # It loads the registrations from the database as it starts: not the ones earlier tests'
    # phones left for this hotline (the session's Kamailio keeps them), whose ports a phone of
    # this test may have now, so that a call would ring a stale contact too.
    Location.objects.filter(domain=hotline.sip_domain).delete()
    with Kamailio(config) as server:
        server.reload_domains()
        yield server


def test_timeouts_free_the_session(impatient_kamailio, relay, logins, tones, tmp_path):
    proxy = f"{impatient_kamailio.config.listen_ip}:{impatient_kamailio.config.sip_port}"
    login = {number: dataclasses.replace(info, proxy=proxy) for number, info in logins.items()}
    with (
        Baresip(login["101"], tmp_path / "caller", tones["softphone"]) as caller,
        Baresip(login["102"], tmp_path / "ringing", tones["softphone2"], answer=False),
        Baresip(login["104"], tmp_path / "answering", tones["softphone2"]) as answering,
    ):
        # Nobody answers: 408 after 3 s.
        caller.dial("102")
        closed = caller.wait_event("CALL_CLOSED", timeout=10)
        assert closed["param"].startswith("408")
        assert_freed(relay, closed["id"])

        # Answered, then too long: the dialog's timeout hangs up both phones.
        caller.dial("104")
        call_id = caller.wait_event("CALL_ESTABLISHED")["id"]
        assert call_id in relay.calls()
        # 3 s of dialog, then Kamailio's dialog timer (1 s ticks) sends both BYEs; 20 s leaves
        # room for a loaded machine.
        try:
            caller.wait_event("CALL_CLOSED", timeout=20)
            answering.wait_event("CALL_CLOSED", timeout=20)
        except BaresipError as exc:  # what Kamailio did with the call, to read in the failure
            log = impatient_kamailio.log().splitlines()
            raise AssertionError("\n".join([str(exc)[:3000], *log[-150:]])) from None
        assert_freed(relay, call_id)
    assert "timed out, freeing its media" in impatient_kamailio.log()


@pytest.fixture
def kamailio_without_relay(kamailio, hotline, tmp_path):
    """A second Kamailio whose relay does not answer (nothing listens on its control port)."""
    config = dataclasses.replace(
        kamailio.config,
        sip_port=free_sip_port(),
        ws_port=free_port(),
        sips_port=free_port(),
        wss_port=free_port(),
        metrics_listen="",  # the session's Kamailio serves its metrics port
        runtime_dir=tmp_path / "kamailio",
        rtpengine_sock=f"udp:127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
    )
    with Kamailio(config) as server:
        server.reload_domains()
        yield server


def test_without_the_relay_a_call_fails_instead_of_leaking_addresses(
    kamailio_without_relay, logins, tones, tmp_path
):
    """No relay, no call: the callee never gets the caller's SDP (its address), the caller gets
    an error at once."""
    proxy = f"{kamailio_without_relay.config.listen_ip}:{kamailio_without_relay.config.sip_port}"
    login = {number: dataclasses.replace(info, proxy=proxy) for number, info in logins.items()}
    with (
        Baresip(login["101"], tmp_path / "caller", tones["softphone"]) as caller,
        Baresip(login["104"], tmp_path / "callee", tones["softphone2"]) as callee,
    ):
        caller.dial("104")
        closed = caller.wait_event("CALL_CLOSED", timeout=15)
        assert closed["param"] == "503 Media relay unavailable"
        time.sleep(0.5)
        assert not callee.received_sdp()
    assert "INVITE sip:" not in callee.log()


# --- Forking and re-INVITEs ---------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_call_forked_to_a_desk_phone_and_a_browser_gets_the_right_sdp_on_each(
    kamailio, relay, logins, tones, tmp_path, transport
):
    """Extension 104 is signed in on a desk phone (baresip, left ringing) and in a browser
    (answers): each branch gets an offer in its own dialect (one relay session per branch), and
    the browser's answer reaches the caller as plain RTP."""
    before = set(relay.calls())
    with (
        Baresip(logins["101"], tmp_path / "caller", tones["softphone"]) as caller,
        Baresip(logins["104"], tmp_path / "desk", tones["softphone2"], answer=False) as desk,
        browser_phones(tones["browser"]) as [browser],
    ):
        assert (
            browser.start(logins["104"], websocket_url=websocket_url(kamailio, transport), auto_answer=True)
            == "registered"
        )
        caller.dial("104")
        call_id = caller.wait_event("CALL_ESTABLISHED")["id"]
        assert browser.wait_for("confirmed", "failed", "ended") == "confirmed"
        desk.wait_event("CALL_CLOSED")  # the CANCEL of the branch nobody answered there
        assert new_session(relay, before) == call_id
        browser_heard = browser.listen(2)
        caller.hangup()
        assert browser.wait_for("ended", "failed").startswith("ended")
        [desk_offer], [browser_offer] = desk.received_sdp(), browser.remote_sdps()
        [answer] = caller.received_sdp()

    assert sdp_profile(desk_offer) == "RTP/AVP"
    assert sdp_profile(browser_offer) == "UDP/TLS/RTP/SAVPF"
    for sdp in (desk_offer, browser_offer, answer):
        assert_only_the_relay(sdp, relay)
    assert sdp_profile(answer) == "RTP/AVP"
    assert_browser_hears(browser_heard, SOFTPHONE_HZ)
    assert_hears(heard(caller.recording("dec")), BROWSER_HZ)
    assert_freed(relay, call_id)


@pytest.mark.browser
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_hold_and_resume_re_invites_go_through_the_relay(kamailio, relay, logins, tones, tmp_path, transport):
    """A softphone puts a browser on hold and takes it back (re-INVITEs inside the call, each an
    offer for the browser): the audio comes back, and the call keeps one relay session."""
    before = set(relay.calls())
    with (
        Baresip(logins["102"], tmp_path / "softphone", tones["softphone"]) as softphone,
        browser_phones(tones["browser"]) as [browser],
    ):
        assert (
            browser.start(logins["101"], websocket_url=websocket_url(kamailio, transport), auto_answer=True)
            == "registered"
        )
        softphone.dial("101")
        call_id = softphone.wait_event("CALL_ESTABLISHED")["id"]
        assert browser.wait_for("confirmed", "failed", "ended") == "confirmed"
        softphone.command("hold")
        time.sleep(1)
        softphone.command("resume")
        time.sleep(1)
        assert new_session(relay, before) == call_id
        browser_heard = browser.listen(2)
        offers = browser.remote_sdps()
        softphone.hangup()
        assert browser.wait_for("ended", "failed").startswith("ended")

    # The first offer, hold (sendonly) and resume (sendrecv), each for WebRTC and the relay only.
    assert len(offers) == 3, offers
    directions = [re.findall(r"^a=(sendrecv|sendonly|recvonly|inactive)", o, flags=re.M) for o in offers]
    assert directions == [["sendrecv"], ["sendonly"], ["sendrecv"]], directions
    for sdp in offers:
        assert sdp_profile(sdp) == "UDP/TLS/RTP/SAVPF"
        assert_only_the_relay(sdp, relay)
    assert_browser_hears(browser_heard, SOFTPHONE_HZ)
    assert_freed(relay, call_id)


def test_a_late_offer_is_anchored_too(relay, logins, tones, tmp_path):
    """An INVITE without SDP (some desk phones and carriers send one): the callee offers in
    its 200 OK, the caller answers in the ACK, and both go through the relay."""
    before = set(relay.calls())
    info = logins["101"]
    caller_audio = RtpTone(BROWSER_HZ)
    with Baresip(logins["104"], tmp_path / "callee", tones["softphone2"]) as callee:
        with SipClient(*host_port(info.proxy, 5060)) as phone:
            call = phone.invite(
                number="104",
                domain=info.domain,
                username=info.username,
                password=info.password,
                hangup=False,
                ack_sdp=caller_audio.sdp(),
            )
            assert call.status == 200, call.response
            offer = call.response.body
            assert_only_the_relay(offer, relay)
            assert sdp_profile(offer) == "RTP/AVP"
            relay_port = sdp_media_ports(offer)[0]
            caller_audio.start(("127.0.0.1", relay_port))
            call_id = new_session(relay, before)
            assert call_id == call.call_id
            try:
                time.sleep(2.5)
            finally:
                caller_audio.stop()
            assert phone.bye(call).status == 200
        callee.wait_event("CALL_CLOSED")
        [answer] = callee.received_sdp()  # in the ACK

    assert_only_the_relay(answer, relay)
    assert caller_audio.port not in sdp_media_ports(answer)
    assert_hears(heard(callee.recording("dec")), BROWSER_HZ)
    assert_hears(dominant_frequency(caller_audio.received[8000:16000], 8000), SECOND_SOFTPHONE_HZ)
    assert_freed(relay, call_id)
