"""The listen service's parts that need no Kamailio: reading `kamcmd dlg.list`, choosing the
agent's call, SDP, reading a voice's packets, and G.711 mixing. The whole path with real phones:
test_supervision.py."""

import math
import socket
import struct
import time

import pytest

from sip import g711
from sip.listen import (
    Node,
    Voice,
    calls_of,
    current_call,
    parse_dlg_list,
    parse_request,
    parse_sdp,
    read_voice,
)

# Two dialogs as Kamailio 5.6.3's `kamcmd dlg.list` prints them (trimmed), the second answered.
DLG_LIST = """{
\th_entry: 1
\tcall-id: ringing-call
\tfrom_uri: sip:101@19001234.sip.example.vn
\tstate: 1
\tstart_ts: 0
\tcaller: {
\t\ttag: aaa
\t\troute_set:
\t}
\tcallee: {
\t\ttag:
\t}
\tprofiles: {
\t}
\tvariables: {
\t\t{
\t\t\tmedia: 1
\t\t}
\t\t{
\t\t\tpbx_caller: 101@19001234.sip.example.vn
\t\t}
\t}
}
{
\th_entry: 2
\tcall-id: 7cd6bee7efff319f
\tfrom_uri: sip:104@19001234.sip.example.vn
\tstate: 4
\tstart_ts: 1796207831
\tcaller: {
\t\ttag: 5b3dcc6a7377f0d2
\t\tcontact: sip:104-0x55e4a63c54a0@127.0.0.1:58933
\t\troute_set:
\t}
\tcallee: {
\t\ttag: 3dfb5ca2f2b74d79
\t}
\tprofiles: {
\t}
\tvariables: {
\t\t{
\t\t\tmedia: 1
\t\t}
\t\t{
\t\t\tpbx_caller: 104@19001234.sip.example.vn
\t\t}
\t\t{
\t\t\tpbx_callee: 101@19001234.sip.example.vn
\t\t}
\t}
}
"""


def dialogs():
    return parse_dlg_list(DLG_LIST)


def test_the_agents_answered_call_and_its_tags():
    """101 rings out on one call (not listened to) and answered another as the callee: that one,
    with 101's tag (the To tag) first."""
    found = current_call(dialogs(), "101@19001234.sip.example.vn")
    assert found is not None
    dialog, agent_tag, other_tag = found
    assert (dialog.call_id, agent_tag, other_tag) == (
        "7cd6bee7efff319f",
        "3dfb5ca2f2b74d79",
        "5b3dcc6a7377f0d2",
    )
    found = current_call(dialogs(), "104@19001234.sip.example.vn")
    assert found is not None and found[1] == "5b3dcc6a7377f0d2"
    assert current_call(dialogs(), "102@19001234.sip.example.vn") is None


def test_sdp_and_requests():
    sdp = (
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 30070 RTP/AVP 0 8 101\r\na=sendonly\r\n"
        "m=video 0 RTP/AVP 96\r\nm=audio 30088 RTP/AVP 8\r\nc=IN IP4 127.0.0.2\r\n"
    )
    assert [(s.address, s.port, s.payload_types) for s in parse_sdp(sdp)] == [
        ("127.0.0.1", 30070, [0, 8, 101]),
        ("127.0.0.2", 30088, [8]),
    ]
    request = parse_request(
        b"INVITE sip:*33101@h SIP/2.0\r\nv: SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2\r\n"
        b"Record-Route: <sip:k;lr;ftag=x>,<sip:k2;lr>\r\ni: abc\r\n\r\nv=0\r\n"
    )
    assert request is not None
    assert request.all("via") == ["SIP/2.0/UDP a;branch=1", "SIP/2.0/UDP b;branch=2"]
    assert request.all("record-route") == ["<sip:k;lr;ftag=x>", "<sip:k2;lr>"]
    assert (request.call_id, request.body) == ("abc", "v=0\r\n")
    assert parse_request(b"SIP/2.0 200 OK\r\n\r\n") is None


def test_g711_round_trips_and_mixes():
    for payload_type in (g711.PCMU, g711.PCMA):
        for sample in (-32768, -12000, -100, 0, 100, 12000, 32767):
            decoded = g711.decode(g711.encode([sample], payload_type), payload_type)[0]
            assert abs(decoded - sample) <= max(64, abs(sample) // 16), (payload_type, sample, decoded)
    # Two tones added sample by sample keep both frequencies.
    a = [int(8000 * math.sin(2 * math.pi * 1000 * i / 8000)) for i in range(160)]
    b = [int(8000 * math.sin(2 * math.pi * 1500 * i / 8000)) for i in range(160)]
    mixed = g711.decode(g711.encode([x + y for x, y in zip(a, b, strict=True)], g711.PCMU), g711.PCMU)
    assert max(abs(m - (x + y)) for m, x, y in zip(mixed, a, b, strict=True)) < 1100


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_voice_is_what_the_relay_sends_for_it():
    """Frames from the relay's port for this party are queued; a packet from any other port
    (whoever had our port before) is counted and dropped, as are RTP packets that are not
    G.711 (telephone-event)."""
    tone = [int(8000 * math.sin(2 * math.pi * 1000 * i / 8000)) for i in range(160)]

    def rtp(payload_type: int, payload: bytes) -> bytes:
        return struct.pack("!BBHII", 0x80, payload_type, 1, 160, 42) + payload

    relay, stranger, ours = udp_socket(), udp_socket(), udp_socket()
    ours.setblocking(False)
    voice = Voice(ours, relay_port=relay.getsockname()[1])
    with relay, stranger, ours:
        for _ in range(3):
            relay.sendto(rtp(g711.PCMU, g711.encode(tone, g711.PCMU)), ours.getsockname())
        relay.sendto(rtp(101, bytes(4)), ours.getsockname())  # a DTMF event
        stranger.sendto(rtp(g711.PCMA, g711.encode([0] * 160, g711.PCMA)), ours.getsockname())
        deadline = time.monotonic() + 2
        while voice.received + voice.foreign < 5 and time.monotonic() < deadline:
            read_voice(voice)
    assert (len(voice.frames), voice.received, voice.foreign) == (3, 4, 1)
    assert all(abs(a - b) <= max(64, abs(b) // 16) for a, b in zip(voice.frames[0], tone, strict=True))


def test_a_cluster_nodes_service_knows_every_node_and_skips_one_that_does_not_answer(tmp_path):
    """`--node CONTROL,HOST:PORT` for each node (sip.cluster); a node whose control socket does
    not answer is left out of the search for the agent's call, never an error."""
    node = Node.parse("tcp:10.0.0.12:2049,10.0.0.12:2223")
    assert (node.kamailio_ctl, node.rtpengine) == ("tcp:10.0.0.12:2049", ("10.0.0.12", 2223))
    assert Node.parse(str(node)) == node
    with pytest.raises(ValueError, match="not CONTROL,HOST:PORT"):
        Node.parse("unix:/run/kamailio_ctl")
    gone = Node(f"unix:{tmp_path / 'kamailio_ctl'}", ("127.0.0.1", 9))
    assert calls_of([gone, gone], "101@19001234.sip.example.vn") == []
