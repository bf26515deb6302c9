"""Certificates for SIP over TLS and WebSocket over TLS (`SIP_TLS=1`).

Production names its own certificate (`SIP_TLS_CERT_FILE`, `SIP_TLS_KEY_FILE`). Without them,
`make sip` makes a self-signed one for the machine it runs on (127.0.0.1 and localhost) on the
first run and keeps it, so a softphone or a browser told to trust it once keeps trusting it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SELF_SIGNED_NAMES = ("localhost",)
SELF_SIGNED_IPS = ("127.0.0.1",)
SELF_SIGNED_DAYS = 825  # the longest validity browsers accept for a server certificate
# A certificate this close to its end is made again rather than reused.
RENEW_BEFORE = dt.timedelta(days=30)


def ensure_self_signed(directory: Path) -> tuple[Path, Path]:
    """The self-signed certificate and key in `directory` (cert.pem, key.pem), made when
    missing, unreadable or near its end; otherwise the same files as before."""
    directory = Path(directory)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if _still_good(cert_path, key_path):
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = self_signed_certificate()
    # The key is written readable by its owner only, before any byte of it exists on disk.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def self_signed_certificate(
    *,
    names: tuple[str, ...] = SELF_SIGNED_NAMES,
    ips: tuple[str, ...] = SELF_SIGNED_IPS,
    days: int = SELF_SIGNED_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 key and a server certificate signed by itself for these names and addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else ips[0])])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def spki_sha256(cert_path: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: what Chromium's
    `--ignore-certificate-errors-spki-list` and HPKP-style pins name a key by."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _still_good(cert_path: Path, key_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    same_key = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return same_key and cert.not_valid_after_utc - RENEW_BEFORE > dt.datetime.now(dt.UTC)
