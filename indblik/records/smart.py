"""SMART Backend Services, server side: client keys, client assertions, scopes, access tokens.

A machine client (another Indblik, a FHIR client such as fhirpy) is a :class:`Feed` with a
public JWK Set (``indblik feed add NAME --scope record-read --jwks FILE``). It asks the token
endpoint (``POST /fhir/r4/auth/token``) for an access token with a JWT it signed with its
private key (``private_key_jwt``, RFC 7523; SMART App Launch 2.x, "Backend Services"):

- header: ``alg`` ES384 (EC P-384) or RS384 (RSA ≥ 2048 bits) — from a fixed allow-list,
  never ``none``, HS* or anything the token names; ``kid`` of a key in the feed's JWK Set;
- claims: ``iss`` = ``sub`` = the client id (the feed's name), ``aud`` = the token endpoint's
  URL, ``exp`` at most five minutes ahead, ``jti`` used once (:class:`AssertionNonce`).

The access token is a short-lived feed credential (:func:`indblik.records.auth.issue_credential`,
300 s), so every feed endpoint accepts it with the feed's scope; it reads only the resource
types of the scopes granted. Every refusal is a :class:`TokenRefused` with an RFC 6749 §5.2
error code; nothing here repeats the assertion.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from indblik.audit.sanitize import clean_text
from indblik.records import auth, searchparams
from indblik.records.models import AssertionNonce, Feed, FeedCredential

log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRANT_TYPE = "client_credentials"
SIGNING_ALGORITHMS = ("ES384", "RS384")
ACCESS_TOKEN_SECONDS = 300
MAX_ASSERTION_SECONDS = 300  # SMART: exp at most five minutes in the future
CLOCK_SKEW_SECONDS = 60
MAX_ASSERTION_BYTES = 16 * 1024
MAX_KEYS = 10
MIN_RSA_BITS = 2048
MAX_SCOPES = 100
PERMISSIONS = ("read", "rs")  # SMART v1 ``read`` and v2 ``rs``: read and search, nothing else
_KEY_TYPE = {"ES384": "EC", "RS384": "RSA"}
_CURVE = "P-384"
# JWK members that hold (part of) a private or symmetric key: a public set never has them.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_PUBLIC_MEMBERS = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e")}
# Header members refused outright: they change how the token is processed, or carry or point
# at a key that a naive verifier might trust instead of the registered one.
_REFUSED_HEADERS = frozenset({"crit", "b64", "zip", "jwk", "jku", "x5c", "x5u"})
_SEGMENT = r"[A-Za-z0-9_-]+"
_COMPACT_JWS = re.compile(rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}")
_CLIENT_ID = re.compile(r"[-a-zA-Z0-9_]{1,100}")
_SCOPE = re.compile(r"system/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<permission>[a-z]+)")


class KeySetError(ValueError):
    """A JWK Set that cannot be registered for a client (the message says why)."""


class TokenRefused(Exception):
    """A token request refused with an RFC 6749 §5.2 error (401 for ``invalid_client``)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    @property
    def status(self) -> int:
        """Return the HTTP status of the error answer."""
        return 401 if self.error == "invalid_client" else 400


@dataclass(frozen=True)
class Grant:
    """The scopes granted: as answered to the client, and as the resource types they cover."""

    scope: str
    resource_types: str  # "*" or space-separated types (FeedCredential.resource_types)


@dataclass(frozen=True)
class VerifiedAssertion:
    """A client assertion whose signature and claims are good (its ``jti`` not yet used)."""

    feed: Feed
    jti: str
    expires_at: dt.datetime  # when its replay row may go: exp plus the clock skew


# --- client keys ------------------------------------------------------------------------------


def parse_public_jwks(document: Any) -> dict[str, list[dict[str, Any]]]:
    """Return a client's JWK Set with public members only; raise KeySetError if it is unfit.

    Accepts a JWK Set (``{"keys": […]}``) or one JWK. Every key: EC P-384 (ES384) or RSA of at
    least 2048 bits (RS384), a unique ``kid``, no private or symmetric member, ``use`` (if
    given) ``sig`` and ``alg`` (if given) the one its type signs with. An empty set is allowed
    (it removes every key).
    """
    if isinstance(document, dict) and "keys" in document:
        entries = document["keys"]
    elif isinstance(document, dict):
        entries = [document]
    else:
        raise KeySetError('a JWK Set ({"keys": [...]}) or one JWK is expected')
    if not isinstance(entries, list) or len(entries) > MAX_KEYS:
        raise KeySetError(f"a JWK Set holds a list of at most {MAX_KEYS} keys")
    keys = [_public_jwk(entry, number) for number, entry in enumerate(entries, start=1)]
    kids = [key["kid"] for key in keys]
    if len(set(kids)) != len(kids):
        raise KeySetError("every key needs its own kid")
    return {"keys": keys}


