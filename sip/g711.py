"""G.711 (ITU-T): µ-law (PCMU, RTP payload type 0) and A-law (PCMA, type 8), one byte per sample
at 8 kHz. Enough for the listen service to add two calls' voices together and for the tests'
bare RTP endpoints; standard library only (`audioop` leaves Python in 3.13)."""

from __future__ import annotations

PCMU = 0
PCMA = 8


def ulaw_encode(sample: int) -> int:
    """One 16-bit linear sample to µ-law (the usual bias-and-segment form)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 0x07)
    return (0x84 - magnitude) if byte & 0x80 else (magnitude - 0x84)


def alaw_encode(sample: int) -> int:
    """One 16-bit linear sample to A-law (even bits inverted, as sent on the wire)."""
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(abs(sample), 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def alaw_decode(byte: int) -> int:
    byte ^= 0x55
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if byte & 0x80 else -magnitude


# Tables: a byte decodes through a list, a sample encodes through its top 14 bits (G.711 keeps at
# most 13 or 14 bits of it anyway), so mixing 50 packets a second costs no function call per sample.
_DECODE = {PCMU: [ulaw_decode(b) for b in range(256)], PCMA: [alaw_decode(b) for b in range(256)]}
_ENCODE = {
    PCMU: bytes(ulaw_encode((i - 8192) << 2) for i in range(16384)),
    PCMA: bytes(alaw_encode((i - 8192) << 2) for i in range(16384)),
}


def decode(payload: bytes, payload_type: int) -> list[int]:
    table = _DECODE[payload_type]
    return [table[b] for b in payload]


def encode(samples: list[int], payload_type: int) -> bytes:
    """Linear samples (clipped to 16 bits) to G.711 bytes."""
    table = _ENCODE[payload_type]
    return bytes(table[(max(-32768, min(32767, s)) >> 2) + 8192] for s in samples)
