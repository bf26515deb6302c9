"""SIP password generation and digest hashes."""

import hashlib
import secrets

# No look-alike characters (0/O, 1/l/I) so a password read aloud or off a screen survives.
ALPHABET_LOWER = "abcdefghijkmnpqrstuvwxyz"
ALPHABET_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
ALPHABET_DIGITS = "23456789"
GENERATED_LENGTH = 20


def generate_sip_password(length: int = GENERATED_LENGTH) -> str:
    """A random password from a CSPRNG with at least one of each character class.

    One `os.urandom` read per password (bulk work makes thousands): random bytes mapped onto
    the alphabet, dropping bytes at or above the largest multiple of its size so that every
    character stays equally likely.
    """
    alphabet = ALPHABET_LOWER + ALPHABET_UPPER + ALPHABET_DIGITS
    size = len(alphabet)
    limit = 256 - 256 % size
    while True:
        chars = [alphabet[byte % size] for byte in secrets.token_bytes(2 * length) if byte < limit]
        if len(chars) < length:
            continue
        password = "".join(chars[:length])
        if (
            any(c in ALPHABET_LOWER for c in password)
            and any(c in ALPHABET_UPPER for c in password)
            and any(c in ALPHABET_DIGITS for c in password)
        ):
            return password


def digest_ha1(username: str, realm: str, password: str) -> str:
    """HA1 of RFC 2617 digest authentication: md5(username:realm:password)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()  # noqa: S324


def digest_ha1b(username: str, realm: str, password: str) -> str:
    """HA1 for clients that send user@realm as the username: md5(user@realm:realm:password)."""
    return digest_ha1(f"{username}@{realm}", realm, password)