def key_ids(jwks: Any) -> list[str]:
    """Return the kids of a stored JWK Set (empty when it has none)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    return [str(key.get("kid")) for key in keys or () if isinstance(key, dict)]


def _public_jwk(entry: Any, number: int) -> dict[str, Any]:
    where = f"key {number}"
    if not isinstance(entry, dict):
        raise KeySetError(f"{where}: not a JSON object")
    private = sorted(PRIVATE_MEMBERS & entry.keys())
    if private:
        raise KeySetError(
            f"{where}: holds private key material ({', '.join(private)}); register the public "
            "key only and keep the private one with the client"
        )
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid.strip() or len(kid) > 200 or not kid.isprintable():
        raise KeySetError(f"{where}: needs a 'kid' of at most 200 printable characters")
    kty = entry.get("kty")
    if kty not in _PUBLIC_MEMBERS:
        raise KeySetError(f"{where}: must be an EC P-384 key (ES384) or an RSA key (RS384)")
    if kty == "EC" and entry.get("crv") != _CURVE:
        # ES384 is the only EC algorithm the token endpoint accepts, and it signs with P-384.
        raise KeySetError(f"{where}: an EC key must be on the curve {_CURVE} (ES384)")
    alg = "ES384" if kty == "EC" else "RS384"
    if entry.get("alg", alg) != alg:
        raise KeySetError(f"{where}: 'alg' must be {alg} for this key")
    if entry.get("use", "sig") != "sig":
        raise KeySetError(f"{where}: 'use' must be 'sig'")
    members = {name: entry.get(name) for name in _PUBLIC_MEMBERS[kty]}
    try:
        key = import_public_key(members)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeySetError(f"{where}: not a valid {kty} public key ({type(exc).__name__})") from None
    if isinstance(key, RSAKey) and _rsa_bits(key) < MIN_RSA_BITS:
        raise KeySetError(f"{where}: an RSA key needs at least {MIN_RSA_BITS} bits")
    return {**members, "kid": kid, "alg": alg, "use": "sig"}


def import_public_key(jwk: Mapping[str, Any]) -> ECKey | RSAKey:
    """Return the joserfc key of a public EC or RSA JWK."""
    members = {name: jwk[name] for name in _PUBLIC_MEMBERS.get(str(jwk.get("kty")), ())}
    if jwk.get("kty") == "EC":
        return ECKey.import_key(members)
    if jwk.get("kty") == "RSA":
        return RSAKey.import_key(members)
    raise ValueError("not an EC or RSA key")


def _rsa_bits(key: RSAKey) -> int:
    return int(key.raw_value.key_size)


# --- the client assertion ---------------------------------------------------------------------


def token_endpoint_url() -> str:
    """Return the token endpoint's URL: the audience a client assertion must name."""
    return f"{settings.INDBLIK_BASE_URL}{reverse('fhir:smart-token')}"


