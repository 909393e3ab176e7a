"""The launch token: a signed JWT (the care system's key) inside a JWE (Indblik's key).

Format (nested JWT, RFC 7519 §5.2), both compact serialisations:

- outer JWE: ``{"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "cty": "JWT", "kid": <Indblik's>}``
  encrypted to Indblik's public launch key (``indblik keys show``), so no CPR number is ever
  readable in a URL, a browser history or a proxy log;
- inner JWS: ``{"alg": "ES256" | "RS256", "kid": <the care system's key id>}``, signed with a
  key registered for the organisation (``indblik org add-key``);
- claims: ``iss``, ``aud`` (Indblik's base URL), ``iat``, ``exp`` (at most 120 s after
  ``iat``), ``jti`` (unique), ``org`` (CVR), ``sub`` (the user's persistent id at the broker),
  ``patient`` (CPR), optional ``purpose`` (``treatment`` or ``emergency``) and ``reason``.

:func:`build_token` is the reference implementation for care-system vendors;
:func:`verify_token` is what ``/launch`` calls. Every failure is a :class:`LaunchRefused` with
one of the stable codes in :class:`Reason`. Algorithms come from fixed allow-lists, never from
the token. Nothing here logs or puts a CPR number in an exception message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from indblik.access import launch_keys
from indblik.access.models import LaunchNonce
from indblik.audit.sanitize import clean_text
from indblik.organisations.keys import verification_keys
from indblik.organisations.models import CareSystemKey, Organisation
from indblik.records.fhir import normalise_cpr

MAX_TOKEN_BYTES = 16 * 1024
MAX_LIFETIME_SECONDS = 120
MAX_TEXT_CLAIM = 200
MAX_REASON = 500
PURPOSES = frozenset({"treatment", "emergency"})
REQUIRED_CLAIMS = ("iss", "aud", "iat", "exp", "jti", "org", "sub", "patient")

# The allow-lists. The token names its algorithms; these decide which are acceptable.
SIGNING_ALGORITHMS = ("ES256", "RS256")
JWE_ALGORITHMS = (launch_keys.KEY_ALGORITHM, launch_keys.CONTENT_ENCRYPTION)
_KEY_TYPE = {"ES256": "EC", "RS256": "RSA"}
# Header members refused outright: ``crit``/``b64`` change how the token is processed,
# ``zip`` decompresses attacker-chosen data, and the others carry or point at a key that a
# naive verifier might trust instead of the registered one.
_REFUSED_HEADERS = frozenset({"crit", "b64", "zip", "jwk", "jku", "x5c", "x5u"})
_SEGMENT = r"[A-Za-z0-9_-]*"
_COMPACT = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT}){{2}}(?:\.{_SEGMENT}\.{_SEGMENT})?")
_CVR = re.compile(r"[1-9][0-9]{7}")
# Purge expired replay rows on about one verification in this many.
PURGE_ONE_IN = 50


class Reason(StrEnum):
    """Why a launch token was refused: stable codes for the audit log and the refusal page."""

    MALFORMED = "malformed"  # not a compact JWE/JWS, bad base64 or JSON, refused header
    OVERSIZE = "oversize"
    NOT_ENCRYPTED = "not-encrypted"  # a plain JWS while encryption is required
    UNDECRYPTABLE = "undecryptable"  # wrong key, wrong algorithms, tampered ciphertext
    ALG_REFUSED = "alg-refused"  # none, HS256, anything but ES256/RS256, or not the key's type
    ORGANISATION_UNKNOWN = "organisation-unknown"
    UNKNOWN_KID = "unknown-kid"  # no kid, or not a key the organisation registered
    KEY_REMOVED = "key-removed"  # the organisation's key, removed from its set
    KEY_OF_OTHER_ORGANISATION = "key-of-other-organisation"
    BAD_SIGNATURE = "bad-signature"
    MISSING_CLAIMS = "missing-claims"
    MALFORMED_CLAIMS = "malformed-claims"
    WRONG_AUDIENCE = "wrong-audience"
    LIFETIME_TOO_LONG = "lifetime-too-long"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    MALFORMED_CPR = "malformed-cpr"
    REPLAYED = "replayed"


class LaunchRefused(Exception):
    """A launch token that must not be used; ``reason`` is a :class:`Reason` code.

    ``message`` is English for logs and the audit log and never holds a CPR number. ``org``
    is the organisation the token claims, when it is a well-formed CVR (unverified before the
    signature check: use it to route the audit event, not to trust anything).
    """

    def __init__(self, reason: Reason, message: str, *, org: str = "") -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.org = org

    @property
    def code(self) -> str:
        """Return the reason code (the same as ``reason``)."""
        return str(self.reason)


@dataclass(frozen=True)
class LaunchClaims:
    """A verified launch: who (``org``, ``sub``) opens which citizen (``patient``) and why."""

    iss: str
    aud: str
    iat: int
    exp: int
    jti: str
    org: str
    sub: str
    patient: str = field(repr=False)  # CPR: never in a repr that may reach a log
    purpose: str | None
    reason: str | None = field(repr=False)
    kid: str


# --- building (the reference implementation for care-system vendors) --------------------------


def build_token(
    *,
    signing_key: ECKey | RSAKey,
    encryption_key: ECKey | Mapping[str, Any],
    iss: str,
    aud: str,
    org: str,
    sub: str,
    patient: str,
    purpose: str | None = None,
    reason: str | None = None,
    lifetime: int = 60,
    now: float | dt.datetime | None = None,
    jti: str | None = None,
) -> str:
    """Return a launch token: claims signed with ``signing_key``, encrypted to Indblik.

    - ``signing_key``: the care system's private key (joserfc ``ECKey`` on P-256 → ES256, or
      ``RSAKey`` of at least 2048 bits → RS256) with the ``kid`` registered at Indblik.
    - ``encryption_key``: Indblik's public launch key, a JWK from ``indblik keys show``.
    - ``aud``: Indblik's base URL (e.g. ``https://indblik.regionh.dk``).
    - ``org``: the organisation's CVR; ``sub``: the user's persistent id at the broker;
      ``patient``: the citizen's CPR number (10 digits, a dash after the birth date allowed).
    - ``purpose``: ``"treatment"`` (default when absent) or ``"emergency"`` with a ``reason``.
    - ``lifetime``: seconds until ``exp``, at most 120. ``jti`` defaults to a random UUID.

    Post the result as the form field ``launch_token`` to ``<aud>/launch``.
    """
    if not signing_key.is_private or not signing_key.kid:
        raise ValueError("signing_key must be a private key with a kid")
    alg = _algorithm_for(signing_key)
    if alg is None:
        raise ValueError("signing_key must be an EC P-256 or an RSA key")
    if not 1 <= lifetime <= MAX_LIFETIME_SECONDS:
        raise ValueError(f"lifetime must be 1 to {MAX_LIFETIME_SECONDS} seconds")
    cpr = normalise_cpr(patient)
    if cpr is None:
        raise ValueError("patient is not a CPR number")  # the value itself is not repeated
    if not _CVR.fullmatch(org):
        raise ValueError("org must be a CVR number (8 digits)")
    if purpose is not None and purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(sorted(PURPOSES))}")
    issued = _epoch(now)
    claims: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": jti or str(uuid.uuid4()),
        "org": org,
        "sub": sub,
        "patient": cpr,
    }
    if purpose is not None:
        claims["purpose"] = purpose
    if reason is not None:
        claims["reason"] = reason
    return seal(claims, signing_key=signing_key, encryption_key=encryption_key, alg=alg)


def seal(
    claims: Mapping[str, Any],
    *,
    signing_key: ECKey | RSAKey,
    encryption_key: ECKey | Mapping[str, Any],
    alg: str,
) -> str:
    """Return ``claims`` signed (JWS, ``alg``) and encrypted (JWE) without checking them."""
    inner = jws.serialize_compact(
        {"alg": alg, "kid": signing_key.kid, "typ": "JWT"},
        json.dumps(dict(claims), separators=(",", ":")),
        signing_key,
        registry=jws.JWSRegistry(algorithms=[alg]),
    )
    return encrypt(inner, encryption_key)


def encrypt(inner: str, encryption_key: ECKey | Mapping[str, Any]) -> str:
    """Return ``inner`` (a signed JWT) encrypted to ``encryption_key`` as a compact JWE."""
    public = encryption_key if isinstance(encryption_key, ECKey) else _public_ec(encryption_key)
    header: dict[str, Any] = {
        "alg": launch_keys.KEY_ALGORITHM,
        "enc": launch_keys.CONTENT_ENCRYPTION,
        "cty": "JWT",
    }
    if public.kid:
        header["kid"] = public.kid
    return jwe.encrypt_compact(
        header, inner, public, registry=jwe.JWERegistry(algorithms=list(JWE_ALGORITHMS))
    )


# --- verifying ------------------------------------------------------------------------------


def verify_token(token: str, *, now: float | dt.datetime | None = None) -> LaunchClaims:
    """Return the verified claims of a launch token; raise LaunchRefused for any problem.

    The order matters: cheap shape checks first; the organisation's key chosen from the
    (still unverified) ``org`` and ``kid``; the signature; the claims; and the replay store
    only last, so that nobody can fill it with tokens that were never valid.
    """
    moment = _epoch(now)
    inner = _unwrap(token)
    header, peeked = _peek(inner)
    alg = header.get("alg")
    if alg not in SIGNING_ALGORITHMS:
        raise LaunchRefused(Reason.ALG_REFUSED, f"signing algorithm {_shown(alg)} is not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise LaunchRefused(Reason.UNKNOWN_KID, "the signed token has no kid")
    # Read `org` only to choose whose keys to try; nothing else is believed before the
    # signature is verified with one of them.
    org = _claimed_org(peeked)
    organisation = Organisation.objects.filter(cvr=org).first()
    if organisation is None:
        raise LaunchRefused(
            Reason.ORGANISATION_UNKNOWN, "no organisation is registered with that CVR", org=org
        )
    key = _registered_key(organisation, kid)
    if _KEY_TYPE[alg] != key.key_type or key.alg not in (None, alg):
        raise LaunchRefused(
            Reason.ALG_REFUSED, f"{alg} does not fit the registered key {_shown(kid)}", org=org
        )
    try:
        verified = jws.deserialize_compact(
            inner,
            key,
            # Unknown header members are ignored (vendors add their own); `crit` is refused above.
            registry=jws.JWSRegistry(
                algorithms=list(SIGNING_ALGORITHMS), strict_check_header=False
            ),
        )
    except (JoseError, ValueError, TypeError) as exc:
        raise LaunchRefused(
            Reason.BAD_SIGNATURE, f"the signature does not verify ({type(exc).__name__})", org=org
        ) from None
    claims = _claims(_json_object(verified.payload, "payload"), kid=kid, now=moment)
    if not remember_jti(claims.jti, claims.org, _datetime(claims.exp + _skew())):
        raise LaunchRefused(Reason.REPLAYED, "this jti has been used before", org=org)
    return claims


def remember_jti(jti: str, org: str, until: dt.datetime) -> bool:
    """Record a token's ``jti`` until ``until``; return False if it was already recorded.

    Insert or fail: the database's unique constraint decides, so two workers (or two servers)
    given the same token at the same moment accept it at most once. A row whose time is over
    is replaced: such a token would have failed the expiry check anyway.
    """
    now = timezone.now()
    LaunchNonce.objects.filter(organisation_cvr=org, jti=jti, expires_at__lt=now).delete()
    try:
        with transaction.atomic():  # a savepoint: the failed insert must not end the caller's
            LaunchNonce.objects.create(jti=jti, organisation_cvr=org, expires_at=until)
    except IntegrityError:
        return False
    if secrets.randbelow(PURGE_ONE_IN) == 0:
        purge_expired_nonces(now)
    return True


def purge_expired_nonces(now: dt.datetime | None = None) -> int:
    """Delete the replay rows whose tokens can no longer pass the expiry check; return how many."""
    deleted, _ = LaunchNonce.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted


def _unwrap(token: object) -> str:
    """Return the inner JWS: decrypt a JWE, or pass a plain JWS when encryption is optional."""
    if not isinstance(token, str):
        raise LaunchRefused(Reason.MALFORMED, "the token is not text")
    if len(token) > MAX_TOKEN_BYTES:
        raise LaunchRefused(Reason.OVERSIZE, f"the token is longer than {MAX_TOKEN_BYTES} bytes")
    token = token.strip()
    if not _COMPACT.fullmatch(token):
        raise LaunchRefused(Reason.MALFORMED, "not a compact JWE or JWS")
    if token.count(".") == 2:
        if settings.INDBLIK_LAUNCH_REQUIRE_ENCRYPTION:
            raise LaunchRefused(Reason.NOT_ENCRYPTED, "a plain JWS where a JWE is required")
        return token
    header = _json_object(_b64decode(token.split(".", 1)[0]), "JWE header")
    if header.get("alg") != launch_keys.KEY_ALGORITHM:
        raise LaunchRefused(Reason.UNDECRYPTABLE, f"key algorithm {_shown(header.get('alg'))}")
    if header.get("enc") != launch_keys.CONTENT_ENCRYPTION:
        raise LaunchRefused(Reason.UNDECRYPTABLE, f"encryption {_shown(header.get('enc'))}")
    if _REFUSED_HEADERS & header.keys():
        raise LaunchRefused(Reason.MALFORMED, "the JWE header has members that are refused")
    cty = header.get("cty")
    if not isinstance(cty, str) or cty.upper() != "JWT":
        raise LaunchRefused(Reason.MALFORMED, 'the JWE must carry a JWT (cty "JWT")')
    keys = launch_keys.decryption_keys()
    wanted = header.get("kid")
    candidates = [key for key in keys if wanted is None or key.kid == wanted]
    if not candidates:
        raise LaunchRefused(Reason.UNDECRYPTABLE, f"no launch key with kid {_shown(wanted)}")
    registry = jwe.JWERegistry(algorithms=list(JWE_ALGORITHMS))
    for key in candidates:
        try:
            decrypted = jwe.decrypt_compact(token, key, registry=registry)
        except (JoseError, ValueError, TypeError, KeyError, binascii.Error):
            continue
        plaintext = decrypted.plaintext or b""
        try:
            inner = plaintext.decode("ascii")
        except UnicodeDecodeError:
            raise LaunchRefused(Reason.MALFORMED, "the JWE does not hold a JWS") from None
        if inner.count(".") != 2 or not _COMPACT.fullmatch(inner):
            raise LaunchRefused(Reason.MALFORMED, "the JWE does not hold a compact JWS")
        return inner
    raise LaunchRefused(Reason.UNDECRYPTABLE, "the token cannot be decrypted with Indblik's key")


def _peek(inner: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the JWS header and payload, NOT verified: only to choose the key."""
    header_segment, payload_segment, _signature = inner.split(".")
    header = _json_object(_b64decode(header_segment), "JWS header")
    if _REFUSED_HEADERS & header.keys():
        raise LaunchRefused(Reason.MALFORMED, "the JWS header has members that are refused")
    return header, _json_object(_b64decode(payload_segment), "payload")


