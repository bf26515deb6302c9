"""The listen service: `*33<ext>` lets a supervisor hear the current call of an extension.

Kamailio checks the supervisor (`sip_supervision`, else 403) and relays the supervisor's INVITE
here with `X-PBX-Supervise-Mode: listen` and `X-PBX-Supervise-Target: sip:<ext>@<domain>`,
through the media relay like any call (so the supervisor — softphone or browser — talks only to
rtpengine, which converts to plain RTP/G.711 for us). Then:

1. the agent's current call: Kamailio's dialog module (`kamcmd dlg.list` on the control socket),
   the confirmed dialog whose `pbx_caller` or `pbx_callee` variable is the target
   (route[MEDIA] in kamailio.cfg notes both extensions of every call);
2. rtpengine's `subscribe request` for that call and both its parties' tags: rtpengine 10.5
   answers with an offer of one `sendonly` audio section per party — it forwards copies, it
   does not mix (Kamailio 5.6's rtpengine module has no subscribe functions at all, hence this
   client of the ng protocol); `subscribe answer` with our two receiving ports, `asymmetric`
   (sent there whatever reaches the relay's ports: see `invite`);
3. our 200 OK to the supervisor, and every 20 ms the two voices added together
   (G.711 decoded, summed, encoded) and sent to the supervisor's leg;
4. it ends with the supervisor's BYE (`unsubscribe`), or with the agent's call: then we send the
   supervisor a BYE through Kamailio.

In a cluster (sip.cluster) each node has its own listen service, and it knows every node (its
control socket and its rtpengine, `--node`): the agent's call may have entered another node and be
anchored at that node's relay, so step 1 asks every node and step 2 subscribes at the relay of
the node holding the call; the mix goes to the supervisor's leg at this node's relay as before.

Whisper and barge need the supervisor's voice mixed into what the agent (and the customer)
hear: rtpengine 10.5 cannot inject or mix into a call's stream, so Kamailio answers `*34` and
`*35` with 501 and never sends them here (see docs/sip.md, "Supervision").

Run it as `python -m sip.listen …` (`make sip` and the tests do); standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import g711
from .rtpengine import ng

log = logging.getLogger("sip.listen")

# Reason phrases, shared with Kamailio's configuration and the dial check (sip.dialcheck).
NO_CALL_REASON = "No call to listen to"
WHISPER_REASON = "Whisper needs audio mixing, not available"
BARGE_REASON = "Barge needs audio mixing, not available"

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_SECONDS = 0.02
# Frames kept per voice before the oldest go (a burst after a network hiccup): 100 ms of delay.
MAX_QUEUED_FRAMES = 5


# --- SIP messages ---------------------------------------------------------------------------

_COMPACT = {
    "i": "call-id",
    "v": "via",
    "f": "from",
    "t": "to",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
}


@dataclass
class Message:
    """A SIP request as received: the first line, headers in order (lower-case names), body."""

    method: str
    uri: str
    headers: list[tuple[str, str]]
    body: str = ""

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def get(self, name: str) -> str:
        values = self.all(name)
        return values[0] if values else ""

    @property
    def call_id(self) -> str:
        return self.get("call-id")


def parse_request(data: bytes) -> Message | None:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    match = re.match(r"([A-Z]+) (\S+) SIP/2\.0$", lines[0])
    if not match:
        return None  # a response (to our BYE) or noise
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        # Headers that may hold several comma-separated values (Via, Record-Route) are split,
        # so that each hop is one entry.
        parts = _split_commas(value.strip()) if name in ("via", "v", "record-route") else [value.strip()]
        headers += [(_COMPACT.get(name, name), part) for part in parts]
    return Message(method=match.group(1), uri=match.group(2), headers=headers, body=body)


def _split_commas(value: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in value:
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def uri_of(header: str) -> str:
    """The URI of a From/To/Contact/Record-Route value ("Name" <sip:…>;tag=… → sip:…)."""
    match = re.search(r"<([^>]+)>", header)
    return match.group(1) if match else header.split(";")[0].strip()


def aor_of(uri: str) -> str:
    """sip:101@Example.vn;transport=udp → 101@example.vn"""
    match = re.match(r"sips?:([^@;>]+)@([^;>:]+)", uri.strip())
    return f"{match.group(1)}@{match.group(2).lower()}" if match else ""


# --- SDP ------------------------------------------------------------------------------------


@dataclass
class MediaSection:
    address: str
    port: int
    payload_types: list[int]


def parse_sdp(sdp: str) -> list[MediaSection]:
    """The audio sections of an SDP: where to send and which payload types."""
    session_address, sections = "", list[MediaSection]()
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("c=IN IP4 ") or line.startswith("c=IN IP6 "):
            address = line.split()[2]
            if sections:
                sections[-1].address = address
            else:
                session_address = address
        elif line.startswith("m="):
            fields = line[2:].split()
            if fields[0] == "audio":
                sections.append(
                    MediaSection(session_address, int(fields[1]), [int(p) for p in fields[3:] if p.isdigit()])
                )
            else:
                sections.append(MediaSection(session_address, 0, []))  # not ours: refused below
    return [s for s in sections if s.port]


def our_sdp(address: str, sections: list[tuple[int, int]], direction: str) -> str:
    """An SDP from us: one audio section per (port, payload type)."""
    session = secrets.randbelow(2**31)
    lines = [
        "v=0",
        f"o=- {session} {session} IN IP4 {address}",
        "s=pbx listen",
        f"c=IN IP4 {address}",
        "t=0 0",
    ]
    for port, payload_type in sections:
        name = "PCMU" if payload_type == g711.PCMU else "PCMA"
        lines += [
            f"m=audio {port} RTP/AVP {payload_type}",
            f"a=rtpmap:{payload_type} {name}/8000",
            "a=ptime:20",
            f"a={direction}",
        ]
    return "\r\n".join(lines) + "\r\n"


def pick_codec(payload_types: list[int]) -> int | None:
    for payload_type in payload_types:
        if payload_type in (g711.PCMU, g711.PCMA):
            return payload_type
    return None


# --- the agent's call, from Kamailio's dialog module -----------------------------------------


@dataclass
class Dialog:
    call_id: str
    state: int
    start: int
    caller_tag: str
    callee_tag: str
    variables: dict[str, str]


def parse_kamcmd_tree(text: str) -> list:
    """kamcmd's text output ("key: value", "key: {", "{", "}") as nested lists/dicts."""
    root: list = []
    stack: list = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        top = stack[-1]
        if line == "}":
            stack.pop()
            continue
        key, sep, value = line.partition(": ")
        if line == "{" or line.endswith(": {") or line == "{":
            child: dict = {}
            if line == "{":
                if isinstance(top, dict):  # an anonymous struct inside a struct: merge into a list
                    top.setdefault("", []).append(child)
                else:
                    top.append(child)
            else:
                top[line[:-3]] = child
            stack.append(child)
        elif sep and isinstance(top, dict):
            top[key] = value
        elif line.endswith(":") and isinstance(top, dict):
            top[line[:-1]] = ""
    return root


