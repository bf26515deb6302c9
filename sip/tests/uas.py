"""A stand-in for the carrier gateway and the media server: a UDP SIP user agent server on a
free loopback port that records every INVITE Kamailio sends it and answers with a status
chosen by the test (486 Busy Here by default, or 200 OK). Standard library only."""

from __future__ import annotations

import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

REASONS = {
    200: "OK",
    404: "Not Found",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    uri: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def user(self) -> str:
        """The user part of the Request-URI (the number dialled, after normalisation)."""
        match = re.match(r"sips?:([^@;>]+)@", self.uri)
        return match.group(1) if match else ""

    def header_user(self, name: str) -> str:
        """The user part of the URI in a From / To / P-Asserted-Identity header."""
        match = re.search(r"sips?:([^@;>]+)@", self.header(name) or "")
        return match.group(1) if match else ""

    def params(self, name: str) -> dict[str, str]:
        """`a=1;b=2` header values (our X-PBX-Dial) as a dict."""
        return dict(part.split("=", 1) for part in (self.header(name) or "").split(";") if "=" in part)


_COMPACT = {"i": "call-id", "v": "via", "f": "from", "t": "to", "m": "contact", "l": "content-length"}


def parse_request(data: bytes) -> Request | None:
    head = data.decode("utf-8", "replace").partition("\r\n\r\n")[0]
    lines = head.split("\r\n")
    match = re.match(r"([A-Z]+) (\S+) SIP/2\.0$", lines[0])
    if not match:
        return None  # a response (Kamailio's ACKs have no answer), or noise
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers.setdefault(_COMPACT.get(name, name), []).append(value.strip())
    return Request(method=match.group(1), uri=match.group(2), headers=headers)


class StandInUas:
    """>>> with StandInUas(answer=486) as gateway: … gateway.uri … gateway.invites"""

    def __init__(self, *, host: str = "127.0.0.1", answer: int = 486) -> None:
        self.host = host
        self.answer = answer
        self.invites: list[Request] = []
        self.requests: list[Request] = []
        self._answered: dict[tuple[str, str], bytes] = {}  # (method, top Via branch) → response
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"uas-{self.port}", daemon=True)

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    def __enter__(self) -> StandInUas:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def clear(self) -> None:
        with self._lock:
            self.invites.clear()
            self.requests.clear()

    def wait_for(self, method: str, count: int = 1, timeout: float = 3.0) -> list[Request]:
        """The requests of `method` received so far, once there are `count` (or the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [r for r in self.requests if r.method == method]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            request = parse_request(data)
            if request is None:
                continue
            branch = (request.header("via") or "").partition("branch=")[2].split(";")[0]
            if request.method == "ACK":
                with self._lock:
                    self.requests.append(request)
                continue
            if (request.method, branch) in self._answered:  # a retransmission
                self._sock.sendto(self._answered[(request.method, branch)], address)
                continue
            with self._lock:
                self.requests.append(request)
                if request.method == "INVITE":
                    self.invites.append(request)
            status = self.answer if request.method == "INVITE" else 200
            response = response_for(request, status, contact=f"sip:gateway@{self.host}:{self.port}")
            self._answered[(request.method, branch)] = response
            self._sock.sendto(response, address)


def response_for(request: Request | bytes, status: int, *, contact: str = "", sdp: str = "") -> bytes:
    """The response a user agent sends to `request` (a 2xx to an INVITE names `contact`, and
    carries `sdp` when given: the answer to the INVITE's offer)."""
    if isinstance(request, bytes):
        request = parse_request(request)
    to = request.header("to") or ""
    if ";tag=" not in to:
        to += f";tag={secrets.token_hex(4)}"
    lines = [f"SIP/2.0 {status} {REASONS.get(status, 'Whatever')}"]
    lines += [f"Via: {via}" for via in request.headers.get("via", [])]
    lines += [f"Record-Route: {rr}" for rr in request.headers.get("record-route", [])]
    lines += [
        f"From: {request.header('from')}",
        f"To: {to}",
        f"Call-ID: {request.header('call-id')}",
        f"CSeq: {request.header('cseq')}",
    ]
    if status == 200 and request.method == "INVITE" and contact:
        lines.append(f"Contact: <{contact}>")
    if sdp:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(sdp.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + sdp).encode()
