"""The client's IP address, the one answer for the sign-in lockout, the audit trail and share
links. `X-Real-IP` / `X-Forwarded-For` are anyone's to write, so they are read only when the
request comes from a proxy listed in `DJANGO_TRUSTED_PROXIES` (settings.TRUSTED_PROXIES)."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(value: str | None) -> IPAddress | None:
    """`value` as an address, or None when it is not one (a header holds whatever the sender
    wrote). IPv4-mapped IPv6 (`::ffff:10.0.0.1`, what a dual-stack socket reports) becomes the
    IPv4 address and a zone (`fe80::1%eth0`) is dropped, so one client has one spelling."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):  # [2001:db8::1], as some proxies write it
        value = value[1:-1]
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # Keyed by the setting's value, so a changed setting (tests) is parsed afresh.
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def is_trusted_proxy(address: IPAddress) -> bool:
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client that sent `request`.

    `REMOTE_ADDR` unless it is a trusted proxy; then the address that proxy reports:
    `X-Real-IP` when it is an address and not itself a trusted proxy, else the right-most
    address of `X-Forwarded-For` that is not a trusted proxy (entries to its left were written
    by hops nobody vouches for). A value that is not an address is ignored; with nothing usable,
    `REMOTE_ADDR`. None when even that is missing or malformed."""
    remote = parse_ip(request.META.get("REMOTE_ADDR"))
    if remote is None or not is_trusted_proxy(remote):
        return str(remote) if remote is not None else None
    real_ip = parse_ip(request.META.get("HTTP_X_REAL_IP"))
    if real_ip is not None and not is_trusted_proxy(real_ip):
        return str(real_ip)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed(forwarded.split(",")):
        hop = parse_ip(entry)
        if hop is None:
            break  # nothing left of a hop that is not an address can be believed
        if not is_trusted_proxy(hop):
            return str(hop)
    return str(remote)
