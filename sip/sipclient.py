"""A small SIP user agent for the tests and the REGISTER benchmark.

It sends REGISTER, INVITE (and OPTIONS) over UDP, TCP, TLS or WebSocket (RFC 7118, the way
the WebRTC extension connects; ws or wss) to an outbound proxy and answers a
401/407 challenge with MD5 digest authentication (RFC 2617 / RFC 7616, qop=auth), the way a
softphone does with the login info the dashboard shows. An INVITE is acknowledged as RFC 3261
says (the ACK of an error reply goes hop by hop; a 2xx is ACKed along the Record-Route and can
be hung up with BYE). Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field

USER_AGENT = "pbx-sipclient/1.0"
# What Kamailio serves (SIP_TRANSPORTS may list only these) and this client speaks.
TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
# How long to wait for a final response; UDP requests are resent meanwhile (RFC 3261 timer A).
DEFAULT_TIMEOUT = 4.0
UDP_FIRST_RETRANSMIT = 0.5


class SipError(Exception):
    """No (parsable) response from the server."""


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: str = ""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass
class Call:
    """An INVITE's outcome: its final response and, when answered, how to reach the far end."""

    response: Response
    request_uri: str
    from_header: str
    call_id: str
    cseq: int
    to_header: str = ""
    route_set: list[str] = field(default_factory=list)
    remote_target: str = ""

    @property
    def status(self) -> int:
        return self.response.status


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 — SIP digest is MD5 by protocol


