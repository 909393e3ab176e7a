"""Make untrusted text safe to store in, forward from and display out of the audit log.

Audit rows end up in syslog lines, CSV exports, admin pages and the citizen's own log, so
free text must not be able to forge a line (CR/LF, Unicode line separators), hide or reorder
what a reader sees (bidi overrides, zero-width characters) or smuggle a credential into the
log (a token pasted into a reason field). Lengths are bounded so a client cannot grow the log.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

# Replaced by a space: controls (C0, DEL, C1 - includes CR, LF, TAB, ESC) and the Unicode
# line/paragraph separators, which some log viewers treat as a new line.
_AS_SPACE = frozenset({"Cc", "Zl", "Zp"})
# Removed: format characters (bidi embeddings/overrides/isolates, zero-width space and joiners,
# BOM, soft hyphen) and lone surrogates, which cannot be encoded in UTF-8 at all.
_REMOVED = frozenset({"Cf", "Cs"})

# A JWS or JWE compact serialisation (launch tokens; a JWE with direct key agreement has an
# empty second part) or any long base64 run (SAML assertions,
# bearer credentials). Such a thing in free text is a leak, whatever field it arrived in.
_TOKEN_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){2,}|[A-Za-z0-9+/_=-]{100,}")
REDACTED = "[redacted]"

# `details` keys that would name a credential. Compared after lower-casing and dropping
# everything but letters and digits, so `launchToken`, `csrf-token` and `X_Authorization` all
# match. (Not "authorisation": the Danish authorisation id is ordinary, wanted data.)
_SECRET_KEY_PARTS = (
    "token",
    "password",
    "passwd",
    "secret",
    "assertion",
    "authorization",
    "cookie",
    "apikey",
    "privatekey",
    "credential",
    "samlresponse",
    "jwt",
    "sessionkey",
)

DETAILS_MAX_BYTES = 2048
DETAILS_MAX_DEPTH = 4
DETAILS_MAX_ITEMS = 50
DETAILS_KEY_MAX_LENGTH = 64
DETAILS_TEXT_MAX_LENGTH = 200
# JSON numbers beyond 2**53 lose precision in many readers (and in PostgreSQL's jsonb
# round-trip through Python floats elsewhere); the log keeps only exact integers.
_MAX_JSON_INT = 2**53


def clean_text(value: object, max_length: int) -> str:
    """Return ``value`` as one safe line of at most ``max_length`` characters."""
    text = value if isinstance(value, str) else str(value)
    # Fast path: a printable string has no control, format, separator or surrogate character.
    if not text.isprintable():
        parts = []
        for char in text:
            category = unicodedata.category(char)
            if category in _AS_SPACE:
                parts.append(" ")
            elif category not in _REMOVED:
                parts.append(char)
        text = "".join(parts)
    text = _TOKEN_LIKE.sub(REDACTED, text).strip()
    return text[:max_length].rstrip()


def clean_codes(values: Iterable[object], *, max_items: int, max_length: int) -> list[str]:
    """Return up to ``max_items`` cleaned, non-empty short strings (reason codes, ids)."""
    if isinstance(values, str):
        # A bare string would be iterated character by character: always a caller's mistake.
        raise ValueError("pass a list of codes, not a single string")
    cleaned: list[str] = []
    for value in values:
        text = clean_text(value, max_length)
        if text:
            cleaned.append(text)
            if len(cleaned) == max_items:
                break
    return cleaned


def is_secret_key(key: str) -> bool:
    """Tell whether a ``details`` key names something that must never be logged."""
    normalised = "".join(char for char in key.lower() if char.isalnum())
    return any(part in normalised for part in _SECRET_KEY_PARTS)


def clean_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a small, JSON-safe copy of ``details``; raise ValueError on a programming error.

    Refused (ValueError): a key that names a credential, a value that is not str, int, bool,
    None, list or dict (floats do not survive every JSON round trip exactly, and the row hash
    must), nesting deeper than 4, more than 50 items in one container, or more than 2 KiB in
    all. These are mistakes in the calling code, so they fail loudly in every mode.
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise ValueError("details must be a mapping")
    cleaned = _clean_value(details, depth=1)
    assert isinstance(cleaned, dict)
    if len(orjson.dumps(cleaned)) > DETAILS_MAX_BYTES:
        raise ValueError(f"details must be at most {DETAILS_MAX_BYTES} bytes of JSON")
    return cleaned


def _clean_value(value: object, depth: int) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_JSON_INT:
            raise ValueError("details: integers must be within ±2**53")
        return value
    if isinstance(value, str):
        return clean_text(value, DETAILS_TEXT_MAX_LENGTH)
    if depth > DETAILS_MAX_DEPTH:
        raise ValueError(f"details: nested deeper than {DETAILS_MAX_DEPTH}")
    if isinstance(value, Mapping):
        if len(value) > DETAILS_MAX_ITEMS:
            raise ValueError(f"details: more than {DETAILS_MAX_ITEMS} keys in one object")
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("details: keys must be strings")
            if is_secret_key(key):
                raise ValueError(f"details: the key {key[:40]!r} looks like a credential")
            clean_key = clean_text(key, DETAILS_KEY_MAX_LENGTH)
            if not clean_key:
                raise ValueError("details: empty key")
            result[clean_key] = _clean_value(item, depth + 1)
        return result
    if isinstance(value, list | tuple):
        if len(value) > DETAILS_MAX_ITEMS:
            raise ValueError(f"details: more than {DETAILS_MAX_ITEMS} items in one list")
        return [_clean_value(item, depth + 1) for item in value]
    raise ValueError(f"details: {type(value).__name__} values are not allowed")
