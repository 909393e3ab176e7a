"""SMART Backend Services, client side: an access token for the hospital's FHIR server.

The client (this Indblik) proves who it is with a short JWT signed by its private key
(``private_key_jwt``: ES384 for an EC P-384 key, RS384 for an RSA key), posted to the server's
token endpoint with ``grant_type=client_credentials``. The token endpoint comes from
``INDBLIK_FHIR_TOKEN_URL`` or from the server's ``.well-known/smart-configuration``.

The access token is kept in process memory until shortly before it expires (it is a credential,
not clinical data) and fetched again after a 401. Discovery and the token request are read as
they stream in, cut at 64 KiB and at the deadline of the FHIR request that needs the token
(every socket wait, headers and body: :mod:`~indblik.records.live.wire`); a thread that waits
for another's fetch waits no longer than its own deadline either. Keys:

- production: ``INDBLIK_FHIR_CLIENT_KEY_FILE``, a private JWK or JWK Set (first key signs);
- demo and test: generated at first use into ``DATA_DIR/fhir-client-key.jwk.json``.

``indblik keys show --fhir-client`` prints the public JWK Set to register at the server.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from indblik.core.keyfiles import generate_once
from indblik.records.live import wire
from indblik.records.live.config import check_url

GENERATED_KEY_NAME = "fhir-client-key.jwk.json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 240  # seconds; SMART allows at most five minutes
REFRESH_MARGIN = 30  # fetch a new token this many seconds before the old one expires
FAILURE_MEMORY = 2.0  # seconds a failed token fetch is answered from memory
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_TOKEN_RESPONSE_BYTES = 64 * 1024

Key = ECKey | RSAKey


class FhirClientKeyError(ImproperlyConfigured):
    """The client's signing key is missing, unreadable or unusable."""


class TokenError(Exception):
    """No access token could be had (the reason is safe to log: never the token itself)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def key_path(configured: str | None = None) -> Path:
    """The key file: ``configured``, else the setting, else (demo and test) a generated one."""
    configured = settings.INDBLIK_FHIR_CLIENT_KEY_FILE if configured is None else configured
    if configured:
        return Path(configured)
    if settings.PRODUCTION:
        raise FhirClientKeyError("INDBLIK_FHIR_CLIENT_KEY_FILE is not set")
    return Path(settings.DATA_DIR) / GENERATED_KEY_NAME


def signing_keys(configured: str | None = None) -> tuple[Key, ...]:
    """Return the client's private keys, the signing one first (generated in demo and test)."""
    path = key_path(configured)
    if path.name == GENERATED_KEY_NAME and path.parent == Path(settings.DATA_DIR):
        generate_once(path, lambda: json.dumps({"keys": [new_private_jwk()]}, indent=2).encode())
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        problem = f"cannot read the FHIR client key {path}: {exc.strerror}"
        raise FhirClientKeyError(problem) from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise FhirClientKeyError(f"{path} is larger than {MAX_KEY_FILE_BYTES // 1024} KiB")
    return parse_private_keys(data, source=str(path))


