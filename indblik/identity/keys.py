"""SAML key pairs: self-signed RSA 3072 keys generated at run time for demo and test.

Production keys are the operator's (``INDBLIK_SAML_KEY_FILE`` / ``INDBLIK_SAML_CERT_FILE``);
nothing here is ever committed. The demo identity provider gets its own pair the same way.
"""

from __future__ import annotations

import base64
import datetime
import fcntl
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

RSA_BITS = 3072
VALID_DAYS = 3650


def ensure_key_pair(key_path: Path, cert_path: Path, *, common_name: str) -> None:
    """Create a private key and a self-signed certificate unless both files exist.

    Written atomically (temporary file, then rename) so that two workers starting at once
    never see half a key; the key file is readable by its owner only.
    """
    if key_path.exists() and cert_path.exists():
        return
    key_path.parent.mkdir(parents=True, exist_ok=True)
    # One lock for the pair: two workers starting at once must not each write one half of
    # two different pairs (a key that does not match its certificate).
    with open(key_path.parent / ".keys.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if key_path.exists() and cert_path.exists():
            return
        key_pem, cert_pem = new_key_pair(common_name)
        _write_atomically(key_path, key_pem, mode=0o600)
        _write_atomically(cert_path, cert_pem, mode=0o644)


def self_signed_certificate(
    key: rsa.RSAPrivateKey, *, common_name: str, days: int = VALID_DAYS
) -> x509.Certificate:
    """Return a self-signed X.509 certificate for ``key`` (SAML metadata carries trust)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def new_key_pair(common_name: str) -> tuple[bytes, bytes]:
    """Return ``(key_pem, cert_pem)`` of a fresh RSA 3072 pair (tests, rotations)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert = self_signed_certificate(key, common_name=common_name)
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def load_certificate(path: Path) -> x509.Certificate:
    """Return the PEM certificate in ``path`` (ValueError if it is not one)."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def certificate_body(cert: x509.Certificate) -> str:
    """Return the base64 DER of ``cert`` without PEM armour, as SAML metadata wants it."""
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def fingerprint(cert: x509.Certificate) -> str:
    """Return the SHA-256 fingerprint as colon-separated hex (what brokers ask for)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def key_matches_certificate(key_path: Path, cert_path: Path) -> bool:
    """Tell whether the private key in ``key_path`` belongs to the certificate in ``cert_path``."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    cert = load_certificate(cert_path)
    return bool(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
