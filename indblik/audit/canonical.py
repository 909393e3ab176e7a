"""The canonical form of an audit row, and its hash (see docs/audit.md, "Canonical form").

An external auditor must be able to recompute a row's hash from a database dump with any
language, so the form is deliberately plain: a JSON object holding the fields below, keys
sorted (nested ones too), compact UTF-8 without escaping non-ASCII (orjson with
``OPT_SORT_KEYS``), where

- ``at`` is ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always with six fraction digits;
- ``client_ip`` is the address in Python's ``ipaddress`` spelling (RFC 5952 for IPv6) or null;
- ``user_id`` is an integer or null, ``actor_delegated`` a boolean, ``hash_version`` 1;
- ``decision_reasons`` is the stored JSON list and ``details`` the stored JSON object;
- every other value is the stored text (``resource_ids`` too: it is a JSON list *as text*).

``row_hash`` is the lower-case hex SHA-256 of those bytes. The row's ``id`` is not part of it
(it is not known before the insert); checkpoints bind ids to hashes instead.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

HASH_VERSION = 1

# Every stored field except ``id`` and ``row_hash`` itself, in key order (the order of the
# JSON, and the column order the verifier streams). Adding a field to AuditEvent means a new
# HASH_VERSION with its own field list: old rows keep hashing as they were written.
FIELDS: tuple[str, ...] = tuple(
    sorted(
        (
            "hash_version",
            "at",
            "action",
            "outcome",
            "user_id",
            "actor_name",
            "actor_authorisation",
            "actor_role",
            "actor_delegated",
            "organisation_cvr",
            "organisation_name",
            "patient_cpr",
            "section",
            "resource_ids",
            "client_ip",
            "user_agent",
            "request_id",
            "purpose",
            "reason",
            "decision_reasons",
            "details",
        )
    )
)
AT = FIELDS.index("at")
CLIENT_IP = FIELDS.index("client_ip")


def canonical_time(at: datetime) -> str:
    """Return ``at`` as ISO 8601 UTC with microseconds, e.g. ``2025-03-01T08:15:00.000000Z``."""
    offset = at.utcoffset()
    if offset is None:
        # A naive time would silently be read as the server's local time: refuse instead.
        raise ValueError("audit times must be timezone-aware")
    if offset:
        at = at.astimezone(UTC)
    # isoformat (not strftime: %Y is not zero-padded everywhere) ends in "+00:00" here.
    return at.isoformat(timespec="microseconds")[:-6] + "Z"


def canonical_ip(value: str | None) -> str | None:
    """Return the one spelling of an address, whatever the database printed."""
    if value is None:
        return None
    return str(ipaddress.ip_address(value))


def encode(values: Sequence[Any]) -> bytes:
    """Return the canonical bytes of values already in canonical shape, in FIELDS order.

    The one serialiser both the writer and the verifier use; ``at`` and ``client_ip`` must
    already be canonical text (see :func:`canonical_form` for the general case).
    """
    return orjson.dumps(dict(zip(FIELDS, values, strict=True)), option=orjson.OPT_SORT_KEYS)


def canonical_form(values: Mapping[str, Any]) -> bytes:
    """Return the canonical bytes of a row given as ``{field: value}`` (all of FIELDS)."""
    row = [values[field] for field in FIELDS]
    row[AT] = canonical_time(row[AT])
    row[CLIENT_IP] = canonical_ip(row[CLIENT_IP])
    return encode(row)


def row_hash(values: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 of a row's canonical form."""
    return hashlib.sha256(canonical_form(values)).hexdigest()
