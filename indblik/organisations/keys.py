"""Care-system launch-token keys: validation of public JWKs and the verification key set.

A care system (EOJ) signs each launch token with its private key; Indblik holds only the
public part, registered per organisation. Only EC P-256 and RSA keys of at least 2048 bits
are accepted. A private key is refused outright: it must never leave the care system, and one
pasted here is compromised and must be replaced there.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from indblik.organisations.errors import InvalidKey
from indblik.organisations.models import CareSystemKey, Organisation

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS_AT_ONCE = 10
KID_MAX_LENGTH = 200
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 8192  # bigger keys only slow every verification down
EC_CURVE = "P-256"
# Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
ALGORITHMS = {
    "EC": frozenset({"ES256"}),
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
}
# What is kept of a key: its public numbers and how it may be used. Certificates (x5c…) and
# unknown members are dropped, so nothing unreviewed is later trusted by the launch code.
_PUBLIC_MEMBERS = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e")}


@dataclass(frozen=True)
class PublicKey:
    """A validated public key, ready to be stored."""

    kid: str
    kty: str
    crv: str
    size: int
    thumbprint: str
    jwk: dict[str, str] = field(repr=False)

    def describe(self) -> dict[str, Any]:
        """Return what identifies the key (never key material)."""
        return {
            "kid": self.kid,
            "kty": self.kty,
            "crv": self.crv,
            "size": self.size,
            "thumbprint": self.thumbprint,
        }


def parse_jwks(text: str | bytes) -> list[PublicKey]:
    """Return the public keys in a JWK Set (``{"keys": [...]}``) or a single JWK.

    Raises InvalidKey, naming the key and the problem, for: malformed JSON, anything but an
    object or a set of objects, a private or symmetric key, a curve other than P-256, an RSA
    key under 2048 bits, another key type, a missing or duplicate ``kid``, a ``use`` other
    than ``sig`` or an ``alg`` that does not fit the key.
    """
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_JWKS_BYTES:
        raise InvalidKey(
            _("The key set is larger than %(max)d KiB: send only the public keys."),
            code="too_large",
            params={"max": MAX_JWKS_BYTES // 1024},
        )
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidKey(
            _("The key is not valid JSON: %(error)s."),
            code="json",
            params={"error": str(exc)[:120]},
        ) from None
    if isinstance(document, dict) and "keys" in document:
        entries = document["keys"]
        if not isinstance(entries, list) or not entries:
            raise InvalidKey(_('"keys" must be a non-empty list of keys.'), code="empty_set")
    elif isinstance(document, dict) and "kty" in document:
        entries = [document]
    else:
        raise InvalidKey(
            _('Expected a public JWK ({"kty": …}) or a JWK Set ({"keys": […]}).'),
            code="not_jwk",
        )
    if len(entries) > MAX_KEYS_AT_ONCE:
        raise InvalidKey(
            _("At most %(max)d keys at once, not %(count)d."),
            code="too_many",
            params={"max": MAX_KEYS_AT_ONCE, "count": len(entries)},
        )
    keys: list[PublicKey] = []
    for number, entry in enumerate(entries, start=1):
        key = _parse_one(entry, number)
        if any(other.kid == key.kid for other in keys):
            raise InvalidKey(
                _("Key %(number)d: the kid %(kid)s appears twice: every key needs its own."),
                code="duplicate_kid",
                params={"number": number, "kid": repr(key.kid)},
            )
        if any(other.thumbprint == key.thumbprint for other in keys):
            raise InvalidKey(
                _("Key %(number)d (kid %(kid)s) is the same key as an earlier one in the set."),
                code="duplicate_key",
                params={"number": number, "kid": repr(key.kid)},
            )
        keys.append(key)
    return keys


def verification_keys(org: Organisation) -> KeySet:
    """Return the organisation's active (not removed) public keys, for verifying launch tokens.

    The launch code looks a token's ``kid`` up in this set (``KeySet.get_by_kid``); a removed
    key is not in it, so a token signed with it fails.
    """
    rows = CareSystemKey.objects.filter(organisation=org, removed_at__isnull=True)
    imported: list[ECKey | RSAKey] = []
    for row in rows.order_by("added_at", "pk"):
        cls = ECKey if row.kty == "EC" else RSAKey
        imported.append(cls.import_key(dict(row.jwk)))
    return KeySet(imported)  # type: ignore[arg-type]


def _parse_one(entry: object, number: int) -> PublicKey:
    """Validate one JWK and return it in normalised public form."""
    if not isinstance(entry, dict):
        raise _refused(number, "", _("it is not a JSON object"), "not_object")
    kid = entry.get("kid")
    shown_kid = kid if isinstance(kid, str) else ""
    kty = entry.get("kty")
    if kty == "oct":
        raise _refused(
            number,
            shown_kid,
            _(
                'symmetric keys (kty "oct") are refused: the care system signs with its own '
                "private key and sends only the public part"
            ),
            "symmetric",
        )
    present = [name for name in PRIVATE_MEMBERS if name in entry]
    if present:
        raise _refused(
            number,
            shown_kid,
            _(
                "this is a private key: send only the public part (remove %(members)s, and "
                "replace the key in the care system: a private key that left it is exposed)"
            ),
            "private",
            {"members": ", ".join(present)},
        )
    if not isinstance(kid, str) or not kid.strip():
        raise _refused(number, "", _('it has no "kid" (key id): give every key one'), "no_kid")
    if len(kid) > KID_MAX_LENGTH or not kid.isprintable() or kid != kid.strip():
        raise _refused(
            number,
            kid[:40],
            _("the kid must be at most %(max)d printable characters without surrounding blanks"),
            "bad_kid",
            {"max": KID_MAX_LENGTH},
        )
    if kty == "EC":
        crv = entry.get("crv")
        if crv != EC_CURVE:
            raise _refused(
                number,
                kid,
                _(
                    "the curve %(crv)s is not accepted: only EC P-256 and RSA keys of at least "
                    "2048 bits"
                ),
                "curve",
                {"crv": repr(crv)},
            )
    elif kty == "RSA":
        bits = _modulus_bits(entry.get("n"))
        # Checked before joserfc sees the key: it would only warn about a short one.
        if bits is None:
            raise _refused(number, kid, _('the RSA modulus "n" is missing or malformed'), "rsa_n")
        if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
            raise _refused(
                number,
                kid,
                _("an RSA key of %(bits)d bits is not accepted: use %(min)d to %(max)d bits"),
                "rsa_size",
                {"bits": bits, "min": RSA_MIN_BITS, "max": RSA_MAX_BITS},
            )
    else:
        raise _refused(
            number,
            kid,
            _(
                "the key type %(kty)s is not accepted: only EC P-256 and RSA keys of at least "
                "2048 bits"
            ),
            "kty",
            {"kty": repr(kty)[:40]},
        )
    use = entry.get("use")
    if use is not None and use != "sig":
        raise _refused(
            number,
            kid,
            _('"use" must be "sig" (a signing key), not %(use)s'),
            "use",
            {"use": repr(use)[:40]},
        )
    alg = entry.get("alg")
    if alg is not None and alg not in ALGORITHMS[kty]:
        raise _refused(
            number,
            kid,
            _('"alg" %(alg)s does not fit a %(kty)s key (use %(allowed)s)'),
            "alg",
            {"alg": repr(alg)[:40], "kty": kty, "allowed": ", ".join(sorted(ALGORITHMS[kty]))},
        )
    key_ops = entry.get("key_ops")
    if key_ops is not None and key_ops != ["verify"]:
        raise _refused(number, kid, _('"key_ops" may only be ["verify"]'), "key_ops")
    members = {name: entry[name] for name in _PUBLIC_MEMBERS[kty] if name in entry}
    try:
        imported: ECKey | RSAKey = (
            ECKey.import_key(members) if kty == "EC" else RSAKey.import_key(members)
        )
    except (JoseError, ValueError, TypeError, binascii.Error) as exc:
        raise _refused(
            number,
            kid,
            _("it is not a valid %(kty)s public key (%(error)s)"),
            "invalid",
            {"kty": kty, "error": (str(exc) or type(exc).__name__)[:120]},
        ) from None
    if imported.is_private:  # belt and braces: the member check above should have caught it
        raise _refused(
            number, kid, _("this is a private key: send only the public part"), "private"
        )
    exported = imported.as_dict(private=False)
    public = {name: str(exported[name]) for name in _PUBLIC_MEMBERS[kty]}
    public["kid"] = kid
    public["use"] = "sig"
    if alg is not None:
        public["alg"] = alg
    size = 256 if kty == "EC" else _modulus_bits(public["n"]) or 0
    return PublicKey(
        kid=kid,
        kty=kty,
        crv=EC_CURVE if kty == "EC" else "",
        size=size,
        thumbprint=imported.thumbprint(),
        jwk=public,
    )


def _modulus_bits(value: object) -> int | None:
    """Return the bit length of a base64url-encoded big integer, or None if malformed."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(data, "big").bit_length()


def _refused(
    number: int,
    kid: str,
    problem: Any,
    code: str,
    params: Mapping[str, Any] | None = None,
) -> InvalidKey:
    """Return an InvalidKey that names the key ("key 2 (kid 'x'): …") and its problem."""
    detail = problem % params if params else problem
    if kid:
        message = _("Key %(number)d (kid %(kid)s): %(problem)s.")
    else:
        message = _("Key %(number)d: %(problem)s.")
    return InvalidKey(
        message, code=code, params={"number": number, "kid": repr(kid[:40]), "problem": detail}
    )