def parse_private_keys(
    data: bytes | str, *, source: str = "the FHIR client key"
) -> tuple[Key, ...]:
    """Return the private EC P-384 / RSA (≥ 2048 bits) keys of a JWK or JWK Set."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise FhirClientKeyError(f"{source} is not JSON") from None
    entries = (
        document.get("keys") if isinstance(document, dict) and "keys" in document else [document]
    )
    if not isinstance(entries, list) or not entries or len(entries) > 5:
        raise FhirClientKeyError(f"{source} must hold 1 to 5 keys")
    keys: list[Key] = []
    for number, entry in enumerate(entries, start=1):
        where = f"{source}, key {number}"
        if not isinstance(entry, dict) or "d" not in entry:
            raise FhirClientKeyError(f"{where}: a private JWK is needed")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 200 or not kid.isprintable():
            raise FhirClientKeyError(f"{where}: needs a 'kid'")
        try:
            if entry.get("kty") == "EC" and entry.get("crv") == "P-384":
                key: Key = ECKey.import_key(entry)
            elif entry.get("kty") == "RSA":
                key = RSAKey.import_key(entry)
                if key.raw_value.key_size < 2048:
                    raise FhirClientKeyError(f"{where}: an RSA key needs at least 2048 bits")
            else:
                raise FhirClientKeyError(f"{where}: must be EC P-384 (ES384) or RSA (RS384)")
        except (JoseError, ValueError, TypeError) as exc:
            raise FhirClientKeyError(f"{where}: not a usable key ({type(exc).__name__})") from None
        keys.append(key)
    return tuple(keys)


def algorithm(key: Key) -> str:
    return "ES384" if isinstance(key, ECKey) else "RS384"


def new_private_jwk(kid: str | None = None) -> dict[str, Any]:
    """Return a fresh EC P-384 private JWK for signing client assertions."""
    key = ECKey.generate_key("P-384", private=True)
    jwk = key.as_dict(private=True)
    jwk["kid"] = kid or f"indblik-fhir-{key.thumbprint()[:16]}"
    jwk["alg"] = "ES384"
    jwk["use"] = "sig"
    return jwk


def public_jwks(keys: tuple[Key, ...] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Return the public JWK Set to register at the FHIR server (public members only)."""
    out = []
    for key in keys or signing_keys():
        public = key.as_dict(private=False)
        public.update(kid=key.kid or "", alg=algorithm(key), use="sig")
        out.append(public)
    return {"keys": out}