def _claimed_org(peeked: Mapping[str, Any]) -> str:
    if "org" not in peeked:
        raise LaunchRefused(Reason.MISSING_CLAIMS, "missing claims: org")
    org = peeked["org"]
    if not isinstance(org, str) or not _CVR.fullmatch(org):
        raise LaunchRefused(Reason.MALFORMED_CLAIMS, "org is not a CVR number (8 digits)")
    return org


def _registered_key(organisation: Organisation, kid: str) -> ECKey | RSAKey:
    """Return the organisation's active key ``kid``; refuse any other key, saying which."""
    for key in verification_keys(organisation):
        if key.kid == kid:
            return key  # type: ignore[return-value]
    org = organisation.cvr
    if CareSystemKey.objects.filter(organisation=organisation, kid=kid).exists():
        raise LaunchRefused(Reason.KEY_REMOVED, f"key {_shown(kid)} was removed", org=org)
    others = CareSystemKey.objects.filter(kid=kid, removed_at__isnull=True)
    if others.exclude(organisation=organisation).exists():
        # A registered care system signing for an organisation it does not belong to: a
        # misconfiguration at best, an attack at worst. Either way, never this key.
        raise LaunchRefused(
            Reason.KEY_OF_OTHER_ORGANISATION,
            f"key {_shown(kid)} belongs to another organisation",
            org=org,
        )
    raise LaunchRefused(Reason.UNKNOWN_KID, f"no registered key {_shown(kid)}", org=org)