def verify_assertion(assertion: Any, *, now: float | None = None) -> VerifiedAssertion:
    """Return the client a signed client assertion proves; raise TokenRefused otherwise.

    Cheap shape checks first; the key is chosen by the (unverified) ``iss`` and ``kid`` and the
    signature checked with it; only then are the claims believed. The ``jti`` is not recorded
    here: :func:`remember_jti` does that once the request is otherwise granted.
    """
    moment = time.time() if now is None else now
    if not isinstance(assertion, str) or len(assertion) > MAX_ASSERTION_BYTES:
        raise _bad_client("the client assertion is missing or too long")
    if not _COMPACT_JWS.fullmatch(assertion):
        raise _bad_client("the client assertion is not a compact signed JWT")
    header_segment, payload_segment, _signature = assertion.split(".")
    header = _json_object(header_segment, "header")
    if _REFUSED_HEADERS & header.keys():
        raise _bad_client("the assertion's header has members that are refused")
    alg = header.get("alg")
    if alg not in SIGNING_ALGORITHMS:
        raise _bad_client(
            f"the signing algorithm {_shown(alg)} is not accepted: use "
            f"{' or '.join(SIGNING_ALGORITHMS)}"
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _bad_client("the assertion's header has no kid")
    # Read `iss` only to choose whose keys to try; nothing is believed before the signature.
    issuer = _json_object(payload_segment, "payload").get("iss")
    # A client id is a feed's name (a slug): anything else is nobody, and never reaches SQL.
    is_name = isinstance(issuer, str) and _CLIENT_ID.fullmatch(issuer) is not None
    feed = Feed.objects.filter(name=issuer).first() if is_name else None
    if feed is None:
        raise _bad_client("unknown client")
    if not feed.active:
        log.warning("token request of feed %s refused: the feed is inactive", feed.name)
        raise _bad_client("unknown client")
    key = _registered_key(feed, kid, alg)
    try:
        verified = jws.deserialize_compact(
            assertion,
            key,
            # Unknown header members are ignored (clients add their own); crit is refused above.
            registry=jws.JWSRegistry(algorithms=[alg], strict_check_header=False),
        )
    except (JoseError, ValueError, TypeError) as exc:
        log.warning("token request of feed %s refused: bad signature", feed.name)
        raise _bad_client(f"the signature does not verify ({type(exc).__name__})") from None
    claims = _json_bytes(verified.payload or b"", "payload")
    return _checked_claims(feed, claims, now=moment)


def remember_jti(assertion: VerifiedAssertion) -> None:
    """Record the assertion's ``jti`` as used; raise TokenRefused if it was used before.

    Insert or fail: the database's unique constraint decides, so two workers given the same
    assertion at the same moment accept it at most once. Replay rows of assertions that could
    no longer pass the expiry check are purged on the way.
    """
    now = timezone.now()
    AssertionNonce.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():  # a savepoint: the failed insert must not end the caller's
            AssertionNonce.objects.create(
                feed=assertion.feed, jti=assertion.jti, expires_at=assertion.expires_at
            )
    except IntegrityError:
        log.warning("token request of feed %s refused: jti replayed", assertion.feed.name)
        raise _bad_client("this assertion (its jti) has been used before") from None


def _registered_key(feed: Feed, kid: str, alg: str) -> ECKey | RSAKey:
    for jwk in (feed.jwks or {}).get("keys") or ():
        if isinstance(jwk, dict) and jwk.get("kid") == kid:
            if jwk.get("kty") != _KEY_TYPE[alg] or jwk.get("alg", alg) != alg:
                raise _bad_client(f"{alg} does not fit the registered key")
            try:
                return import_public_key(jwk)
            except (JoseError, ValueError, TypeError, KeyError):
                log.error("feed %s: registered key %s cannot be imported", feed.name, _shown(kid))
                raise _bad_client("the registered key is unusable") from None
    log.warning("token request of feed %s refused: unknown kid", feed.name)
    raise _bad_client("no key with that kid is registered for this client")


def _checked_claims(feed: Feed, claims: Mapping[str, Any], *, now: float) -> VerifiedAssertion:
    missing = [name for name in ("iss", "sub", "aud", "exp", "jti") if claims.get(name) is None]
    if missing:
        raise _bad_client(f"the assertion lacks {', '.join(missing)}")
    if claims["iss"] != feed.name or claims["sub"] != feed.name:
        raise _bad_client("iss and sub must both be the client id")
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) == 1:
        audience = audience[0]  # RFC 7519 allows an array; only a single audience is accepted
    if audience != token_endpoint_url():
        raise _bad_client("aud must be this token endpoint's URL")
    exp = _numeric_date(claims["exp"], "exp")
    if exp + CLOCK_SKEW_SECONDS < now:
        raise _bad_client("the assertion has expired")
    if exp > now + MAX_ASSERTION_SECONDS + CLOCK_SKEW_SECONDS:
        raise _bad_client(f"exp is more than {MAX_ASSERTION_SECONDS} seconds away")
    for name in ("iat", "nbf"):
        if name in claims and _numeric_date(claims[name], name) > now + CLOCK_SKEW_SECONDS:
            raise _bad_client(f"{name} is in the future")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 200 or not jti.isprintable():
        raise _bad_client("jti must be text of at most 200 printable characters")
    until = dt.datetime.fromtimestamp(exp + CLOCK_SKEW_SECONDS, tz=dt.UTC)
    return VerifiedAssertion(feed=feed, jti=jti, expires_at=until)