def parse_challenge(header: str) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Digest …` header."""
    scheme, _, params = header.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipError(f"Not a digest challenge: {header!r}")
    pattern = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*,?')
    return {
        key.lower(): value[1:-1] if value.startswith('"') else value.strip()
        for key, value in pattern.findall(params)
    }


def digest_authorization(
    *,
    challenge: dict[str, str],
    method: str,
    uri: str,
    username: str,
    password: str | None = None,
    ha1: str | None = None,
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """The `Authorization` header value answering `challenge` (MD5, with qop=auth if offered)."""
    realm = challenge.get("realm", "")
    if ha1 is None:
        if password is None:
            raise ValueError("Give the password or its ha1.")
        ha1 = md5_hex(f"{username}:{realm}:{password}")
    ha2 = md5_hex(f"{method}:{uri}")
    nonce = challenge["nonce"]
    params = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        "algorithm=MD5",
    ]
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        nc_text = f"{nc:08x}"
        response = md5_hex(f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        params += [f'cnonce="{cnonce}"', f"nc={nc_text}", "qop=auth"]
    else:
        response = md5_hex(f"{ha1}:{nonce}:{ha2}")
    params.insert(4, f'response="{response}"')
    if "opaque" in challenge:
        params.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(params)


def parse_response(data: bytes) -> Response:
    head, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    match = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if not match:
        raise SipError(f"Not a SIP response: {lines[0]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(_long_name(name.strip().lower()), []).append(value.strip())
    return Response(status=int(match.group(1)), reason=match.group(2), headers=headers, body=body)


_COMPACT = {"i": "call-id", "v": "via", "f": "from", "t": "to", "m": "contact", "l": "content-length"}


def _long_name(name: str) -> str:
    return _COMPACT.get(name, name)


class SipClient:
    """One SIP endpoint (a local socket) talking to one server address.

    >>> with SipClient("127.0.0.1", 5060, transport="tcp") as client:
    ...     client.register(username="101", domain="19001234.sip.example.vn", password="…").status
    200
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        transport: str = "udp",
        timeout: float = DEFAULT_TIMEOUT,
        local_ip: str = "127.0.0.1",
        ws_path: str = "/ws",
        cafile: str | None = None,
        advertised_address: str | None = None,
        bind_port: int = 0,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}")
        self.server = (host, port)
        self.transport = transport
        self.ws_path = ws_path
        # TLS and wss: the server's certificate must chain to `cafile` (e.g. the self-signed
        # certificate itself); without one it is not checked, as many softphones allow.
        self.cafile = cafile
        # "ip:port" put in Via and Contact instead of the socket's own, as a phone behind a NAT
        # does (it knows only its private address).
        self.advertised_address = advertised_address
        # The local port (UDP): e.g. a REGISTER sent from the port another user agent (SIPp)
        # will then listen on, so Kamailio reaches that one at the address it saw (`received`).
        self.bind_port = bind_port
        # A WebSocket client has no address of its own to offer (RFC 7118): like JsSIP, it
        # names itself with an .invalid host and the server answers on the connection.
        self.ws_host = f"{secrets.token_hex(6)}.invalid"
        self.timeout = timeout
        self.local_ip = local_ip
        self.sock: socket.socket | None = None
        self._buffer = b""
        self.cseq = 0
        self.call_id = f"{secrets.token_hex(12)}@{local_ip}"
        self.tag = secrets.token_hex(6)
        # The last proxy challenge per realm, answered again (with the next nonce count) on
        # later INVITEs, as softphones do, instead of waiting for a 407 every time.
        self._proxy_challenges: dict[str, tuple[dict[str, str], int]] = {}

    # --- connection -------------------------------------------------------------------------

    def open(self) -> SipClient:
        if self.transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((self.local_ip, self.bind_port))
        else:
            self.sock = socket.create_connection(
                self.server, timeout=self.timeout, source_address=(self.local_ip, 0)
            )
            if self.transport in ("tls", "wss"):
                self.sock = self._tls_context().wrap_socket(self.sock, server_hostname=self.server[0])
            if self.is_websocket:
                self._ws_handshake()
        return self

    @property
    def is_websocket(self) -> bool:
        return self.transport in ("ws", "wss")

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cafile is None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _ws_handshake(self) -> None:
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        host, port = self.server
        self.sock.sendall(
            (
                f"GET {self.ws_path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: sip\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SipError("The server closed the connection during the WebSocket handshake")
            head += chunk
        head, _, self._buffer = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise SipError(f"WebSocket handshake refused: {head.splitlines()[0]!r}")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> SipClient:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def local_port(self) -> int:
        assert self.sock is not None, "open() the client first"
        return self.sock.getsockname()[1]

    # --- requests ---------------------------------------------------------------------------

    def options(self) -> Response:
        """An out-of-dialog OPTIONS to the server itself (a ping)."""
        host, port = self.server
        return self._transaction(
            "OPTIONS",
            f"sip:{host}:{port}",
            to_uri=f"sip:{host}:{port}",
            from_uri=f"sip:ping@{host}",
            extra=[],
        )

    def register(
        self,
        *,
        username: str,
        domain: str,
        password: str | None = None,
        ha1: str | None = None,
        expires: int = 300,
        auth_username: str | None = None,
        user_agent: str = USER_AGENT,
    ) -> Response:
        """REGISTER username@domain; answer one challenge; return the final response.

        200 means registered; 401 after sending credentials or 403 means refused.
        """
        uri = f"sip:{domain}"
        aor = f"sip:{username}@{domain}"
        extra = [
            f"Contact: <{self._contact(username)}>",
            f"Expires: {expires}",
            f"User-Agent: {user_agent}",
        ]
        response = self._transaction("REGISTER", uri, to_uri=aor, from_uri=aor, extra=extra)
        if response.status not in (401, 407) or (password is None and ha1 is None):
            return response
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = parse_challenge(response.header(header) or "")
        authorization = digest_authorization(
            challenge=challenge,
            method="REGISTER",
            uri=uri,
            username=auth_username or username,
            password=password,
            ha1=ha1,
        )
        auth_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        return self._transaction(
            "REGISTER", uri, to_uri=aor, from_uri=aor, extra=[f"{auth_header}: {authorization}", *extra]
        )

    def invite(
        self,
        *,
        number: str,
        domain: str,
        username: str,
        password: str | None = None,
        ha1: str | None = None,
        auth_username: str | None = None,
        hangup: bool = True,
        headers: list[str] | None = None,
        ack_sdp: str = "",
        sdp: str = "",
    ) -> Call:
        """Call `number` as username@domain; answer the proxy's challenge; ACK the final
        response (and, if answered, hang up with BYE unless `hangup` is False). With `sdp` the
        INVITE carries that offer and the 2xx the answer; without, a callee that answers makes
        the offer in its 2xx, and `ack_sdp` is the answer the ACK carries (a late offer)."""
        request_uri = f"sip:{number}@{domain}"
        from_header = f"<sip:{username}@{domain}>;tag={secrets.token_hex(6)}"
        call_id = f"{secrets.token_hex(12)}@{self.local_ip}"
        extra = [
            f"Contact: <{self._contact(username)}>",
            f"User-Agent: {USER_AGENT}",
            *(headers or []),
        ]
        auth_user = auth_username or username
        credentials = password is not None or ha1 is not None
        cached = self._proxy_challenges.get(domain) if credentials else None
        for attempt in range(2):
            auth = []
            if cached is not None:
                challenge, nc = cached
                self._proxy_challenges[domain] = (challenge, nc + 1)
                auth = [
                    "Proxy-Authorization: "
                    + digest_authorization(
                        challenge=challenge,
                        method="INVITE",
                        uri=request_uri,
                        username=auth_user,
                        password=password,
                        ha1=ha1,
                        nc=nc + 1,
                    )
                ]
            self.cseq += 1
            branch = "z9hG4bK" + secrets.token_hex(8)
            response = self._request(
                "INVITE",
                request_uri,
                branch=branch,
                cseq=self.cseq,
                call_id=call_id,
                from_header=from_header,
                to_header=f"<{request_uri}>",
                extra=[*auth, *extra],
                body=sdp,
            )
            call = Call(
                response=response,
                request_uri=request_uri,
                from_header=from_header,
                call_id=call_id,
                cseq=self.cseq,
                to_header=response.header("to") or "",
            )
            if 200 <= response.status < 300:
                self._answered(call, response, body=ack_sdp)
                if hangup:
                    self.bye(call)
                return call
            self._ack_error(call, branch)
            if response.status not in (401, 407) or not credentials or attempt:
                return call
            header = "Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate"
            cached = (parse_challenge(response.header(header) or ""), 0)
        return call

    def bye(self, call: Call) -> Response:
        """Hang up an answered call, along its route set."""
        self.cseq += 1
        return self._request(
            "BYE",
            call.remote_target,
            branch="z9hG4bK" + secrets.token_hex(8),
            cseq=self.cseq,
            call_id=call.call_id,
            from_header=call.from_header,
            to_header=call.to_header,
            extra=[f"Route: {route}" for route in call.route_set],
        )

    def send(self, message: bytes) -> None:
        """Send a message as is (a phone's answer to a request it received, say)."""
        if self.sock is None:
            self.open()
        self._send(message)

    def receive(self, timeout: float | None = None) -> bytes:
        """The next SIP message that arrives (a request to this phone, say)."""
        if self.sock is None:
            self.open()
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        return self._receive()

    # --- internals --------------------------------------------------------------------------

    def _contact(self, username: str) -> str:
        if self.is_websocket:
            return f"sip:{username}@{self.ws_host};transport={self.transport}"
        transport_param = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{username}@{self._sent_by()}{transport_param}"

    def _sent_by(self) -> str:
        if self.is_websocket:
            return self.ws_host
        return self.advertised_address or f"{self.local_ip}:{self.local_port}"

    def _answered(self, call: Call, response: Response, *, body: str = "") -> None:
        """ACK a 2xx: a new transaction to the callee's Contact, through the Record-Route."""
        routes = [r.strip() for value in response.headers.get("record-route", []) for r in value.split(",")]
        call.route_set = list(reversed(routes))
        contact = response.header("contact") or ""
        match = re.search(r"<([^>]+)>", contact)
        call.remote_target = match.group(1) if match else contact.split(";")[0]
        self._send(
            self._message(
                "ACK",
                call.remote_target,
                branch="z9hG4bK" + secrets.token_hex(8),
                cseq=call.cseq,
                call_id=call.call_id,
                from_header=call.from_header,
                to_header=call.to_header,
                extra=[f"Route: {route}" for route in call.route_set],
                body=body,
            )
        )

    def _ack_error(self, call: Call, branch: str) -> None:
        """ACK an error reply: same branch and CSeq number as the INVITE, hop by hop."""
        self._send(
            self._message(
                "ACK",
                call.request_uri,
                branch=branch,
                cseq=call.cseq,
                call_id=call.call_id,
                from_header=call.from_header,
                to_header=call.to_header,
                extra=[],
            )
        )

    def _transaction(
        self, method: str, request_uri: str, *, to_uri: str, from_uri: str, extra: list[str]
    ) -> Response:
        self.cseq += 1
        return self._request(
            method,
            request_uri,
            branch="z9hG4bK" + secrets.token_hex(8),
            cseq=self.cseq,
            call_id=self.call_id,
            from_header=f"<{from_uri}>;tag={self.tag}",
            to_header=f"<{to_uri}>",
            extra=extra,
        )

    def _message(
        self,
        method: str,
        request_uri: str,
        *,
        branch: str,
        cseq: int,
        call_id: str,
        from_header: str,
        to_header: str,
        extra: list[str],
        body: str = "",
    ) -> bytes:
        if self.sock is None:
            self.open()
        sent_by = self._sent_by()
        lines = [
            f"{method} {request_uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport.upper()} {sent_by};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: {from_header}",
            f"To: {to_header}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} {method}",
            *extra,
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def _request(self, method: str, request_uri: str, *, branch: str, **parts) -> Response:
        message = self._message(method, request_uri, branch=branch, **parts)
        return self._send_and_wait(message, branch)

    def _send(self, message: bytes) -> None:
        if self.transport == "udp":
            self.sock.sendto(message, self.server)
        elif self.is_websocket:
            self.sock.sendall(_ws_frame(message))
        else:
            self.sock.sendall(message)

    def _send_and_wait(self, message: bytes, branch: str) -> Response:
        deadline = time.monotonic() + self.timeout
        self._send(message)
        if self.transport == "udp":
            retransmit_in = UDP_FIRST_RETRANSMIT
            next_send = time.monotonic() + retransmit_in
        else:
            next_send = float("inf")
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise SipError(f"No final response from {self.server} within {self.timeout}s")
            if now >= next_send:
                self.sock.sendto(message, self.server)
                retransmit_in *= 2
                next_send = now + retransmit_in
            self.sock.settimeout(max(0.01, min(deadline, next_send) - now))
            try:
                data = self._receive()
            except TimeoutError:
                continue
            if not data.startswith(b"SIP/2.0 "):
                continue  # a request (e.g. a retransmitted ACK from a far end); not ours to answer
            response = parse_response(data)
            via = response.header("via") or ""
            if f"branch={branch}" not in via:
                continue  # a late answer to an earlier request
            if response.status < 200:
                next_send = float("inf")  # provisional: the server has it, stop resending
                continue
            return response

    def _receive(self) -> bytes:
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(65535)
            return data
        if self.is_websocket:
            return self._receive_ws()
        while True:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = self._buffer[:head_end].decode("utf-8", "replace")
                match = re.search(r"^(?:content-length|l)\s*:\s*(\d+)", head, re.IGNORECASE | re.MULTILINE)
                total = head_end + 4 + (int(match.group(1)) if match else 0)
                if len(self._buffer) >= total:
                    data, self._buffer = self._buffer[:total], self._buffer[total:]
                    if data.strip():
                        return data
                    continue
            chunk = self.sock.recv(65535)
            if not chunk:
                raise SipError("The server closed the TCP connection")
            # Keepalive CRLFs between messages are not part of any message.
            self._buffer = (self._buffer + chunk).lstrip(b"\r\n")

    def _receive_ws(self) -> bytes:
        """The payload of the next text or binary frame (one SIP message each, RFC 7118)."""
        while True:
            head = self._read_exactly(2)
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exactly(8))[0]
            mask = self._read_exactly(4) if head[1] & 0x80 else b""
            payload = self._read_exactly(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise SipError("The server closed the WebSocket")
            if opcode == 0x9:  # ping → pong
                self.sock.sendall(_ws_frame(payload, opcode=0xA))
                continue
            if opcode in (0x1, 0x2) and payload.strip():
                return payload

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(65535)
            if not chunk:
                raise SipError("The server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data


def _ws_frame(payload: bytes, *, opcode: int = 0x1) -> bytes:
    """One final, masked frame (a client must mask what it sends)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = secrets.token_bytes(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
