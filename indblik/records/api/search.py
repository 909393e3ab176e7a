"""FHIR searches over the local store: strict parsing, one indexed query, keyset paging.

Which parameters a type answers is :mod:`indblik.records.searchparams`; anything else is a
:class:`SearchError` (400) naming the parameter, so that a client never believes it filtered
when it did not. Searches of patient-linked types must name the patient; ``Patient`` is found
by its CPR identifier or id (one at a time); shared types (Organization, Binary…) by ``_id``
only. Nothing here reads across citizens.

Paging is by keyset: the position is the last resource shown, ``(date, pk)``, never an offset,
so the last page costs what the first does. The position travels in an opaque ``_cursor``
together with the search itself, encrypted and authenticated (AES-GCM, a key derived from
SECRET_KEY), bound to the client that asked and valid for an hour: a next link cannot be
edited, read (it may hold a CPR number) or used by another client.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection
from django.db.models import Q, QuerySet, Value
from django.utils.crypto import salted_hmac

from indblik.audit.sanitize import clean_text
from indblik.core.fhirsearch import SearchError, count_value, date_bounds
from indblik.records import fhir, searchparams
from indblik.records.ingest.derive import parse_reference
from indblik.records.models import Patient, Resource
from indblik.records.searchparams import TypeSearch
from indblik.records.validation import is_valid_id

CURSOR_MAX_AGE = 3600  # seconds: a next link is for paging through now, not for a bookmark
MAX_CURSOR_LENGTH = 4096
MAX_VALUES = 100  # comma-separated values of one parameter
MAX_REPEATS = 10  # times one parameter may be given
RESULT_PARAMETERS = frozenset({"_count", "_format", "_pretty"})
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_TOKEN_COLUMNS = frozenset({"category", "code", "status"})
_SALT = "indblik.records.api.search.cursor"
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


@dataclass(frozen=True)
class TokenMatch:
    """One value of a token parameter, as a test on a stored ``system|code`` column."""

    column: str  # category, code or status
    how: str  # "exact", "suffix" (any system) or "prefix" (any code of a system)
    text: str

    def sql(self) -> tuple[str, list[Any]]:
        """Return the test as SQL on the stored column, and its parameters.

        Case-sensitive on every database (FHIR codes are): ``=`` and ``substr``, not LIKE.
        """
        if self.column not in _TOKEN_COLUMNS:
            raise ValueError(f"not a token column: {self.column!r}")
        if self.how == "exact":
            return f"{self.column} = %s", [self.text]
        if self.how == "prefix":
            return f"substr({self.column}, 1, %s) = %s", [len(self.text), self.text]
        # The end of the text: the length test first (SQLite's substr counts a negative
        # start from the end, PostgreSQL's from before the beginning).
        return (
            f"(length({self.column}) >= %s"
            f" AND substr({self.column}, length({self.column}) - %s + 1) = %s)",
            [len(self.text), len(self.text), self.text],
        )


@dataclass(frozen=True)
class Search:
    """One page of one search: the filters, the order, the size and the position."""

    resource_type: str
    parameters: dict[str, tuple[str, ...]] = field(repr=False)  # as given, for the cursor
    patient_id: str | None = None
    cpr: str | None = field(default=None, repr=False)  # Patient?identifier=<CPR system>|<CPR>
    ids: tuple[frozenset[str], ...] = ()  # each set ORed, the sets ANDed
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    tokens: tuple[tuple[TokenMatch, ...], ...] = ()  # each tuple ORed, the tuples ANDed
    newest_first: bool = True
    count: int = searchparams.DEFAULT_COUNT
    includes: tuple[str, ...] = ()
    after: tuple[dt.datetime | None, int] | None = None  # the last row of the previous page

    @property
    def names(self) -> list[str]:
        """Return the names of the parameters given (the audit log keeps these, not values)."""
        return sorted(self.parameters)

    @property
    def kind(self) -> str:
        """Return ``patient``, ``linked`` (a patient's resources) or ``shared``."""
        return kind_of(self.resource_type)

    @property
    def dated(self) -> bool:
        """Tell whether the type is ordered by its clinical date (else by storage order)."""
        spec = searchparams.SEARCHES.get(self.resource_type)
        return spec is not None and spec.date is not None


class StoredRow(NamedTuple):
    """What a search reads of one stored resource (``cpr``: of a Patient row only)."""

    pk: int
    resource_type: str
    fhir_id: str
    version: int
    last_updated: dt.datetime
    date: dt.datetime | None
    body: str
    cpr: str | None = None


def kind_of(resource_type: str) -> str:
    """Return how the API serves a type: ``patient``, ``linked``, ``shared`` or '' (not at all)."""
    if resource_type == "Patient":
        return "patient"
    if resource_type in searchparams.SEARCHES:
        return "linked"
    if resource_type in searchparams.SHARED_TYPES:
        return "shared"
    return ""


def accepted_parameters(resource_type: str) -> tuple[str, ...]:
    """Return the search parameters a type answers (besides ``_count``, ``_format``, …)."""
    kind = kind_of(resource_type)
    if kind == "patient":
        return ("identifier", "_id", "_revinclude")
    if kind == "shared":
        return ("_id",)
    if not kind:
        return ()
    spec = searchparams.SEARCHES[resource_type]
    names = [*spec.patient, *((spec.date,) if spec.date else ()), *spec.tokens, "_id"]
    if spec.sort_values:
        names.append("_sort")
    if spec.includes:
        names.append("_include")
    return tuple(names)


# --- parsing ----------------------------------------------------------------------------------


def parse(parameters: Mapping[str, Sequence[str]], *, resource_type: str, client_id: int) -> Search:
    """Return the search ``parameters`` (a query string's lists) ask for; SearchError if bad.

    ``client_id`` (the feed) binds a ``_cursor``: a next link made for one client is refused
    to another.
    """
    for name, values in parameters.items():
        if len(values) > MAX_REPEATS:
            raise SearchError(f"{_named(name)} is given too often")
        if any("\x00" in value for value in values):
            # PostgreSQL cannot even compare text with a NUL in it: refuse it here, not with a 500.
            raise SearchError(f"{_named(name)}: a NUL character", "value")
    for value in parameters.get("_format", ()):
        if value not in JSON_FORMATS:
            raise SearchError("only JSON is served (_format=json)", "not-supported")
    for value in parameters.get("_pretty", ()):
        if value not in ("true", "false"):
            raise SearchError("_pretty is true or false")
    count = count_value(parameters.get("_count", ()), searchparams.MAX_COUNT)
    if "_cursor" in parameters:
        if set(parameters) - RESULT_PARAMETERS - {"_cursor"}:
            raise SearchError("use the link as it was given: _cursor alone (or with _count)")
        cursor = decode_cursor(_one(parameters, "_cursor"), client_id=client_id)
        if cursor.resource_type != resource_type:
            raise SearchError("this link is for another resource type", "value")
        return cursor if count is None else replace(cursor, count=count)
    search = _parse_fresh(parameters, resource_type)
    return search if count is None else replace(search, count=count)


def _parse_fresh(parameters: Mapping[str, Sequence[str]], resource_type: str) -> Search:
    if not kind_of(resource_type):
        raise SearchError(f"{resource_type} is not served", "not-supported")
    accepted = accepted_parameters(resource_type)
    for name in parameters:
        if name not in accepted and name not in RESULT_PARAMETERS:
            raise SearchError(
                f"the search parameter {_named(name)} is not supported for {resource_type} "
                f"(supported: {', '.join(accepted)})",
                "not-supported",
            )
    given = {name: tuple(values) for name, values in parameters.items()}
    search = Search(resource_type, given, ids=_ids(parameters.get("_id", ())))
    kind = search.kind
    if kind == "patient":
        return _patient_search(search, parameters)
    if kind == "shared":
        if not search.ids:
            raise SearchError(f"a search of {resource_type} needs _id", "required")
        return search
    spec = searchparams.SEARCHES[resource_type]
    search = replace(search, patient_id=_patient(parameters, spec))
    if spec.date and spec.date in parameters:
        since, until = date_bounds(spec.date, parameters[spec.date])
        search = replace(search, since=since, until=until)
    tokens = []
    for name, column in spec.tokens.items():
        for value in parameters.get(name, ()):
            tokens.append(tuple(_token(name, column, item) for item in _split(name, value)))
    search = replace(search, tokens=tuple(tokens))
    if "_sort" in parameters:
        sort = _one(parameters, "_sort")
        if sort not in spec.sort_values:
            raise SearchError(f"_sort: {' or '.join(spec.sort_values)}", "not-supported")
        search = replace(search, newest_first=sort.startswith("-"))
    includes: list[str] = []
    for value in parameters.get("_include", ()):
        if value not in spec.includes:
            raise SearchError(
                f"_include: only {', '.join(spec.includes)} for {resource_type}", "not-supported"
            )
        if value not in includes:
            includes.append(value)
    return replace(search, includes=tuple(includes))


def _patient_search(search: Search, parameters: Mapping[str, Sequence[str]]) -> Search:
    if not parameters.get("identifier") and not search.ids:
        raise SearchError(
            f"a Patient search needs identifier={fhir.CPR_SYSTEM}|<CPR number> or _id",
            "required",
        )
    if any(len(ids) > 1 for ids in search.ids):
        raise SearchError("one patient per search (_id)")
    cpr = None
    if "identifier" in parameters:
        system, bar, value = _one(parameters, "identifier").partition("|")
        if not bar or system != fhir.CPR_SYSTEM:
            raise SearchError(
                f"identifier: only the CPR number, as {fhir.CPR_SYSTEM}|<CPR number>",
                "not-supported",
            )
        if "," in value:
            raise SearchError("one patient per search (identifier)")
        cpr = fhir.normalise_cpr(value)
        if cpr is None:
            raise SearchError("identifier: not a CPR number", "value")
    revincludes: list[str] = []
    for value in parameters.get("_revinclude", ()):
        if value not in searchparams.PATIENT_REVINCLUDES:
            raise SearchError(
                f"_revinclude: only {', '.join(searchparams.PATIENT_REVINCLUDES)} for Patient",
                "not-supported",
            )
        if value not in revincludes:
            revincludes.append(value)
    return replace(search, cpr=cpr, includes=tuple(revincludes))


def _patient(parameters: Mapping[str, Sequence[str]], spec: TypeSearch) -> str:
    found: set[str] = set()
    for name in spec.patient:
        for value in parameters.get(name, ()):
            if "," in value:
                raise SearchError(f"{name}: one patient per search")
            reference = value.strip()
            parsed = parse_reference(reference) if "/" in reference else ("Patient", reference)
            if parsed is None or parsed[0] != "Patient" or not is_valid_id(parsed[1]):
                raise SearchError(f"{name}: Patient/<id> or <id> of a patient", "value")
            found.add(parsed[1])
    if not found:
        raise SearchError(
            f"a search of this type needs the patient: {' or '.join(spec.patient)}=Patient/<id>",
            "required",
        )
    if len(found) > 1:
        raise SearchError("the patient parameters name different patients")
    return found.pop()


def _ids(values: Sequence[str]) -> tuple[frozenset[str], ...]:
    sets = []
    for value in values:
        ids = frozenset(_split("_id", value))
        if not all(is_valid_id(item) for item in ids):
            raise SearchError("_id: FHIR ids only", "value")
        sets.append(ids)
    return tuple(sets)


def _token(name: str, column: str, value: str) -> TokenMatch:
    system, bar, code = value.partition("|")
    if column == "status":
        # Status codes come from the one value set FHIR binds (required): the column keeps
        # the code alone, so a system given with it is not compared.
        if not (code if bar else system):
            raise SearchError(f"{name}: a status code is needed", "value")
        return TokenMatch(column, "exact", code if bar else system)
    if not bar:
        return TokenMatch(column, "suffix", f"|{system}")
    if not code:
        if not system:
            raise SearchError(f"{name}: a system, a code or both", "value")
        return TokenMatch(column, "prefix", f"{system}|")
    return TokenMatch(column, "exact", value)


def _split(name: str, value: str) -> list[str]:
    """Return the comma-separated values of a parameter (``\\,`` is a literal comma)."""
    items = [item.replace("\\,", ",") for item in _UNESCAPED_COMMA.split(value)]
    if len(items) > MAX_VALUES:
        raise SearchError(f"{name}: at most {MAX_VALUES} values")
    if any(not item for item in items):
        raise SearchError(f"{name}: an empty value", "value")
    return items


def _one(parameters: Mapping[str, Sequence[str]], name: str) -> str:
    values = parameters[name]
    if len(values) != 1:
        raise SearchError(f"{name} may be given once")
    return values[0]


def _named(name: str) -> str:
    return repr(clean_text(name, 60))


# --- running ----------------------------------------------------------------------------------

_COLUMNS = ("pk", "resource_type", "fhir_id", "version", "last_updated", "date", "body")
_SQL_COLUMNS = ("id", "resource_type", "fhir_id", "version", "last_updated", "date", "body")
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def patient_of(
    search: Search, memo: dict[str, tuple[int, str] | None] | None = None
) -> tuple[int, str] | None:
    """Return the primary key and CPR number of the searched patient (None: not stored).

    ``memo``: the patients already looked up in this request (a batch's entries usually all
    name the same one).
    """
    key = str(search.patient_id)
    if memo is not None and key in memo:
        return memo[key]
    row = (
        Patient.objects.filter(fhir_id=search.patient_id, deleted=False)
        .values_list("pk", "cpr")
        .first()
    )
    found = None if row is None else (row[0], row[1] or "")
    if memo is not None:
        memo[key] = found
    return found


def page(search: Search, *, patient_pk: int | None) -> tuple[list[StoredRow], bool]:
    """Return the page's rows in order and whether more follow (one extra row tells)."""
    if search.kind == "patient":
        rows = [StoredRow(*row) for row in _patients(search)[: search.count + 1]]
        return rows[: search.count], len(rows) > search.count
    return pages([(search, patient_pk)])[0]


def pages(
    searches: Sequence[tuple[Search, int | None]],
) -> list[tuple[list[StoredRow], bool]]:
    """Return the pages of several searches of stored resources, read in one statement.

    Each search is one indexed, limited ``SELECT`` (:func:`resource_sql`); several are joined
    with ``UNION ALL``, so a batch's dozen searches of one patient cost one round trip and no
    ORM work. ``Patient`` searches are not taken here (:func:`page`).
    """
    if not searches:
        return []
    parts: list[str] = []
    params: list[Any] = []
    for position, (search, patient_pk) in enumerate(searches):
        sql, part_params = resource_sql(search, patient_pk)
        parts.append(f"SELECT %s AS k, part{position}.* FROM ({sql}) AS part{position}")  # noqa: S608 - values are params
        params.extend([position, *part_params])
    found: list[list[StoredRow]] = [[] for _ in searches]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for k, pk, rtype, fhir_id, version, last_updated, date, body in cursor.fetchall():
            found[k].append(
                StoredRow(pk, rtype, fhir_id, version, _instant(last_updated), _instant(date), body)
            )
    answers = []
    for (search, _patient_pk), rows in zip(searches, found, strict=True):
        # UNION ALL keeps no order of its own: put each page back in its search's order.
        rows.sort(key=_order_key(search), reverse=search.dated and search.newest_first)
        answers.append((rows[: search.count], len(rows) > search.count))
    return answers


def resource_sql(
    search: Search, patient_pk: int | None, *, paged: bool = True
) -> tuple[str, list[Any]]:
    """Return one page of a search of stored resources as SQL and its parameters
    (``paged=False``: the number of its matches in all).

    A patient's resources are read through the ``(patient, resource_type, -date)`` index (the
    cost grows with that record, never with the store); shared types through their unique key.
    Fixed fragments (column names) only: every value is a parameter.
    """
    if search.kind == "patient":
        raise ValueError("a Patient search is not a search of stored resources")
    adapt = connection.ops.adapt_datetimefield_value
    where = ["resource_type = %s", "NOT deleted"]
    params: list[Any] = [search.resource_type]
    if search.kind == "linked":
        if patient_pk is None:
            raise ValueError("a search of a patient's resources needs the patient")
        where.append("patient_id = %s")
        params.append(patient_pk)
    for ids in search.ids:
        where.append(f"fhir_id IN ({', '.join(['%s'] * len(ids))})")
        params.extend(sorted(ids))
    if search.since is not None:
        where.append("date >= %s")
        params.append(adapt(search.since))
    if search.until is not None:
        where.append("date < %s")
        params.append(adapt(search.until))
    for matches in search.tokens:
        tests = []
        for match in matches:
            test, test_params = match.sql()
            tests.append(test)
            params.extend(test_params)
        where.append(f"({' OR '.join(tests)})")
    if not search.dated:
        if search.after is not None:
            where.append("id > %s")
            params.append(search.after[1])
        order = "id ASC"
    else:
        if search.after is not None:
            test, test_params = _after_sql(search)
            where.append(test)
            params.extend(
                adapt(value) if isinstance(value, dt.datetime) else value for value in test_params
            )
        order = (
            "date DESC NULLS LAST, id DESC"
            if search.newest_first
            else "date ASC NULLS LAST, id ASC"
        )
    table = connection.ops.quote_name(Resource._meta.db_table)
    if not paged:
        return f"SELECT count(*) FROM {table} WHERE {' AND '.join(where)}", params  # noqa: S608
    sql = (
        f"SELECT {', '.join(_SQL_COLUMNS)} FROM {table} "  # noqa: S608 - values are params
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
    )
    return sql, [*params, search.count + 1]


def total(search: Search, *, patient_pk: int | None) -> int:
    """Return how many resources match ``search`` in all (FHIR ``_count=0``: ``Bundle.total``).

    Counted through the same indexes as a page (one patient's rows of one type), from the
    start whatever the page's position. Not for Patient searches (at most one citizen each).
    """
    sql, params = resource_sql(replace(search, after=None), patient_pk, paged=False)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _after_sql(search: Search) -> tuple[str, list[Any]]:
    """The rows that come after the position, undated rows last in either order."""
    assert search.after is not None
    date, pk = search.after
    if date is None:
        return (
            "(date IS NULL AND id < %s)" if search.newest_first else "(date IS NULL AND id > %s)"
        ), [pk]
    if search.newest_first:
        return "(date < %s OR (date = %s AND id < %s) OR date IS NULL)", [date, date, pk]
    return "(date > %s OR (date = %s AND id > %s) OR date IS NULL)", [date, date, pk]


def _order_key(search: Search) -> Callable[[StoredRow], tuple[Any, ...]]:
    """The sort key of a page's order (``reverse`` when newest first): undated rows last."""
    if not search.dated:
        return lambda row: (row.pk,)
    if search.newest_first:
        return lambda row: (row.date is not None, row.date or _EARLIEST, row.pk)
    return lambda row: (row.date is None, row.date or _EARLIEST, row.pk)


def _instant(value: Any) -> Any:
    """A timestamp column as the ORM would return it (SQLite hands back text)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    convert = connection.ops.convert_datetimefield_value  # type: ignore[attr-defined]
    return convert(value, None, connection)


def _patients(search: Search) -> QuerySet[Any, tuple[Any, ...]]:
    """Return a Patient search (by CPR number or id, in storage order) from its position on."""
    patients = Patient.objects.filter(deleted=False)
    if search.cpr is not None:
        patients = patients.filter(cpr=search.cpr)
    for ids in search.ids:
        patients = patients.filter(fhir_id__in=ids)
    if search.after is not None:
        patients = patients.filter(pk__gt=search.after[1])
    return patients.order_by("pk").values_list(
        "pk",
        Value("Patient"),
        "fhir_id",
        "version",
        "last_updated",
        Value(None, output_field=Patient._meta.get_field("last_updated")),
        "body",
        "cpr",
    )


def included(
    search: Search,
    rows: Sequence[StoredRow],
    *,
    patient_pk: int | None,
    allowed: Callable[[str], bool],
) -> list[StoredRow]:
    """Return the resources the page's ``_include`` s point at, in one query.

    Only literal references ``Type/id`` are followed, only to types the API serves and the
    client may read (``allowed``), and only to resources of the same patient or shared ones.
    """
    if search.kind == "patient":
        return _revincluded(search, rows, allowed)
    wanted: dict[str, set[str]] = {}
    shown = {(row.resource_type, row.fhir_id) for row in rows}
    for include in search.includes:
        element = searchparams.INCLUDE_PATHS[include]
        for row in rows:
            for reference in _references(orjson.loads(row.body).get(element)):
                parsed = parse_reference(reference)
                if parsed is None or parsed in shown or not kind_of(parsed[0]):
                    continue
                if allowed(parsed[0]):
                    wanted.setdefault(parsed[0], set()).add(parsed[1])
    if not wanted:
        return []
    condition = Q()
    for rtype, ids in sorted(wanted.items()):
        condition |= Q(resource_type=rtype, fhir_id__in=sorted(ids))
    same_patient = Q(patient__isnull=True)
    if patient_pk is not None:
        same_patient |= Q(patient_id=patient_pk)
    found = Resource.objects.filter(condition, same_patient, deleted=False)
    return [StoredRow(*row) for row in found.order_by("pk").values_list(*_COLUMNS)]


def _revincluded(
    search: Search, rows: Sequence[StoredRow], allowed: Callable[[str], bool]
) -> list[StoredRow]:
    """The resources of the found patients that point back at them (``Consent:patient``)."""
    types = [value.split(":", 1)[0] for value in search.includes]
    types = [rtype for rtype in types if allowed(rtype)]
    if not types or not rows:
        return []
    found = Resource.objects.filter(
        patient_id__in=[row.pk for row in rows], resource_type__in=types, deleted=False
    )
    return [StoredRow(*row) for row in found.order_by("pk").values_list(*_COLUMNS)]


def _references(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [
        item["reference"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("reference"), str)
    ]


def position(search: Search, last: StoredRow) -> tuple[dt.datetime | None, int]:
    """Return the keyset position after ``last`` (its date only where the type is dated)."""
    return (last.date if search.dated else None, last.pk)


# --- the cursor -------------------------------------------------------------------------------


def encode_cursor(search: Search, *, client_id: int) -> str:
    """Return ``search`` (with its position) as an opaque token for this client.

    The search's own parameters travel inside, compressed and encrypted with AES-GCM under a
    key derived from SECRET_KEY: unreadable (a CPR number may be among them), unforgeable,
    and refused after :data:`CURSOR_MAX_AGE` or to another client.
    """
    after = None
    if search.after is not None:
        date, pk = search.after
        after = [None if date is None else date.isoformat(), pk]
    payload = {
        "v": 1,
        "c": client_id,
        "t": search.resource_type,
        "q": {name: list(values) for name, values in search.parameters.items()},
        "n": search.count,
        "a": after,
        "i": int(time.time()),
    }
    nonce = secrets.token_bytes(12)
    sealed = nonce + _cipher().encrypt(nonce, zlib.compress(orjson.dumps(payload)), None)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def decode_cursor(token: str, *, client_id: int) -> Search:
    """Return the search a cursor holds; SearchError if forged, expired or another client's."""
    if len(token) > MAX_CURSOR_LENGTH:
        raise SearchError("not a link this server made", "value")
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = _cipher().decrypt(sealed[:12], sealed[12:], None)
        payload = orjson.loads(zlib.decompress(plain))
    except (ValueError, InvalidTag, zlib.error, orjson.JSONDecodeError):
        raise SearchError("not a link this server made", "value") from None
    if not isinstance(payload, dict) or payload.get("v") != 1 or payload.get("c") != client_id:
        # A cursor is its client's own: another credential's link is refused.
        raise SearchError("not a link this server made for this client", "value")
    if int(payload["i"]) + CURSOR_MAX_AGE < time.time():
        raise SearchError("the link has expired: search again", "expired")
    search = _parse_fresh(payload["q"], payload["t"])
    after = payload["a"]
    return replace(
        search,
        count=int(payload["n"]),
        after=None
        if after is None
        else (None if after[0] is None else dt.datetime.fromisoformat(after[0]), int(after[1])),
    )


def _cipher() -> AESGCM:
    # A key of its own, derived from SECRET_KEY: rotating SECRET_KEY ends all open links.
    return AESGCM(salted_hmac(_SALT, "aes-256-gcm", algorithm="sha256").digest())