def client_assertion(client_id: str, token_url: str, key: Key, *, now: float | None = None) -> str:
    """Return a signed JWT proving ``client_id`` to ``token_url`` (valid for four minutes)."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": issued + ASSERTION_LIFETIME,
        "iat": issued,
        "jti": secrets.token_urlsafe(24),
    }
    alg = algorithm(key)
    header = {"alg": alg, "typ": "JWT", "kid": key.kid}
    return jwt.encode(header, claims, key, registry=JWSRegistry(algorithms=[alg]))


@dataclass
class _Token:
    value: str
    expires: float  # monotonic seconds


class TokenProvider:
    """Access tokens for one FHIR server, cached until shortly before they expire."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        scope: str,
        token_url: str = "",
        *,
        key_file: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self.key_file = key_file
        self.clock = clock
        self.client_id = client_id
        self.scope = scope
        self._token_url = token_url
        self._token: _Token | None = None
        self._failure: tuple[float, TokenError] | None = None  # until when, what
        self._lock = threading.Lock()
        self.fetches = 0  # how many tokens were fetched (for tests and the benchmark)

    def token(
        self, http: httpx.Client, *, timeout: httpx.Timeout, deadline: float | None = None
    ) -> str:
        """Return a valid access token, fetching one if none is cached or it is about to expire.

        ``deadline`` (``time.monotonic()``; default: twice the timeout from now) bounds it all:
        the wait for another thread's fetch, SMART discovery and the token request, each
        streamed under the deadline and :data:`MAX_TOKEN_RESPONSE_BYTES`. One fetch at a time;
        when it fails, the threads that waited for it get the same error for
        ``FAILURE_MEMORY`` seconds instead of each waiting for a timeout of its own.
        """
        if deadline is None:
            deadline = time.monotonic() + 2 * (timeout.read or 0.0)
        current = self._token
        if current is not None and self.clock() < current.expires:
            return current.value  # no need to wait for a fetch another thread has under way
        left = deadline - time.monotonic()
        if left <= 0 or not self._lock.acquire(timeout=left):
            raise TokenError("timeout", "no access token before the deadline")
        try:
            current = self._token
            if current is not None and self.clock() < current.expires:
                return current.value
            failed = self._failure
            if failed is not None and self.clock() < failed[0]:
                raise failed[1]
            short = deadline - time.monotonic() < (timeout.read or 0.0)
            try:
                fresh = self._fetch(http, timeout, deadline)
            except TokenError as exc:
                if not (short and exc.kind == "timeout"):
                    # A fetch that timed out with less than one timeout's time left says
                    # little about the endpoint: only the others are answered from memory.
                    self._failure = (self.clock() + FAILURE_MEMORY, exc)
                raise
            self._failure = None
            self._token = fresh
            return fresh.value
        finally:
            self._lock.release()

    def invalidate(self, value: str) -> None:
        """Forget ``value`` (the server answered 401 to it); the next call fetches a new one.

        Without the lock, which a fetch may hold until its deadline: should a fresh token land
        between the check and the reset, it is fetched once more, no harm done.
        """
        current = self._token
        if current is not None and current.value == value:
            self._token = None

    def token_url(self, http: httpx.Client, timeout: httpx.Timeout, deadline: float) -> str:
        if not self._token_url:
            self._token_url = self._discover(http, timeout, deadline)
        return self._token_url

    def _discover(self, http: httpx.Client, timeout: httpx.Timeout, deadline: float) -> str:
        url = f"{self.base_url}/.well-known/smart-configuration"
        status, content = _exchange(http, "GET", url, None, timeout, deadline, "SMART discovery")
        if status != 200:
            raise TokenError("auth", f"SMART discovery answered {status}")
        try:
            endpoint = json.loads(content).get("token_endpoint")
        except (ValueError, AttributeError):
            endpoint = None
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise TokenError("auth", "SMART discovery names no token endpoint")
        try:
            # The same rules as the base URL: the assertion (and our client certificate) go
            # there, and the token comes back from there.
            check_url(
                endpoint, production=settings.PRODUCTION, what="the discovered token endpoint"
            )
        except ImproperlyConfigured as exc:
            raise TokenError("auth", str(exc)) from None
        return endpoint

    def _fetch(self, http: httpx.Client, timeout: httpx.Timeout, deadline: float) -> _Token:
        url = self.token_url(http, timeout, deadline)
        keys = signing_keys(self.key_file)
        form = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self.client_id, url, keys[0]),
        }
        status, content = _exchange(
            http, "POST", url, form, timeout, deadline, "the token endpoint"
        )
        try:
            body = json.loads(content)
        except ValueError:
            body = {}
        if status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            kind = "unavailable" if status >= 500 else "auth"
            detail = str(error)[:60] if isinstance(error, str) else ""
            raise TokenError(kind, f"the token endpoint refused: {status} {detail}")
        value = body.get("access_token")
        expires_in = body.get("expires_in", 300)
        if not isinstance(value, str) or not value or len(value) > 4096:
            raise TokenError("auth", "the token endpoint's answer has no access token")
        if not isinstance(expires_in, int | float) or expires_in <= 0:
            expires_in = 60
        self.fetches += 1
        lifetime = max(float(expires_in) - REFRESH_MARGIN, min(float(expires_in), 5.0))
        return _Token(value, self.clock() + lifetime)


def _exchange(
    http: httpx.Client,
    method: str,
    url: str,
    form: dict[str, str] | None,
    timeout: httpx.Timeout,
    deadline: float,
    what: str,
) -> tuple[int, bytes]:
    """Send one request of the token dance; its status and body, read as it streams in.

    Cut at ``deadline`` (every socket wait, headers and body: ``wire``) and at
    :data:`MAX_TOKEN_RESPONSE_BYTES`, whatever the server sends.
    """
    try:
        with (
            wire.deadline(deadline),
            http.stream(
                method,
                url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=wire.request_timeout(timeout, deadline),
            ) as response,
        ):
            return response.status_code, wire.read_capped(
                response, MAX_TOKEN_RESPONSE_BYTES, deadline
            )
    except wire.TooLarge:
        raise TokenError("oversized", f"{what}'s answer is too large") from None
    except httpx.TimeoutException:
        raise TokenError("timeout", f"{what} timed out") from None
    except httpx.HTTPError as exc:
        raise TokenError("unavailable", f"{what} failed ({type(exc).__name__})") from None
