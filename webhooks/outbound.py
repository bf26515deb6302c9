"""The worker's HTTP POST to an endpoint: short timeouts, no redirects, and the SSRF guard.

The host is resolved once and the request goes to the address that was checked (a name that
resolves to a public address for the check and a private one for the request — DNS rebinding —
gets nowhere). Unless WEBHOOK_ALLOW_PRIVATE_TARGETS is on, loopback, private, link-local,
multicast and reserved addresses are refused: a tenant must not make the server call the
services next to it."""

import http.client
import ipaddress
import socket
import ssl
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


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
    """POST `body` to `url`; raises TargetRefused or OSError (timeouts, refused connections,
    TLS errors) when no HTTP answer came."""
    check_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port)
    sock = socket.create_connection((address, port), timeout=settings.WEBHOOK_CONNECT_TIMEOUT)
    try:
        sock.settimeout(settings.WEBHOOK_TIMEOUT)
        if parts.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
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
        preview = response.read(BODY_PREVIEW).decode("utf-8", "replace")
        return Answer(status=response.status, body=preview)
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {exc.__class__.__name__}") from None
    finally:
        sock.close()
