"""Launch-token test kit: care-system keys made at test time, and a forger for bad tokens.

Forged tokens are real: signed with real keys (or, for the attacks, with what an attacker
has), and encrypted to Indblik's real public launch key, so each refusal is reached the way
an attacker would reach it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from indblik.access import launch_keys, tokens
from indblik.audit import Actor
from indblik.organisations import registry
from indblik.organisations.models import Organisation

KK = "64942212"  # Københavns Kommune (demo)
FRB = "11259979"  # Frederiksberg Kommune (demo)
CPR = "0101504444"
SUB = "urn:uuid:0c7e6f1a-4d5b-4d0e-8a8b-2b9f3f0a1c11"
ACTOR = Actor(name="test set-up")


def ec_key(kid: str) -> ECKey:
    """Return a new EC P-256 private key with ``kid``."""
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


def rsa_key(kid: str, bits: int = 2048) -> RSAKey:
    """Return a new RSA private key with ``kid``."""
    return RSAKey.generate_key(bits, parameters={"kid": kid}, private=True)


def register(org: Organisation, *keys: ECKey | RSAKey) -> None:
    """Register the public parts of ``keys`` for ``org`` through the registry."""
    public = [key.as_dict(private=False) for key in keys]
    registry.add_keys(org=org, jwks_json=json.dumps({"keys": public}), by=ACTOR)


def indblik_public_key() -> dict[str, Any]:
    """Return Indblik's current public launch key (what ``indblik keys show`` publishes)."""
    return launch_keys.public_jwks()["keys"][0]


def claims(**changes: Any) -> dict[str, Any]:
    """Return valid claims for Københavns Kommune, with ``changes`` (None removes a claim)."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": "https://eoj.kk.example.dk",
        "aud": settings.INDBLIK_BASE_URL,
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
        "org": KK,
        "sub": SUB,
        "patient": CPR,
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def signed(
    payload: Mapping[str, Any], key: ECKey | RSAKey, *, header: Mapping[str, Any] | None = None
) -> str:
    """Return ``payload`` as a JWS signed with ``key`` (alg from the key unless ``header``)."""
    alg = "ES256" if isinstance(key, ECKey) else "RS256"
    protected = {"alg": alg, "kid": key.kid, "typ": "JWT"} | dict(header or {})
    return jws.serialize_compact(
        protected,
        json.dumps(dict(payload)),
        key,
        registry=jws.JWSRegistry(algorithms=[protected["alg"]], strict_check_header=False),
    )


def unsigned(payload: Mapping[str, Any], header: Mapping[str, Any]) -> str:
    """Return a JWS with an empty signature (``alg: none`` and friends)."""
    return f"{b64(json.dumps(dict(header)).encode())}.{b64(json.dumps(dict(payload)).encode())}."


def hmac_signed(payload: Mapping[str, Any], secret: bytes, *, kid: str) -> str:
    """Return a JWS "HS256" with ``secret`` as the MAC key (the public-key-as-secret attack)."""
    head = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(dict(payload)).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def encrypted(inner: str, key: Mapping[str, Any] | ECKey | None = None) -> str:
    """Return ``inner`` encrypted to Indblik's launch key (or to ``key``)."""
    return tokens.encrypt(inner, key if key is not None else indblik_public_key())


def token(key: ECKey | RSAKey, **changes: Any) -> str:
    """Return a complete, valid-unless-changed launch token signed with ``key``."""
    return encrypted(signed(claims(**changes), key))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
