"""A minimal TURN client (RFC 5389 / 5766) over UDP, for asking a real coturn whether it accepts a
credential: an Allocate, its 401 challenge (realm, nonce), then the Allocate signed with the
long-term credential key MD5(username:realm:password). Standard library only."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

MAGIC_COOKIE = 0x2112A442
ALLOCATE = 0x0003
SUCCESS = 0x0100
ERROR = 0x0110
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM, NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
XOR_RELAYED_ADDRESS, REQUESTED_TRANSPORT = 0x0016, 0x0019
UDP = 17


@dataclass
class Answer:
    """coturn's answer to an Allocate: `ok`, or the error code; the relayed address if ok."""

    ok: bool
    error: int | None
    reason: str
    relayed: tuple[str, int] | None
    attributes: dict[int, bytes]


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _message(method: int, transaction: bytes, attributes: bytes, *, key: bytes | None = None) -> bytes:
    if key is None:
        return struct.pack("!HHI", method, len(attributes), MAGIC_COOKIE) + transaction + attributes
    # MESSAGE-INTEGRITY covers the message up to itself, with a length that counts it (24 bytes).
    header = struct.pack("!HHI", method, len(attributes) + 24, MAGIC_COOKIE) + transaction
    digest = hmac.new(key, header + attributes, hashlib.sha1).digest()
    return header + attributes + _attribute(MESSAGE_INTEGRITY, digest)


def _parse(data: bytes, transaction: bytes) -> Answer:
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC_COOKIE or data[8:20] != transaction:
        raise ValueError("not the answer to our request")
    attributes: dict[int, bytes] = {}
    offset = 20
    while offset < 20 + length:
        attr, size = struct.unpack("!HH", data[offset : offset + 4])
        attributes.setdefault(attr, data[offset + 4 : offset + 4 + size])
        offset += 4 + size + (-size % 4)
    error = reason = None
    if ERROR_CODE in attributes:
        raw = attributes[ERROR_CODE]
        error = (raw[2] & 0x7) * 100 + raw[3]
        reason = raw[4:].decode(errors="replace")
    relayed = None
    if XOR_RELAYED_ADDRESS in attributes:
        raw = attributes[XOR_RELAYED_ADDRESS]
        port = struct.unpack("!H", raw[2:4])[0] ^ (MAGIC_COOKIE >> 16)
        address = struct.unpack("!I", raw[4:8])[0] ^ MAGIC_COOKIE
        relayed = (str(ipaddress.IPv4Address(address)), port)
    return Answer(kind & 0x0110 == SUCCESS, error, reason or "", relayed, attributes)


def allocate(server: tuple[str, int], username: str, password: str, *, timeout: float = 3.0) -> Answer:
    """Ask `server` for a UDP relay with (`username`, `password`): the challenge first, then
    the signed request. Returns the answer to the signed one."""
    transport = _attribute(REQUESTED_TRANSPORT, bytes([UDP, 0, 0, 0]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)

        def ask(attributes: bytes, key: bytes | None = None) -> Answer:
            transaction = os.urandom(12)
            sock.sendto(_message(ALLOCATE, transaction, attributes, key=key), server)
            while True:
                data, _ = sock.recvfrom(65535)
                try:
                    return _parse(data, transaction)
                except ValueError:
                    continue

        challenge = ask(transport)
        if challenge.error != 401:
            raise AssertionError(f"expected a 401 challenge, got {challenge}")
        realm, nonce = challenge.attributes[REALM], challenge.attributes[NONCE]
        key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()  # noqa: S324 — RFC 5389
        signed = (
            transport
            + _attribute(USERNAME, username.encode())
            + _attribute(REALM, realm)
            + _attribute(NONCE, nonce)
        )
        return ask(signed, key)
