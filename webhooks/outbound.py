"""The worker's HTTP POST to an endpoint: short timeouts, a deadline, no redirects, and the
SSRF guard.

The host is resolved once and the request goes to the address that was checked (a name that
resolves to a public address for the check and a private one for the request — DNS rebinding —
gets nowhere). Unless WEBHOOK_ALLOW_PRIVATE_TARGETS is on, loopback, private, link-local,
multicast and reserved addresses are refused: a tenant must not make the server call the
services next to it. That includes IPv6 addresses that lead to IPv4 ones by another way (NAT64,
6to4, Teredo, IPv4-mapped and -compatible), which Python's `is_global` calls global.

A timeout bounds each wait (connecting, then every read); an endpoint that trickles its answer
a byte at a time never hits it, so each attempt also has a deadline (WEBHOOK_DEADLINE, from the
connection on): then its socket is shut down and the attempt fails, and the worker's thread is
free again.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

USER_AGENT = "pbx-webhooks/1"
# What the log keeps of an answer's body.
BODY_PREVIEW = 200


class TargetRefused(Exception):
    """The URL may not be called (scheme, or an address the guard refuses)."""


@dataclass
class Answer:
    status: int
    body: str


# IPv6 prefixes that carry traffic to IPv4 addresses (the embedded one may be this network's):
# NAT64 (RFC 6052 well-known, RFC 8215 local-use), 6to4 (RFC 3056), Teredo (RFC 4380).
IPV4_TUNNELS = tuple(
    ipaddress.IPv6Network(prefix) for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
)
# IPv4-compatible (deprecated, RFC 4291) and IPv4-translated (SIIT, RFC 2765) addresses: the
# last 32 bits are an IPv4 address. (IPv4-mapped ones have `ipv4_mapped`.)
IPV4_EMBEDDING = (ipaddress.IPv6Network("::/96"), ipaddress.IPv6Network("::ffff:0:0:0/96"))


def is_public(address: str) -> bool:
    """Whether the guard lets the worker call `address`: a global unicast address, and for an
    IPv6 address that stands for an IPv4 one, that IPv4 address is."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in IPV4_TUNNELS):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif any(ip in network for network in IPV4_EMBEDDING):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def check_url(url: str) -> None:
    """Refuse what never may be called, before any network use: a scheme other than http(s),
    and (without WEBHOOK_ALLOW_PRIVATE_TARGETS) a literal address or name of this network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("only http:// and https:// URLs")
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    host = parts.hostname.lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise TargetRefused("a host of the server's own network")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: checked once resolved
    if not is_public(host):
        raise TargetRefused("a private or reserved address")


def resolve(host: str, port: int) -> str:
    """The address to connect to: the first one the name resolves to, when the guard allows it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS and not all(is_public(a) for a in addresses):
        raise TargetRefused(f"{host} resolves to a private or reserved address")
    return addresses[0]


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url`; raises TargetRefused or OSError (timeouts, the deadline, refused
    connections, TLS errors) when no HTTP answer came."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port)
    deadline = settings.WEBHOOK_DEADLINE
    started = time.monotonic()
    sock = socket.create_connection((address, port), timeout=min(settings.WEBHOOK_CONNECT_TIMEOUT, deadline))
    guard = _Deadline(sock, deadline - (time.monotonic() - started))
    try:
        sock.settimeout(settings.WEBHOOK_TIMEOUT)
        if parts.scheme == "https":
            # The handshake after the guard holds the TLS socket: wrap_socket() takes over the
            # plain one's descriptor, and a handshake trickled a byte at a time must be cut too.
            sock = ssl.create_default_context().wrap_socket(
                sock, server_hostname=host, do_handshake_on_connect=False
            )
            guard.sock = sock
            if guard.expired.is_set():
                raise TimeoutError(f"no complete answer within {deadline:g} s")
            sock.do_handshake()
        connection = http.client.HTTPConnection(host, port, timeout=settings.WEBHOOK_TIMEOUT)
        connection.sock = sock  # already connected, to the checked address
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        if guard.expired.is_set():
            # Cut while the headers trickled in (http.client takes the end of the connection
            # for the end of the headers): not an answer.
            raise TimeoutError(f"no complete answer within {deadline:g} s")
        try:
            preview = response.read(BODY_PREVIEW).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            preview = ""  # the status came: the endpoint answered, whatever its body does
        return Answer(status=response.status, body=preview)
    except (OSError, http.client.HTTPException) as exc:
        if guard.expired.is_set():
            raise TimeoutError(f"no complete answer within {deadline:g} s") from None
        if isinstance(exc, http.client.HTTPException):
            raise OSError(f"bad HTTP answer: {exc.__class__.__name__}") from None
        raise
    finally:
        guard.end()
        sock.close()


class _Deadline:
    """Shuts the attempt's socket down after `seconds`, which ends whatever waits on it (a read
    of a trickled answer) with an error. `end()` before closing the socket: the timer never
    touches a socket once it is closed (its descriptor may belong to another thread by then)."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock = sock
        self.expired = threading.Event()
        self._lock = threading.Lock()
        self._ended = False
        self._timer = threading.Timer(max(0.0, seconds), self._cut)
        self._timer.daemon = True
        self._timer.start()

    def _cut(self) -> None:
        with self._lock:
            if self._ended:
                return
            self.expired.set()
            # The plain socket's shutdown, also under TLS: the SSL object's own would need the
            # thread that is blocked in it. (OSError: the peer closed it already.)
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def end(self) -> None:
        with self._lock:
            self._ended = True
        self._timer.cancel()
