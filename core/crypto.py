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
    """The same secret under the newest key (for key rotation)."""
    return fernet().rotate(token.encode()).decode()
