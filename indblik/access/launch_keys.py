"""Indblik's launch-token decryption keys: EC P-256 private JWKs the care systems encrypt to.

- Production: ``INDBLIK_LAUNCH_KEY_FILE`` names a private JWK or a JWK Set (``{"keys": […]}``)
  of EC P-256 keys, each with a ``kid``. Several keys allow a rotation: publish the new key
  first, keep the old one until no care system encrypts to it any more (a token lives at most
  two minutes). The first key of the file is the current one.
- Demo and test: when the variable is unset, one key is generated at first use into
  ``DATA_DIR/launch-key.jwk.json`` (mode 0600, written atomically under a file lock).
- :func:`public_jwks` is what care systems get (``indblik keys show``): public parts only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from indblik.core.keyfiles import generate_once

GENERATED_KEY_NAME = "launch-key.jwk.json"
KEY_ALGORITHM = "ECDH-ES+A256KW"
CONTENT_ENCRYPTION = "A256GCM"
CURVE = "P-256"
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_KEYS = 5
_PRIVATE_MEMBERS = ("kty", "crv", "x", "y", "d")

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], tuple[ECKey, ...]]] = {}


class LaunchKeyError(ImproperlyConfigured):
    """The launch decryption key is missing, unreadable or unusable."""


def key_path() -> Path:
    """Return the key file; raise LaunchKeyError in production when it is not configured."""
    configured = settings.INDBLIK_LAUNCH_KEY_FILE
    if configured:
        return Path(configured)
    if settings.PRODUCTION:
        raise LaunchKeyError(
            "INDBLIK_LAUNCH_KEY_FILE must name the private EC P-256 JWK that decrypts launch "
            "tokens in production mode; create one with `indblik keys generate FILE` "
            "(or any JOSE tool) and publish its public part with `indblik keys show`"
        )
    return Path(settings.DATA_DIR) / GENERATED_KEY_NAME


def decryption_keys() -> tuple[ECKey, ...]:
    """Return the private keys, current first, generating one first in demo and test mode."""
    path = key_path()
    if not settings.INDBLIK_LAUNCH_KEY_FILE and not path.exists():
        _generate(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise LaunchKeyError(f"cannot read the launch key {path}: {exc.strerror}") from None
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
    keys = parse_private_keys(_read(path), source=str(path))
    with _lock:
        _cache[str(path)] = (stamp, keys)
    return keys


def current_key() -> ECKey:
    """Return the key care systems should encrypt to now (the first of the file)."""
    return decryption_keys()[0]


def public_jwks() -> dict[str, list[dict[str, Any]]]:
    """Return the public JWK Set to publish: every key of the file, public members only."""
    return {"keys": [public_jwk(key) for key in decryption_keys()]}


def public_jwk(key: ECKey) -> dict[str, Any]:
    """Return the public form of one launch key, with the use and algorithm care systems need."""
    exported = key.as_dict(private=False)
    return {
        "kty": "EC",
        "crv": CURVE,
        "x": exported["x"],
        "y": exported["y"],
        "kid": key.kid,
        "use": "enc",
        "alg": KEY_ALGORITHM,
    }


def configuration_problems() -> list[str]:
    """Return what keeps launch tokens from being decrypted (empty when fine).

    For ``indblik check --deploy`` and ``/readyz``: in production the key file must be set,
    readable and hold usable keys. Demo and test generate their key, so nothing to report.
    """
    try:
        decryption_keys()
    except LaunchKeyError as exc:
        return [str(exc)]
    return []


def check_launch_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report a missing or unusable launch key in production (``indblik check --deploy``)."""
    if not settings.PRODUCTION:
        return []
    return [
        checks.Error(problem, id="access.E001", hint="See INDBLIK_LAUNCH_KEY_FILE in the docs.")
        for problem in configuration_problems()
    ]


def parse_private_keys(text: str | bytes, *, source: str = "the launch key") -> tuple[ECKey, ...]:
    """Return the EC P-256 private keys of a JWK or JWK Set; raise LaunchKeyError otherwise."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LaunchKeyError(f"{source} is not JSON: {str(exc)[:100]}") from None
    if isinstance(document, dict) and "keys" in document:
        entries = document["keys"]
    elif isinstance(document, dict):
        entries = [document]
    else:
        raise LaunchKeyError(f"{source} must be a JWK or a JWK Set")
    if not isinstance(entries, list) or not entries or len(entries) > MAX_KEYS:
        raise LaunchKeyError(f"{source} must hold 1 to {MAX_KEYS} keys")
    keys: list[ECKey] = []
    for number, entry in enumerate(entries, start=1):
        keys.append(_parse_one(entry, f"{source}, key {number}"))
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise LaunchKeyError(f"{source}: every key needs its own kid")
    return tuple(keys)


def new_private_jwk(kid: str | None = None) -> dict[str, Any]:
    """Return a fresh EC P-256 private JWK (kid: derived from its thumbprint unless given)."""
    key = ECKey.generate_key(CURVE, private=True)
    exported = key.as_dict(private=True)
    jwk = {name: exported[name] for name in _PRIVATE_MEMBERS}
    jwk["kid"] = kid or f"indblik-launch-{key.thumbprint()[:16]}"
    jwk["use"] = "enc"
    jwk["alg"] = KEY_ALGORITHM
    return jwk


def _parse_one(entry: object, where: str) -> ECKey:
    if not isinstance(entry, dict):
        raise LaunchKeyError(f"{where}: not a JSON object")
    if entry.get("kty") != "EC" or entry.get("crv") != CURVE:
        raise LaunchKeyError(f"{where}: must be an EC key on the curve {CURVE}")
    if "d" not in entry:
        raise LaunchKeyError(f"{where}: a private key is needed (no 'd' member)")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid.strip() or len(kid) > 200 or not kid.isprintable():
        raise LaunchKeyError(f"{where}: needs a 'kid' of at most 200 printable characters")
    if entry.get("use", "enc") != "enc":
        raise LaunchKeyError(f"{where}: 'use' must be 'enc'")
    if entry.get("alg", KEY_ALGORITHM) != KEY_ALGORITHM:
        raise LaunchKeyError(f"{where}: 'alg' must be {KEY_ALGORITHM}")
    members = {name: entry[name] for name in _PRIVATE_MEMBERS}
    try:
        key = ECKey.import_key(members, parameters={"kid": kid})
    except (JoseError, ValueError, TypeError) as exc:
        raise LaunchKeyError(f"{where}: not a valid EC private key ({exc})") from None
    if not key.is_private:
        raise LaunchKeyError(f"{where}: not a private key")
    return key


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise LaunchKeyError(f"cannot read the launch key {path}: {exc.strerror}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise LaunchKeyError(f"{path} is larger than {MAX_KEY_FILE_BYTES // 1024} KiB")
    return data


def _generate(path: Path) -> None:
    """Write a new key set atomically with mode 0600, once, whatever the number of workers."""
    generate_once(path, lambda: json.dumps({"keys": [new_private_jwk()]}, indent=2).encode())
