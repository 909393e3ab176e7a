"""Test support for the SMART token endpoint and the read API: keys, assertions, a store.

Keys are generated at run time (never committed). The assertions are built here by hand, the
way any SMART client builds them, so the server is tested against the protocol and not
against Indblik's own client.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from django.test import Client
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from joserfc.jws import JWSRegistry

from indblik.records import smart, synth
from indblik.records.ingest import ingest_resources
from indblik.records.models import Feed

# A fixed moment for the synthetic story: appointments lie after it.
STORY_NOW = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
TOKEN_URL = "/fhir/r4/auth/token"
FORM = "application/x-www-form-urlencoded"
Key = ECKey | RSAKey


def ec_key(kid: str = "client-ec-1", curve: str = "P-384") -> ECKey:
    """Return a new private EC key (P-384 signs ES384)."""
    key = ECKey.generate_key(curve, private=True, parameters={"kid": kid})
    assert key.kid == kid
    return key


def rsa_key(kid: str = "client-rsa-1", bits: int = 2048) -> RSAKey:
    """Return a new private RSA key (signs RS384)."""
    return RSAKey.generate_key(bits, private=True, parameters={"kid": kid})


def public_jwks(*keys: Key) -> dict[str, Any]:
    """Return the public JWK Set of ``keys`` (what a client registers)."""
    return {"keys": [{**key.as_dict(private=False), "kid": key.kid} for key in keys]}


def register(
    name: str, *keys: Key, scope: str = Feed.Scope.RECORD_READ, active: bool = True
) -> Feed:
    """Register a client (a feed) with the public halves of ``keys``."""
    return Feed.objects.create(
        name=name, scope=scope, active=active, jwks=smart.parse_public_jwks(public_jwks(*keys))
    )


def assertion(
    key: Key | OctKey,
    client_id: str,
    *,
    alg: str | None = None,
    kid: str | None = None,
    lifetime: int = 240,
    now: float | None = None,
    jti: str | None = "",
    **claims: Any,
) -> str:
    """Return a signed client assertion; keyword claims override or (as None) drop defaults.

    ``jti``: a fresh random one unless given (None drops it).
    """
    issued = int(time.time() if now is None else now)
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": smart.token_endpoint_url(),
        "exp": issued + lifetime,
        "iat": issued,
        "jti": secrets.token_urlsafe(16) if jti == "" else jti,
    }
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    algorithm = alg or ("ES384" if isinstance(key, ECKey) else "RS384")
    header = {"alg": algorithm, "typ": "JWT", "kid": kid if kid is not None else key.kid}
    return jwt.encode(header, body, key, registry=JWSRegistry(algorithms=[algorithm]))


def unsigned_assertion(client_id: str, kid: str) -> str:
    """Return an ``alg: none`` assertion (empty signature), as an attacker would send it."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": smart.token_endpoint_url(),
        "exp": int(time.time()) + 200,
        "jti": secrets.token_urlsafe(8),
    }
    return f"{part({'alg': 'none', 'kid': kid})}.{part(claims)}."


def token_request(
    client: Client, signed: str | None, *, scope: str | None = "system/*.read", **form: str
) -> Any:
    """POST a token request; keyword fields override (or as '' drop) the standard ones."""
    fields = {
        "grant_type": "client_credentials",
        "client_assertion_type": smart.ASSERTION_TYPE,
        "client_assertion": signed or "",
        "scope": scope or "",
    }
    fields.update(form)
    data = {name: value for name, value in fields.items() if value}
    return client.post(TOKEN_URL, urlencode(data), content_type=FORM)


def access_token(client: Client, key: Key, client_id: str, scope: str = "system/*.read") -> str:
    """Return an access token for a registered client (asserting a good request)."""
    response = token_request(client, assertion(key, client_id), scope=scope)
    assert response.status_code == 200, response.content
    token: str = response.json()["access_token"]
    return token


def load_citizens(count: int = 3, *, seed: int = 7) -> None:
    """Ingest ``count`` synthetic citizens (and the shared organisations and staff)."""
    result = ingest_resources(
        synth.generate(count, seed=seed, now=STORY_NOW), source="test", validate=False
    )
    assert result.ok
