"""A small SIP user agent for the tests and the REGISTER benchmark.

It sends REGISTER (and OPTIONS) over UDP or TCP to an outbound proxy and answers a 401
challenge with MD5 digest authentication (RFC 2617 / RFC 7616, qop=auth), the way a
softphone does with the login info the dashboard shows. Standard library only.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field

USER_AGENT = "pbx-sipclient/1.0"
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
    *, challenge: dict[str, str], method: str, uri: str, username: str, password: str | None = None,
    ha1: str | None = None, cnonce: str | None = None, nc: int = 1,
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
        f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
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

    def __init__(self, host: str, port: int, *, transport: str = "udp", timeout: float = DEFAULT_TIMEOUT,
                 local_ip: str = "127.0.0.1") -> None:
        if transport not in ("udp", "tcp"):
            raise ValueError("transport must be 'udp' or 'tcp'")
        self.server = (host, port)
        self.transport = transport
        self.timeout = timeout
        self.local_ip = local_ip
        self.sock: socket.socket | None = None
        self._buffer = b""
        self.cseq = 0
        self.call_id = f"{secrets.token_hex(12)}@{local_ip}"
        self.tag = secrets.token_hex(6)

    # --- connection -------------------------------------------------------------------------

    def open(self) -> SipClient:
        if self.transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((self.local_ip, 0))
        else:
            self.sock = socket.create_connection(self.server, timeout=self.timeout,
                                                 source_address=(self.local_ip, 0))
        return self

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
        return self._transaction("OPTIONS", f"sip:{host}:{port}", to_uri=f"sip:{host}:{port}",
                                 from_uri=f"sip:ping@{host}", extra=[])

    def register(self, *, username: str, domain: str, password: str | None = None, ha1: str | None = None,
                 expires: int = 300, auth_username: str | None = None,
                 user_agent: str = USER_AGENT) -> Response:
        """REGISTER username@domain; answer one challenge; return the final response.

        200 means registered; 401 after sending credentials or 403 means refused.
        """
        uri = f"sip:{domain}"
        aor = f"sip:{username}@{domain}"
        transport_param = ";transport=tcp" if self.transport == "tcp" else ""
        extra = [
            f"Contact: <sip:{username}@{self.local_ip}:{self.local_port}{transport_param}>",
            f"Expires: {expires}",
            f"User-Agent: {user_agent}",
        ]
        response = self._transaction("REGISTER", uri, to_uri=aor, from_uri=aor, extra=extra)
        if response.status not in (401, 407) or (password is None and ha1 is None):
            return response
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        challenge = parse_challenge(response.header(header) or "")
        authorization = digest_authorization(
            challenge=challenge, method="REGISTER", uri=uri, username=auth_username or username,
            password=password, ha1=ha1,
        )
        auth_header = "Authorization" if response.status == 401 else "Proxy-Authorization"
        return self._transaction("REGISTER", uri, to_uri=aor, from_uri=aor,
                                 extra=[f"{auth_header}: {authorization}", *extra])

    # --- internals --------------------------------------------------------------------------

    def _transaction(self, method: str, request_uri: str, *, to_uri: str, from_uri: str,
                     extra: list[str]) -> Response:
        if self.sock is None:
            self.open()
        self.cseq += 1
        branch = "z9hG4bK" + secrets.token_hex(8)
        lines = [
            f"{method} {request_uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport.upper()} {self.local_ip}:{self.local_port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <{from_uri}>;tag={self.tag}",
            f"To: <{to_uri}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {method}",
            *extra,
            "Content-Length: 0",
        ]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return self._send_and_wait(message, branch)

    def _send_and_wait(self, message: bytes, branch: str) -> Response:
        deadline = time.monotonic() + self.timeout
        if self.transport == "udp":
            self.sock.sendto(message, self.server)
            retransmit_in = UDP_FIRST_RETRANSMIT
            next_send = time.monotonic() + retransmit_in
        else:
            self.sock.sendall(message)
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
            response = parse_response(data)
            via = response.header("via") or ""
            if f"branch={branch}" not in via or response.status < 200:
                continue  # a provisional reply, or a late answer to an earlier request
            return response

    def _receive(self) -> bytes:
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(65535)
            return data
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
