"""The Ed25519 keys that sign and verify audit checkpoints.

- Signing: the private key in ``INDBLIK_AUDIT_KEY_FILE`` (PEM). Production requires it; demo and
  test generate one at first use in ``DATA_DIR/audit-ed25519.pem`` (mode 0600).
- Verifying: the current key's public half plus every public key (PEM) listed in
  ``INDBLIK_AUDIT_PUBLIC_KEYS``, so checkpoints signed before a key rotation still verify.
- A key is named by its key id: the first 16 hex digits of SHA-256 over the raw public key.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from indblik.audit.errors import AuditKeyError

GENERATED_KEY_NAME = "audit-ed25519.pem"


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the key id: hex SHA-256 of the raw 32-byte public key, first 16 characters."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """Return the public key as PEM (SubjectPublicKeyInfo), to hand to auditors."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def signing_key_path() -> Path:
    """Return where the signing key lives; raise AuditKeyError in production when unset."""
    configured = settings.INDBLIK_AUDIT_KEY_FILE
    if configured:
        return Path(configured)
    if settings.PRODUCTION:
        raise AuditKeyError(
            "INDBLIK_AUDIT_KEY_FILE must name the Ed25519 private key (PEM) that signs audit "
            "checkpoints in production mode; create one with "
            "`openssl genpkey -algorithm ed25519 -out audit-ed25519.pem` (see docs/audit.md)"
        )
    return Path(settings.DATA_DIR) / GENERATED_KEY_NAME


def load_signing_key() -> Ed25519PrivateKey:
    """Return the checkpoint signing key, generating it first in demo and test mode."""
    path = signing_key_path()
    if not settings.INDBLIK_AUDIT_KEY_FILE and not path.exists():
        _generate(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AuditKeyError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def _generate(path: Path) -> None:
    """Write a new key with mode 0600 from the start (never world-readable, not even briefly)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process generated it a moment ago: use theirs
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Return the Ed25519 public key in a PEM file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"cannot read audit public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise AuditKeyError(
            f"{path} is not a PEM public key (INDBLIK_AUDIT_PUBLIC_KEYS lists public keys only)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def verification_keys() -> dict[str, Ed25519PublicKey]:
    """Return the public keys a checkpoint may be signed with, by key id.

    The current signing key counts when its file is there (verify never creates one); an
    auditor's machine may have only INDBLIK_AUDIT_PUBLIC_KEYS.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    for item in settings.INDBLIK_AUDIT_PUBLIC_KEYS:
        public = load_public_key(Path(item))
        keys[key_id(public)] = public
    try:
        path = signing_key_path()
    except AuditKeyError:
        return keys
    if path.exists():
        public = load_signing_key().public_key()
        keys[key_id(public)] = public
    return keys