def _claims(payload: Mapping[str, Any], *, kid: str, now: int) -> LaunchClaims:
    """Check the verified payload's claims and return them."""
    org = str(payload.get("org", ""))
    missing = [name for name in REQUIRED_CLAIMS if payload.get(name) in (None, "")]
    if missing:
        raise LaunchRefused(Reason.MISSING_CLAIMS, f"missing claims: {', '.join(missing)}", org=org)

    def refuse(message: str) -> LaunchRefused:
        return LaunchRefused(Reason.MALFORMED_CLAIMS, message, org=org)

    texts = {}
    for name in ("iss", "jti", "org", "sub", "patient"):
        value = payload[name]
        if not isinstance(value, str) or len(value) > MAX_TEXT_CLAIM or not value.isprintable():
            raise refuse(f"{name} must be text of at most {MAX_TEXT_CLAIM} printable characters")
        texts[name] = value
    if not _CVR.fullmatch(texts["org"]):
        raise refuse("org is not a CVR number (8 digits)")
    aud = payload["aud"]
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]  # RFC 7519 allows an array; only a single audience is accepted
    if not isinstance(aud, str):
        raise refuse("aud must be one URL")
    if aud.rstrip("/") != str(settings.INDBLIK_BASE_URL).rstrip("/"):
        raise LaunchRefused(
            Reason.WRONG_AUDIENCE, f"the token is for {_shown(aud)}, not this server", org=org
        )
    times = {}
    for name in ("iat", "exp", "nbf"):
        if name in payload:
            times[name] = _numeric_date(payload[name], name, org)
    iat, exp = times["iat"], times["exp"]
    if exp <= iat:
        raise refuse("exp must be after iat")
    if exp - iat > MAX_LIFETIME_SECONDS:
        raise LaunchRefused(
            Reason.LIFETIME_TOO_LONG,
            f"the token lives {exp - iat} s; at most {MAX_LIFETIME_SECONDS} s",
            org=org,
        )
    skew = _skew()
    if now > exp + skew:
        raise LaunchRefused(Reason.EXPIRED, f"expired {now - exp} s ago", org=org)
    if iat > now + skew or times.get("nbf", now) > now + skew:
        raise LaunchRefused(Reason.NOT_YET_VALID, "issued in the future", org=org)
    cpr = normalise_cpr(texts["patient"])
    if cpr is None:
        raise LaunchRefused(Reason.MALFORMED_CPR, "patient is not a CPR number", org=org)
    purpose = payload.get("purpose")
    if purpose is not None and purpose not in PURPOSES:
        raise refuse(f"purpose must be one of {', '.join(sorted(PURPOSES))}")
    reason = payload.get("reason")
    if reason is not None:
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise refuse(f"reason must be text of at most {MAX_REASON} characters")
        reason = " ".join(clean_text(reason, MAX_REASON).split()) or None
    return LaunchClaims(
        iss=texts["iss"],
        aud=aud,
        iat=iat,
        exp=exp,
        jti=texts["jti"],
        org=texts["org"],
        sub=texts["sub"],
        patient=cpr,
        purpose=purpose,
        reason=reason,
        kid=kid,
    )


