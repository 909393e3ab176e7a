"""Reading audit rows back fast, in canonical form, and hashing them.

The ORM writes the query; the rows are read raw through a chunked cursor (server-side on
PostgreSQL) rather than through ``values_list().iterator()``, because Django's per-value
converters cost more than the hashing itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection, models
from django.db.models import Func, IntegerField, TextField
from django.db.models.functions import Cast

from indblik.audit import canonical
from indblik.audit.models import AuditEvent

CHUNK_SIZE = 10_000
_AT = canonical.AT + 2  # positions in a streamed row: id, row_hash, then canonical.FIELDS
_DELEGATED = canonical.FIELDS.index("actor_delegated") + 2
_JSON_FIELDS = ("decision_reasons", "details")


def _row_query(queryset: models.QuerySet[AuditEvent]) -> tuple[str, Any]:
    """Return the SQL and parameters selecting id, row_hash and canonical.FIELDS, by id.

    The time is fetched as text, never through a datetime converter (Python code per value,
    slower than all the hashing): SQLite gives its stored UTC text (a cast has no declared
    type, so sqlite3 skips Django's converters), PostgreSQL formats the canonical text itself.
    """
    columns = ["id", "row_hash", *canonical.FIELDS]
    if connection.vendor == "postgresql":
        queryset = queryset.annotate(
            at_text=Func(
                "at",
                template="to_char(%(expressions)s AT TIME ZONE 'UTC', "
                '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')',
                output_field=TextField(),
            )
        )
        columns[_AT] = "at_text"
    else:
        queryset = queryset.annotate(
            at_text=Cast("at", TextField()), delegated_int=Cast("actor_delegated", IntegerField())
        )
        columns[_AT], columns[_DELEGATED] = "at_text", "delegated_int"
    return queryset.order_by("id").values_list(*columns).query.sql_with_params()


def _canonical_time_of(value: str) -> str:
    """Return the canonical text of a stored time, fetched as text (see :func:`_row_query`)."""
    if len(value) == 27 and value[10] == "T" and value[26] == "Z":  # PostgreSQL's to_char
        return value
    if len(value) == 26 and value[10] == " ":  # SQLite: "2025-03-01 08:15:00.000000"
        return f"{value[:10]}T{value[11:]}Z"
    parsed = datetime.fromisoformat(value)  # SQLite, on a whole second: no fraction stored
    return canonical.canonical_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def hashed_rows(
    queryset: models.QuerySet[AuditEvent],
) -> Iterator[tuple[int, str, bytes | None]]:
    """Yield ``(id, stored row_hash, recomputed SHA-256 digest or None)`` per row, by id.

    Only what differs between databases is decoded here: times (text, see
    :func:`_row_query`), booleans (0/1 on SQLite), JSON (text) and addresses (PostgreSQL's
    spelling). None means the row could not even be read back into canonical form (a broken
    time, JSON or address): it was surely tampered with.

    The bytes are exactly :func:`canonical.encode`'s, built with less work per row (this loop
    is most of the verifier's time): the dict is filled in ``canonical.FIELDS`` order, which
    is sorted, so it needs no key sorting; the two JSON columns - the only nested values - are
    put in as pre-serialised canonical fragments, cached by their stored text (a log holds
    few distinct ones). ``test_integrity`` checks the bytes against ``canonical.encode``.
    """
    sql, params = _row_query(queryset)
    fields = canonical.FIELDS
    dumps = orjson.dumps
    sha256 = hashlib.sha256
    json_cache: dict[str | bytes, orjson.Fragment] = {}
    ip_cache: dict[str, str] = {}
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK_SIZE):
            if len(json_cache) > 10_000 or len(ip_cache) > 10_000:
                json_cache.clear()  # bounded memory, whatever the log holds
                ip_cache.clear()
            for raw in chunk:
                values = dict(zip(fields, raw[2:], strict=True))
                try:
                    at = values["at"]
                    if len(at) == 26 and at[10] == " ":  # SQLite: "2025-03-01 08:15:00.000000"
                        values["at"] = f"{at[:10]}T{at[11:]}Z"
                    elif len(at) != 27 or at[10] != "T" or at[26] != "Z":  # not PostgreSQL's
                        values["at"] = _canonical_time_of(at)
                    values["actor_delegated"] = bool(values["actor_delegated"])
                    for key in _JSON_FIELDS:
                        stored = values[key]
                        if isinstance(stored, str | bytes):
                            fragment = json_cache.get(stored)
                            if fragment is None:
                                fragment = json_cache[stored] = _json_fragment(orjson.loads(stored))
                        else:  # a driver that decodes JSON itself
                            fragment = _json_fragment(stored)
                        values[key] = fragment
                    ip = values["client_ip"]
                    if ip is not None:
                        # The same few addresses over and over: parse each one once.
                        cached = ip_cache.get(ip)
                        if cached is None:
                            cached = ip_cache[ip] = str(ipaddress.ip_address(ip))
                        values["client_ip"] = cached
                    digest: bytes | None = sha256(dumps(values)).digest()
                except (ValueError, TypeError):
                    digest = None
                yield raw[0], raw[1], digest


def _json_fragment(value: Any) -> orjson.Fragment:
    """Return a JSON value's canonical serialisation (keys sorted), ready to embed."""
    return orjson.Fragment(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