def kamailio_dialogs(ctl_socket: str, *, timeout: float = 5.0) -> list[Dialog]:
    """Kamailio's current dialogs (`kamcmd dlg.list` on its control socket)."""
    kamcmd = shutil.which("kamcmd") or "/usr/sbin/kamcmd"
    result = subprocess.run(  # noqa: S603 — our own command line
        [kamcmd, "-s", ctl_socket, "dlg.list"], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kamcmd dlg.list failed: {result.stdout}{result.stderr}")
    return parse_dlg_list(result.stdout)


def parse_dlg_list(text: str) -> list[Dialog]:
    dialogs = []
    for item in parse_kamcmd_tree(text):
        if not isinstance(item, dict) or "call-id" not in item:
            continue
        variables: dict[str, str] = {}
        for entry in (item.get("variables") or {}).get("", []):
            variables.update({k: v for k, v in entry.items() if isinstance(v, str)})
        dialogs.append(
            Dialog(
                call_id=item["call-id"],
                state=int(item.get("state", 0)),
                start=int(item.get("start_ts", 0)),
                caller_tag=(item.get("caller") or {}).get("tag", ""),
                callee_tag=(item.get("callee") or {}).get("tag", ""),
                variables=variables,
            )
        )
    return dialogs


CONFIRMED = 4  # the dialog module's state of an answered call


def current_call(dialogs: list[Dialog], target: str) -> tuple[Dialog, str, str] | None:
    """The newest answered call with media that `target` (number@domain) is in, and the tags
    of (the target, the other party)."""
    found = []
    for dialog in dialogs:
        if dialog.state != CONFIRMED or dialog.variables.get("media") != "1":
            continue
        if dialog.variables.get("pbx_caller") == target:
            found.append((dialog.start, dialog, dialog.caller_tag, dialog.callee_tag))
        elif dialog.variables.get("pbx_callee") == target:
            found.append((dialog.start, dialog, dialog.callee_tag, dialog.caller_tag))
    if not found:
        return None
    _, dialog, ours, theirs = max(found, key=lambda item: item[0])
    return dialog, ours, theirs


@dataclass(frozen=True)
class Node:
    """A Kamailio whose calls may be listened to, and the rtpengine its calls are anchored at."""

    kamailio_ctl: str
    rtpengine: tuple[str, int]

    @classmethod
    def parse(cls, value: str) -> Node:
        """ "unix:/run/kamailio_ctl,127.0.0.3:2223" (the control socket, the relay's ng address)."""
        ctl, _, relay = value.rpartition(",")
        host, _, port = relay.rpartition(":")
        if not ctl or not host or not port.isdigit():
            raise ValueError(f"{value!r} is not CONTROL,HOST:PORT")
        return cls(ctl, (host, int(port)))

    def __str__(self) -> str:
        return f"{self.kamailio_ctl},{self.rtpengine[0]}:{self.rtpengine[1]}"


def calls_of(nodes: list[Node], target: str) -> list[tuple[Node, Dialog, str, str]]:
    """The answered calls `target` is in, on every node (asked at once: a node that does not
    answer within 2 s is skipped), newest first, with the node each is on."""

    def ask(node: Node) -> list[Dialog]:
        try:
            return kamailio_dialogs(node.kamailio_ctl, timeout=2.0)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log.warning("listen: no dialogs from %s: %s", node.kamailio_ctl, exc)
            return []

    if len(nodes) == 1:
        answers = [ask(nodes[0])]
    else:
        with ThreadPoolExecutor(len(nodes)) as pool:
            answers = list(pool.map(ask, nodes))
    found = []
    for node, dialogs in zip(nodes, answers, strict=True):
        # A node may list another's call too (the dialog table it loaded at a restart): the
        # subscription is tried at each in turn, and only the relay holding the call accepts it.
        for dialog in dialogs:
            if (match := current_call([dialog], target)) is not None:
                found.append((node, *match))
    return sorted(found, key=lambda item: item[1].start, reverse=True)


# --- one supervisor listening ----------------------------------------------------------------


@dataclass
class Voice:
    """One party's copy from the relay: the socket it comes to, the relay's port it comes from
    (its section's port in the `subscribe request` offer: rtpengine sends from the port it
    advertises), the frames waiting to be mixed, and counts for the log."""

    sock: socket.socket
    relay_port: int
    frames: list[list[int]] = field(default_factory=list)
    received: int = 0
    foreign: int = 0  # packets from any other port: dropped


def read_voice(voice: Voice) -> None:
    """Queue the G.711 frames waiting on the voice's socket. Only what the relay sends for this
    party counts: a packet from anywhere else (a sender from an ended call or session that had
    this port before) is not one of the two voices and would only garble the mix."""
    with contextlib.suppress(BlockingIOError, OSError):
        while True:
            data, source = voice.sock.recvfrom(2048)
            if source[1] != voice.relay_port:
                voice.foreign += 1
                continue
            voice.received += 1
            if len(data) <= 12 or data[0] >> 6 != 2:
                continue
            payload_type = data[1] & 0x7F
            if payload_type not in (g711.PCMU, g711.PCMA):
                continue  # telephone-event, comfort noise
            skip = 12 + 4 * (data[0] & 0x0F)
            if data[0] & 0x10 and len(data) >= skip + 4:  # header extension
                skip += 4 + 4 * struct.unpack("!H", data[skip + 2 : skip + 4])[0]
            voice.frames.append(g711.decode(data[skip:], payload_type))


@dataclass
class Session:
    """One supervisor's INVITE, answered: the two voices in, the mix out."""

    invite: Message
    peer: tuple[str, int]
    local_tag: str
    node: Node
    agent_call_id: str
    subscription_tag: str
    voices: list[Voice]
    out: socket.socket
    payload_type: int
    destination: tuple[str, int] | None
    stopped: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class ListenServer:
    """The SIP side (UDP) and the sessions. `serve_forever()` until `shutdown()`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        nodes: list[Node],
        media_ip: str = "127.0.0.1",
        allowed: tuple[str, ...] = ("127.0.0.1",),
    ) -> None:
        if not nodes:
            raise ValueError("The listen service needs a Kamailio and its relay.")
        self.host, self.nodes = host, nodes
        self.media_ip, self.allowed = media_ip, allowed
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.sessions: dict[str, Session] = {}
        self._answers: dict[tuple[str, str], bytes] = {}  # (Call-ID, CSeq) → our final reply
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # SIP --------------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                break
            request = parse_request(data)
            if request is None:
                continue
            try:
                self.handle(request, peer)
            except Exception:  # one bad request must not stop the service
                log.exception("listen: %s %s failed", request.method, request.call_id)
                if request.method not in ("ACK",):
                    self.reply(request, peer, 500, "Listen service error")

    def shutdown(self) -> None:
        self._stop.set()
        for session in list(self.sessions.values()):
            self.end(session, send_bye=True)
        self.sock.close()

    def handle(self, request: Message, peer: tuple[str, int]) -> None:
        if peer[0] not in self.allowed:
            if request.method != "ACK":
                self.reply(request, peer, 403, "Only Kamailio may call here")
            return
        method = request.method
        session: Session | None
        retransmission = self._answers.get((request.call_id, request.get("cseq")))
        if retransmission is not None and method != "ACK":
            self.sock.sendto(retransmission, peer)
            return
        if method == "OPTIONS":
            self.reply(request, peer, 200, "OK")
        elif method == "INVITE" and request.call_id in self.sessions:
            # A re-INVITE (hold, a refreshed session): the same media, our SDP again.
            session = self.sessions[request.call_id]
            self._update_destination(session, request.body)
            self.reply(request, peer, 200, "OK", body=self._session_sdp(session), to_tag=session.local_tag)
        elif method == "INVITE":
            self.invite(request, peer)
        elif method == "ACK":
            session = self.sessions.get(request.call_id)
            if session is not None and session.destination is None:
                self._update_destination(session, request.body)  # the answer to a late offer
        elif method == "BYE":
            session = self.sessions.get(request.call_id)
            self.reply(request, peer, 200, "OK")
            if session is not None:
                self.end(session, send_bye=False)
        elif method == "CANCEL":
            # INVITEs are answered at once: nothing is left to cancel.
            self.reply(request, peer, 481, "Call/Transaction Does Not Exist")
        else:
            self.reply(request, peer, 501, "Not Implemented")

    def invite(self, request: Message, peer: tuple[str, int]) -> None:
        mode = request.get("x-pbx-supervise-mode")
        if mode == "whisper":
            self.reply(request, peer, 501, WHISPER_REASON)
            return
        if mode == "barge":
            self.reply(request, peer, 501, BARGE_REASON)
            return
        target = aor_of(request.get("x-pbx-supervise-target"))
        if mode != "listen" or not target:
            self.reply(request, peer, 400, "Not a supervision call")
            return
        offer = parse_sdp(request.body) if request.body.strip() else None
        payload_type = g711.PCMU
        if offer is not None:
            chosen = pick_codec(offer[0].payload_types) if offer else None
            if chosen is None:
                self.reply(request, peer, 488, "Only G.711 is spoken here")
                return
            payload_type = chosen

        subscribed = None
        for node, dialog, agent_tag, other_tag in calls_of(self.nodes, target):
            try:
                subscribed = self._subscribe(node, dialog, agent_tag, other_tag)
            except (OSError, ValueError) as exc:  # that relay does not answer: try the next
                log.warning("listen: rtpengine %s: %s", node, exc)
                continue
            if subscribed is not None:
                break
        if subscribed is None:
            self.reply(request, peer, 480, NO_CALL_REASON)
            return
        node, dialog, subscription_tag, voices = subscribed

        out = self._udp_socket()
        session = Session(
            invite=request,
            peer=peer,
            local_tag=secrets.token_hex(8),
            node=node,
            agent_call_id=dialog.call_id,
            subscription_tag=subscription_tag,
            voices=voices,
            out=out,
            payload_type=payload_type,
            destination=(offer[0].address, offer[0].port) if offer else None,
        )
        with self._lock:
            self.sessions[request.call_id] = session
        log.info("listen: %s hears %s (call %s)", aor_of(uri_of(request.get("from"))), target, dialog.call_id)
        self.reply(request, peer, 200, "OK", body=self._session_sdp(session), to_tag=session.local_tag)
        session.thread = threading.Thread(target=self._mix, args=(session,), daemon=True)
        session.thread.start()

    def _subscribe(
        self, node: Node, dialog: Dialog, agent_tag: str, other_tag: str
    ) -> tuple[Node, Dialog, str, list[Voice]] | None:
        """A copy of both parties' audio from the relay of the node holding the call: its tag
        and our two receiving sockets, or None when that relay refuses."""
        subscription = ng(
            node.rtpengine,
            {
                "command": "subscribe request",
                "call-id": dialog.call_id,
                "from-tags": [agent_tag, other_tag],
                "transport-protocol": "RTP/AVP",
                "ICE": "remove",
                "SDES": ["off"],
                "rtcp-mux": ["demux"],
                # Whatever the two phones speak (Opus from a browser too), we get G.711.
                "codec": {"transcode": ["PCMU", "PCMA"]},
            },
        )
        if subscription.get("result") != "ok":
            log.warning("listen: subscribe request for %s at %s: %s", dialog.call_id, node, subscription)
            return None
        sources = parse_sdp(subscription["sdp"])
        voices = [Voice(self._udp_socket(), source.port) for source in sources]
        answer = our_sdp(
            self.media_ip,
            [
                (v.sock.getsockname()[1], pick_codec(s.payload_types) or g711.PCMU)
                for v, s in zip(voices, sources, strict=True)
            ],
            "recvonly",
        )
        answered = ng(
            node.rtpengine,
            {
                "command": "subscribe answer",
                "call-id": dialog.call_id,
                "to-tag": subscription["to-tag"],
                "sdp": answer,
                # `asymmetric`: send the copies to the ports in this answer and nowhere else.
                # rtpengine otherwise learns a stream's destination from the source of the
                # packets reaching its port in the seconds after signalling, and we never send
                # on these ports: the first packet anyone else sent there (a phone of an ended
                # call still sending to a port the relay has just reused, a relay sharing the
                # range) took that party's copy away for the whole listening — the supervisor
                # heard one side only (test_supervision.py, the stray packet test).
                "flags": ["allow transcoding", "asymmetric"],
            },
        )
        if answered.get("result") != "ok":
            log.warning("listen: subscribe answer for %s at %s: %s", dialog.call_id, node, answered)
            for voice in voices:
                voice.sock.close()
            return None
        return node, dialog, subscription["to-tag"], voices

    def _session_sdp(self, session: Session) -> str:
        # sendrecv, though we only send (what the supervisor's phone sends is read and dropped):
        # baresip 1.0 plays nothing from a peer that answers `sendonly`, and many phones show
        # such an answer as "on hold".
        return our_sdp(self.media_ip, [(session.out.getsockname()[1], session.payload_type)], "sendrecv")

    def _update_destination(self, session: Session, body: str) -> None:
        sections = parse_sdp(body) if body.strip() else []
        if sections:
            session.destination = (sections[0].address, sections[0].port)

    def _udp_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.media_ip, 0))
        sock.setblocking(False)
        return sock

    def reply(
        self,
        request: Message,
        peer: tuple[str, int],
        status: int,
        reason: str,
        *,
        body: str = "",
        to_tag: str = "",
    ) -> None:
        to = request.get("to")
        if status > 100 and ";tag=" not in to:
            to += f";tag={to_tag or secrets.token_hex(8)}"
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in request.all("via")]
        if request.method == "INVITE" and status < 300:
            lines += [f"Record-Route: {rr}" for rr in request.all("record-route")]
            lines.append(f"Contact: <sip:listen@{self.host}:{self.port}>")
        lines += [
            f"From: {request.get('from')}",
            f"To: {to}",
            f"Call-ID: {request.call_id}",
            f"CSeq: {request.get('cseq')}",
            "Server: pbx-listen",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        data = ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
        if status >= 200:
            self._answers[(request.call_id, request.get("cseq"))] = data
            if len(self._answers) > 1000:
                self._answers.pop(next(iter(self._answers)))
        self.sock.sendto(data, peer)

    def send_bye(self, session: Session) -> None:
        """Hang up on the supervisor (the agent's call ended), through Kamailio's Record-Route."""
        invite = session.invite
        branch = "z9hG4bK" + secrets.token_hex(10)
        lines = [
            f"BYE {uri_of(invite.get('contact'))} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport",
            *[f"Route: {rr}" for rr in invite.all("record-route")],
            "Max-Forwards: 70",
            f"From: {invite.get('to')};tag={session.local_tag}",
            f"To: {invite.get('from')}",
            f"Call-ID: {invite.call_id}",
            "CSeq: 1 BYE",
            'Reason: SIP;cause=200;text="The call listened to has ended"',
            "Content-Length: 0",
        ]
        with contextlib.suppress(OSError):
            self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), session.peer)

    def end(self, session: Session, *, send_bye: bool) -> None:
        with self._lock:
            if self.sessions.get(session.invite.call_id) is not session:
                return
            del self.sessions[session.invite.call_id]
        session.stopped.set()
        if send_bye:
            self.send_bye(session)
        with contextlib.suppress(OSError, ValueError):
            ng(
                session.node.rtpengine,
                {
                    "command": "unsubscribe",
                    "call-id": session.agent_call_id,
                    "to-tag": session.subscription_tag,
                },
                timeout=1.0,
            )
        if session.thread is not None and session.thread is not threading.current_thread():
            session.thread.join(timeout=2)
        for sock in (*(voice.sock for voice in session.voices), session.out):
            sock.close()
        log.info(
            "listen: %s ended; packets per voice %s, from elsewhere (dropped) %s",
            session.invite.call_id,
            [voice.received for voice in session.voices],
            [voice.foreign for voice in session.voices],
        )

    # media ------------------------------------------------------------------------------------

    def _mix(self, session: Session) -> None:
        """Every 20 ms: one frame of each voice (silence if none came), added, sent. Every
        second: is the agent's call still there? If not, hang up on the supervisor."""
        sockets = {voice.sock: voice for voice in session.voices}
        ssrc, sequence = secrets.randbits(32), secrets.randbelow(65536)
        timestamp = secrets.randbits(32)
        start = time.monotonic()
        tick, next_check = 0, start + 1.0
        while not session.stopped.is_set():
            deadline = start + (tick + 1) * FRAME_SECONDS
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                readable, _, _ = select.select([*sockets, session.out], [], [], remaining)
                for sock in readable:
                    if sock is session.out:
                        with contextlib.suppress(OSError):
                            sock.recv(2048)  # the supervisor's microphone: not passed on
                    else:
                        read_voice(sockets[sock])
            tick += 1
            mixed = [0] * FRAME_SAMPLES
            for voice in session.voices:
                queue = voice.frames
                if queue:
                    frame = queue.pop(0)
                    for i, sample in enumerate(frame[:FRAME_SAMPLES]):
                        mixed[i] += sample
                del queue[: max(0, len(queue) - MAX_QUEUED_FRAMES)]
            if session.destination is not None:
                header = struct.pack("!BBHII", 0x80, session.payload_type, sequence, timestamp, ssrc)
                with contextlib.suppress(OSError):
                    session.out.sendto(header + g711.encode(mixed, session.payload_type), session.destination)
            sequence = (sequence + 1) & 0xFFFF
            timestamp = (timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 1.0
                if not self._call_goes_on(session):
                    log.info(
                        "listen: call %s ended, hanging up on %s",
                        session.agent_call_id,
                        session.invite.call_id,
                    )
                    threading.Thread(
                        target=self.end, args=(session,), kwargs={"send_bye": True}, daemon=True
                    ).start()
                    return

    def _call_goes_on(self, session: Session) -> bool:
        """The agent's call is still in Kamailio's dialogs (its BYE, a timeout, end it)."""
        try:
            dialogs = kamailio_dialogs(session.node.kamailio_ctl)
        except (OSError, RuntimeError, subprocess.SubprocessError):
            return True  # Kamailio restarting: keep listening rather than hang up
        return any(d.call_id == session.agent_call_id and d.state == CONFIRMED for d in dialogs)


# --- the process ------------------------------------------------------------------------------


class ListenProcess:
    """`python -m sip.listen` as a child process, stopped by its PID (like sip.rtpengine's
    Rtpengine). `new_session=False` keeps it in the caller's process group (Ctrl-C of `make sip`).

    >>> with ListenProcess(port=5090, rtpengine=("127.0.0.1", 2223), kamailio_ctl="unix:/…") as service:
    ...     service.uri
    'sip:127.0.0.1:5090'

    A cluster node's: `nodes` lists every node (its own and the others'), instead of its own
    `rtpengine` and `kamailio_ctl`.
    """

    def __init__(
        self,
        *,
        port: int,
        rtpengine: tuple[str, int] | None = None,
        kamailio_ctl: str = "",
        nodes: Sequence[Node] = (),
        host: str = "127.0.0.1",
        media_ip: str = "127.0.0.1",
        allow: tuple[str, ...] = ("127.0.0.1",),
        log_path: Path | None = None,
        new_session: bool = True,
    ) -> None:
        self.host, self.port = host, port
        if rtpengine is not None:
            nodes = [Node(kamailio_ctl, rtpengine), *nodes]
        if not nodes:
            raise ValueError("The listen service needs a Kamailio and its relay.")
        self.command = [
            sys.executable,
            "-m",
            "sip.listen",
            f"--listen={host}:{port}",
            *(f"--node={node}" for node in nodes),
            f"--media-ip={media_ip}",
            f"--allow={','.join(allow)}",
        ]
        self.log_path, self.new_session = log_path, new_session
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        """Where Kamailio sends `*33` calls (its LISTEN_URI)."""
        return f"sip:{self.host}:{self.port}"

    def start(self, *, timeout: float = 10.0) -> ListenProcess:
        log_file = open(self.log_path, "wb") if self.log_path else None  # noqa: SIM115 — the child keeps it
        try:
            self.process = subprocess.Popen(  # noqa: S603 — our own command line
                self.command,
                cwd=Path(__file__).resolve().parent.parent,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT if log_file else None,
                start_new_session=self.new_session,
            )
        finally:
            if log_file:
                log_file.close()
        deadline = time.monotonic() + timeout
        probe = (
            f"OPTIONS sip:{self.host}:{self.port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKprobe{}\r\n"
            "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:listen@127.0.0.1>\r\n"
            "Call-ID: probe{}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            attempt = 0
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"the listen service exited with {self.process.returncode}: {self.log()[-2000:]}"
                    )
                attempt += 1
                with contextlib.suppress(OSError):
                    sock.sendto(probe.format(attempt, attempt).encode(), (self.host, self.port))
                    # Any answer: up (a cluster node's service answers 403 to all but its node).
                    if sock.recv(4096).startswith(b"SIP/2.0 "):
                        return self
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"the listen service did not answer within {timeout}s: {self.log()[-2000:]}"
                    )

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
        self.process = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except FileNotFoundError:
            return ""

    def __enter__(self) -> ListenProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sip.listen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:5090", help="SIP (UDP) address, host:port")
    parser.add_argument("--rtpengine", default="127.0.0.1:2223", help="rtpengine's ng control address")
    parser.add_argument("--kamailio-ctl", help="Kamailio's control socket, e.g. unix:/path")
    parser.add_argument(
        "--node",
        action="append",
        type=Node.parse,
        default=[],
        help="a cluster node whose calls may be listened to: its control socket and its rtpengine, "
        "CONTROL,HOST:PORT (repeat for every node; instead of --kamailio-ctl and --rtpengine)",
    )
    parser.add_argument("--media-ip", default="127.0.0.1", help="address our RTP sockets use")
    parser.add_argument(
        "--allow", default="127.0.0.1", help="comma-separated addresses requests may come from"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="listen: %(message)s", stream=sys.stderr)
    host, _, port = args.listen.rpartition(":")
    nodes = list(args.node)
    if args.kamailio_ctl:
        nodes.insert(0, Node.parse(f"{args.kamailio_ctl},{args.rtpengine}"))
    if not nodes:
        parser.error("give --kamailio-ctl (and --rtpengine), or --node for each cluster node")
    server = ListenServer(
        host=host,
        port=int(port),
        nodes=nodes,
        media_ip=args.media_ip,
        allowed=tuple(a.strip() for a in args.allow.split(",") if a.strip()),
    )

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    log.info("SIP on udp:%s:%s; Kamailio and rtpengine: %s", host, server.port, " ".join(map(str, nodes)))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
