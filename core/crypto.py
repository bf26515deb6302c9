"""Encryption of stored secrets (SIP passwords) with rotatable Fernet keys."""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("SIP_ENCRYPTION_KEYS must be set when DJANGO_DEBUG is off.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "SIP_ENCRYPTION_KEYS must be comma-separated Fernet keys (url-safe base64 of 32 bytes)."
        ) from exc


def fernet() -> MultiFernet:
    """The current key ring; the first key encrypts, every key decrypts."""
    return _fernet_for(tuple(settings.SIP_ENCRYPTION_KEYS))


@lru_cache(maxsize=4)
def _newest_for(keys: tuple[str, ...]) -> MultiFernet:
    _fernet_for(keys)  # the same checks and messages for a missing or malformed key
    return MultiFernet([Fernet(keys[0].encode())])


def newest_only() -> MultiFernet:
    """The newest key alone: what will still decrypt once the older keys are removed."""
    return _newest_for(tuple(settings.SIP_ENCRYPTION_KEYS))


def readable_with_newest(token: str) -> bool:
    """Whether the newest key alone decrypts the token. Fernet tokens do not say which key
    made them, so trying is the only way to know."""
    try:
        newest_only().decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with SIP_ENCRYPTION_KEYS; was a key removed?"
        ) from exc


def reencrypt(token: str) -> str:
    """The same secret under the newest key (for key rotation). Raises `InvalidToken` when no
    key of the ring decrypts it."""
    return fernet().rotate(token.encode()).decode()
