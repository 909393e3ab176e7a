"""A production-mode environment in a temporary directory, for tests that start the real thing.

Every file production insists on is generated here at test time: the secret, the SAML key pair
and the broker's metadata, the launch decryption key and the audit checkpoint key.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from indblik.identity import keys

BROKER_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    entityID="https://broker.example.dk/idp">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://broker.example.dk/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def production_environment(
    directory: Path, *, base_url: str = "https://indblik.example.dk"
) -> dict[str, str]:
    """Return the environment of a production server whose files live in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = directory / "secret_key"
    secret.write_text(secrets.token_urlsafe(50))
    sp_key, sp_cert = directory / "sp-key.pem", directory / "sp-cert.pem"
    keys.ensure_key_pair(sp_key, sp_cert, common_name="Indblik SAML SP (test)")
    metadata = directory / "broker.xml"
    metadata.write_text(BROKER_METADATA)
    audit_key = directory / "audit-key.pem"
    audit_key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {
        "INDBLIK_MODE": "production",
        "INDBLIK_DATA_DIR": str(directory),
        "INDBLIK_SECRET_KEY_FILE": str(secret),
        "INDBLIK_BASE_URL": base_url,
        "DATABASE_URL": f"sqlite:///{directory / 'indblik.sqlite3'}",
        "INDBLIK_SAML_KEY_FILE": str(sp_key),
        "INDBLIK_SAML_CERT_FILE": str(sp_cert),
        "INDBLIK_SAML_IDP_METADATA": str(metadata),
        "INDBLIK_LAUNCH_KEY_FILE": str(directory / "launch-key.jwk.json"),
        "INDBLIK_AUDIT_KEY_FILE": str(audit_key),
    }
    indblik("keys", "generate", env["INDBLIK_LAUNCH_KEY_FILE"], env=env)
    return env


def clean_environment(env: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without Indblik's variables, plus ``env``."""
    # DJANGO_* too: the browser fixture sets DJANGO_ALLOW_ASYNC_UNSAFE in this process.
    prefixes = ("INDBLIK_", "DATABASE_URL", "DJANGO_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return clean | env


def indblik(
    *args: str, env: dict[str, str], timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run the ``indblik`` command in a fresh interpreter with exactly this environment."""
    return subprocess.run(
        [sys.executable, "-m", "indblik", *args],
        env=clean_environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