# --- helpers ------------------------------------------------------------------------------


def _numeric_date(value: object, name: str, org: str) -> int:
    # bool is an int in Python, and a JSON true is no date.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LaunchRefused(Reason.MALFORMED_CLAIMS, f"{name} must be a NumericDate", org=org)
    if not 0 <= value < 2**40:
        raise LaunchRefused(Reason.MALFORMED_CLAIMS, f"{name} is out of range", org=org)
    return int(value)


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise LaunchRefused(Reason.MALFORMED, "bad base64url") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse strict JSON: an object, no duplicate members, no NaN (parsers must not disagree)."""
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise LaunchRefused(Reason.MALFORMED, f"the {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise LaunchRefused(Reason.MALFORMED, f"the {what} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _algorithm_for(key: ECKey | RSAKey) -> str | None:
    if isinstance(key, ECKey) and key.curve_name == "P-256":
        return "ES256"
    if isinstance(key, RSAKey):
        return "RS256"
    return None


def _public_ec(jwk: Mapping[str, Any]) -> ECKey:
    if "d" in jwk:
        raise ValueError("encryption_key must be Indblik's public key")
    key = ECKey.import_key(dict(jwk))
    if key.curve_name != launch_keys.CURVE:
        raise ValueError(f"encryption_key must be an EC {launch_keys.CURVE} key")
    return key


def _skew() -> int:
    return int(settings.INDBLIK_LAUNCH_CLOCK_SKEW_SECONDS)


def _epoch(now: float | dt.datetime | None) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, dt.datetime):
        return int(now.timestamp())
    return int(now)


def _datetime(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def _shown(value: object) -> str:
    """Return a short, safe rendering of an untrusted value for a message."""
    return repr(clean_text(value, 40)) if isinstance(value, str) else type(value).__name__