# --- scopes and the access token --------------------------------------------------------------


def readable_types() -> tuple[str, ...]:
    """Return the resource types the read API serves (Patient, the searchable and shared ones)."""
    return ("Patient", *searchparams.SEARCHES, *searchparams.SHARED_TYPES)


def supported_scopes() -> list[str]:
    """Return every scope a client may be granted (for SMART discovery)."""
    types = ["*", *readable_types(), "AuditEvent"]
    return [f"system/{rtype}.{permission}" for rtype in types for permission in PERMISSIONS]


def grant(feed: Feed, requested: Any) -> Grant:
    """Return what a feed is granted of the requested scopes; raise TokenRefused if anything
    asked for is not the feed's to have (nothing is granted then).

    A ``record-read`` feed may read any type the API serves (``system/*.read``,
    ``system/Observation.rs``…) but not the audit log; an ``audit-read`` feed only
    ``system/AuditEvent.read`` (or ``.rs``); an ``ingest`` feed nothing.
    """
    if not isinstance(requested, str) or not requested.split():
        raise TokenRefused("invalid_scope", "ask for a scope, e.g. system/*.read")
    asked = list(dict.fromkeys(requested.split()))
    if len(asked) > MAX_SCOPES:
        raise TokenRefused("invalid_scope", f"at most {MAX_SCOPES} scopes")
    readable = set(readable_types())
    types: set[str] = set()
    for scope in asked:
        match = _SCOPE.fullmatch(scope)
        if match is None or match["permission"] not in PERMISSIONS:
            raise TokenRefused(
                "invalid_scope",
                f"{_shown(scope)} is not offered: system/<type or *>.read or .rs only",
            )
        rtype = match["type"]
        if feed.scope == Feed.Scope.RECORD_READ:
            allowed = rtype == "*" or rtype in readable
        elif feed.scope == Feed.Scope.AUDIT_READ:
            allowed = rtype == "AuditEvent"
        else:
            allowed = False
        if not allowed:
            raise TokenRefused(
                "invalid_scope", f"{_shown(scope)} is not granted to a {feed.scope} client"
            )
        types.add(rtype)
    return Grant(
        scope=" ".join(asked), resource_types="*" if "*" in types else " ".join(sorted(types))
    )


def issue_access_token(feed: Feed, granted: Grant) -> str:
    """Return a new access token for ``feed`` (a credential of 300 s reading what was granted).

    Expired access tokens of the token endpoint are purged on the way; long-lived credentials
    are never touched (their history stays for ``indblik feed list``).
    """
    now = timezone.now()
    FeedCredential.objects.filter(short_lived=True, expires_at__lt=now).delete()
    issued = auth.issue_credential(
        feed,
        expires_at=now + dt.timedelta(seconds=ACCESS_TOKEN_SECONDS),
        short_lived=True,
        resource_types=granted.resource_types,
    )
    log.info(
        "feed %s: access token %s issued (%s)", feed.name, issued.credential.prefix, granted.scope
    )
    return issued.token


# --- helpers ----------------------------------------------------------------------------------


def _bad_client(description: str) -> TokenRefused:
    return TokenRefused("invalid_client", description)


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _bad_client(f"the assertion's {what} is not base64url") from None
    return _json_bytes(data, what)


def _json_bytes(data: bytes, what: str) -> dict[str, Any]:
    """Parse strict JSON: an object, no duplicate members, no NaN (parsers must not disagree)."""
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _bad_client(f"the assertion's {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise _bad_client(f"the assertion's {what} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _numeric_date(value: Any, name: str) -> float:
    # bool is an int in Python, and a JSON true is no date.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad_client(f"{name} must be a NumericDate")
    if not 0 <= value < 2**40:
        raise _bad_client(f"{name} is out of range")
    return float(value)


def _shown(value: object) -> str:
    """Return a short, safe rendering of an untrusted value for a message."""
    return repr(clean_text(value, 40)) if isinstance(value, str) else type(value).__name__
