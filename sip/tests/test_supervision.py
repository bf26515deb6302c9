"""A supervisor hearing an agent's call: `*33<ext>` through Kamailio, the listen service
(sip/listen.py) and the media relay, with real softphones (baresip) and real audio.

The agent and the customer each play their own tone; the supervisor plays a third. What the
supervisor's phone records must hold both the agent's and the customer's tones (the listen service
adds the two copies rtpengine sends it), and neither of them may hear the supervisor.
"""

import socket
import struct
import time

import pytest

from extensions.choices import CallPermission
from extensions.services import extension_reveal_credentials
from tests.factories import HotlineFactory, make_extension

from .media import Baresip, goertzel_power, heard, read_wav, write_tone
from .test_media import assert_freed, assert_hears, assert_only_the_relay, new_session

pytestmark = pytest.mark.sip

AGENT_HZ = 1000
CUSTOMER_HZ = 1500
SUPERVISOR_HZ = 400


@pytest.fixture
def team(kamailio, dial_rules):
    """Supervisor 100, agent 101 (supervised by 100), 102 (supervises nobody), customer 104."""
    hotline = HotlineFactory(number="19007777")
    kamailio.reload_domains()
    boss = make_extension(hotline, "100", "boss", call_permission=CallPermission.INTERNAL)
    extensions = {
        "100": boss,
        "101": make_extension(hotline, "101", "sale01", supervisor=boss),
        "102": make_extension(hotline, "102", "kd01"),
        "104": make_extension(hotline, "104", "khach"),
    }
    return {number: extension_reveal_credentials(extension=ext) for number, ext in extensions.items()}


@pytest.fixture
def tones(tmp_path):
    return {
        "agent": write_tone(tmp_path / "agent.wav", AGENT_HZ),
        "customer": write_tone(tmp_path / "customer.wav", CUSTOMER_HZ),
        "supervisor": write_tone(tmp_path / "supervisor.wav", SUPERVISOR_HZ),
    }


def shares(path, frequencies, *, skip: float = 1.0, seconds: float = 1.5) -> dict[int, float]:
    """Each frequency's share of the recording's power (a lone pure tone: 1.0)."""
    samples, rate = read_wav(path)
    window = samples[int(skip * rate) : int((skip + seconds) * rate)]
    power = sum(x * x for x in window) / len(window)
    return {f: goertzel_power(window, rate, f) * 2 / power if power else 0.0 for f in frequencies}


def listeners(relay, call_id: str) -> set[str]:
    """The tags rtpengine sends copies of the call's audio to (`pub/sub`, not `offer/answer`)."""
    tags = (relay.query(call_id) or {}).get("tags", {})
    return {
        s["tag"] for tag in tags.values() for s in tag.get("subscribers", []) if s.get("type") == "pub/sub"
    }


def subscription_ports(relay, call_id: str) -> list[tuple[str, int]]:
    """Where the relay sends the listen service its copies from: the RTP port of each audio
    section of the `pub/sub` subscriber (one per party)."""
    tags = (relay.query(call_id) or {}).get("tags", {})
    return [
        (stream["local address"], stream["local port"])
        for tag in listeners(relay, call_id)
        for media in tags[tag]["medias"]
        for stream in media["streams"]
        if "RTP" in stream["flags"]
    ]


def assert_heard_both_and_freed(supervisor, relay, call_id: str, listening: str) -> None:
    """The supervisor heard the agent and the customer (each > 30 % of the power), and the relay
    holds neither the agent's call nor the listening any more."""
    heard_by_supervisor = shares(supervisor.recording("dec"), (AGENT_HZ, CUSTOMER_HZ))
    assert heard_by_supervisor[AGENT_HZ] > 0.3, heard_by_supervisor
    assert heard_by_supervisor[CUSTOMER_HZ] > 0.3, heard_by_supervisor
    assert_freed(relay, call_id)
    assert_freed(relay, listening)


def test_a_supervisor_hears_both_sides_of_the_agents_call(kamailio, relay, team, tones, tmp_path):
    before = set(relay.calls())
    with (
        Baresip(team["101"], tmp_path / "agent", tones["agent"]) as agent,
        Baresip(team["104"], tmp_path / "customer", tones["customer"]) as customer,
        Baresip(team["100"], tmp_path / "supervisor", tones["supervisor"]) as supervisor,
    ):
        agent.dial("104")
        call_id = agent.wait_event("CALL_ESTABLISHED")["id"]
        customer.wait_event("CALL_ESTABLISHED")
        assert new_session(relay, before) == call_id

        supervisor.dial("*33101")
        listening = supervisor.wait_event("CALL_ESTABLISHED")["id"]
        # The supervisor's own leg is anchored like any call; the agent's call gained a listener.
        assert listening in relay.calls()
        assert len(listeners(relay, call_id)) == 1
        time.sleep(3.7)
        supervisor.hangup()
        supervisor.wait_event("CALL_CLOSED")
        # Hanging up stops the copy; the agent's call goes on.
        deadline = time.monotonic() + 3
        while listeners(relay, call_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert listeners(relay, call_id) == set()
        assert call_id in relay.calls()
        agent.hangup()
        customer.wait_event("CALL_CLOSED")
        [answer] = supervisor.received_sdp()  # the listen service's, rewritten by the relay

    heard_by_supervisor = shares(supervisor.recording("dec"), (AGENT_HZ, CUSTOMER_HZ, SUPERVISOR_HZ))
    # Both voices, at about the same level (each a pure tone: half of the power each).
    assert heard_by_supervisor[AGENT_HZ] > 0.3, heard_by_supervisor
    assert heard_by_supervisor[CUSTOMER_HZ] > 0.3, heard_by_supervisor
    assert heard_by_supervisor[SUPERVISOR_HZ] < 0.05, heard_by_supervisor
    # Listening is silent: the agent and the customer hear only each other.
    assert_hears(heard(agent.recording("dec")), CUSTOMER_HZ, share=0.9)
    assert_hears(heard(customer.recording("dec")), AGENT_HZ, share=0.9)
    assert_only_the_relay(answer, relay)
    assert_freed(relay, call_id)
    assert_freed(relay, listening)


def test_listening_ends_with_the_agents_call_and_only_the_supervisor_listens(
    kamailio, relay, team, tones, tmp_path
):
    before = set(relay.calls())
    with (
        Baresip(team["101"], tmp_path / "agent", tones["agent"]) as agent,
        Baresip(team["104"], tmp_path / "customer", tones["customer"]) as customer,
        Baresip(team["100"], tmp_path / "supervisor", tones["supervisor"]) as supervisor,
        Baresip(team["102"], tmp_path / "colleague", tones["supervisor"]) as colleague,
    ):
        # No call yet: nothing to listen to.
        supervisor.dial("*33101")
        assert supervisor.wait_event("CALL_CLOSED")["param"] == "480 No call to listen to"

        customer.dial("101")  # the agent is the callee this time
        call_id = customer.wait_event("CALL_ESTABLISHED")["id"]
        agent.wait_event("CALL_ESTABLISHED")
        assert new_session(relay, before) == call_id

        # Not the agent's supervisor: refused, though there is a call.
        colleague.dial("*33101")
        assert colleague.wait_event("CALL_CLOSED")["param"] == "403 Not the supervisor"
        # Whisper and barge need audio mixing, which the relay cannot do.
        supervisor.dial("*34101")
        assert (
            supervisor.wait_event("CALL_CLOSED")["param"] == "501 Whisper needs audio mixing, not available"
        )
        supervisor.dial("*35101")
        assert supervisor.wait_event("CALL_CLOSED")["param"] == "501 Barge needs audio mixing, not available"

        supervisor.dial("*33101")
        listening = supervisor.wait_event("CALL_ESTABLISHED")["id"]
        time.sleep(2.7)
        # The customer hangs up: the listen service hangs up on the supervisor.
        customer.hangup()
        agent.wait_event("CALL_CLOSED")
        supervisor.wait_event("CALL_CLOSED", timeout=5)

    assert_heard_both_and_freed(supervisor, relay, call_id, listening)


def test_a_stray_packet_at_the_relay_takes_no_voice_away(kamailio, relay, team, tones, tmp_path):
    """rtpengine learns where to send a stream from the first packets that reach its port, and
    the listen service never sends on the ports it receives the two copies on. A packet from
    anyone else to one of those ports (a phone of an ended call still sending to a port the
    relay has just given out again, another relay sharing the port range) used to take that
    party's copy away for the rest of the listening: the supervisor heard one side only."""
    with (
        Baresip(team["101"], tmp_path / "agent", tones["agent"]) as agent,
        Baresip(team["104"], tmp_path / "customer", tones["customer"]) as customer,
        Baresip(team["100"], tmp_path / "supervisor", tones["supervisor"]) as supervisor,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray,
    ):
        customer.dial("101")
        call_id = customer.wait_event("CALL_ESTABLISHED")["id"]
        agent.wait_event("CALL_ESTABLISHED")
        supervisor.dial("*33101")
        listening = supervisor.wait_event("CALL_ESTABLISHED")["id"]
        ports = subscription_ports(relay, call_id)
        assert len(ports) == 2, ports
        stray.bind(("127.0.0.1", 0))
        packet = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x5742A7) + bytes(160)  # RTP, PCMU silence
        for port in ports:
            stray.sendto(packet, port)
        time.sleep(2.7)
        stray.setblocking(False)
        with pytest.raises(BlockingIOError):
            stray.recv(2048)  # nothing of the call came to the stray sender
        customer.hangup()
        agent.wait_event("CALL_CLOSED")
        supervisor.wait_event("CALL_CLOSED", timeout=5)

    assert_heard_both_and_freed(supervisor, relay, call_id, listening)
