"""A citizen's audit events as a FHIR searchset, for the hospital's patient portal.

``GET /fhir/r4/AuditEvent?patient=urn:oid:1.2.208.176.1.2|<CPR>`` (see docs/audit.md,
"AuditEvent search"). The resources are the forwarder's (:func:`forward.fhir.audit_event_resource`),
so the portal sees exactly what central logging receives.

Paging is by keyset - the position is the last event shown, ``(at, id)`` - never by offset,
so a page costs the same on the last page of a ten-million-row table as on the first. The
position travels in an opaque cursor: signed with :mod:`django.core.signing` (integrity and
expiry), with the CPR number inside *encrypted* (AES-GCM), because a signed value is only
base64 - anyone who sees the URL (a proxy's access log) could read it otherwise.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core import signing
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from indblik.audit import canonical
from indblik.audit.forward import codes, fhir
from indblik.audit.models import AuditEvent
from indblik.core.fhirsearch import SearchError, count_value, date_bounds

DEFAULT_COUNT = 50
MAX_COUNT = 200
CURSOR_MAX_AGE = 3600  # seconds: a next link is for paging through now, not for a bookmark
PATIENT_PARAMETERS = ("patient", "patient.identifier")
PARAMETERS = frozenset({*PATIENT_PARAMETERS, "date", "_count", "_sort", "_cursor", "_format"})
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_SALT = "indblik.audit.search.cursor"


@dataclass(frozen=True)
class Search:
    """One page of a citizen's audit events to fetch: filter, order, size and position."""

    cpr: str
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    newest_first: bool = True
    count: int = DEFAULT_COUNT
    after: tuple[dt.datetime, int] | None = None  # the last event of the previous page

    def audit_details(self) -> dict[str, Any]:
        """Return what the audit row of this search records besides the patient."""
        details: dict[str, Any] = {
            "resource": "AuditEvent",
            "count": self.count,
            "sort": "-date" if self.newest_first else "date",
            "page": "next" if self.after else "first",
        }
        if self.count == 0:  # FHIR's _summary=count: how many, from the start, no events
            details["summary"] = "count"
            del details["page"]
        if self.since:
            details["since"] = canonical.canonical_time(self.since)
        if self.until:
            details["until"] = canonical.canonical_time(self.until)
        return details


def parse(parameters: Mapping[str, Sequence[str]], *, feed_id: int) -> Search:
    """Return the search that ``parameters`` (a query string's lists) ask for; SearchError if bad.

    Either a patient (``patient`` or ``patient.identifier`` = ``urn:oid:1.2.208.176.1.2|CPR``)
    with optional ``date``, ``_count`` and ``_sort``, or a ``_cursor`` from a link we gave
    this feed (optionally with ``_count``).
    """
    unknown = sorted(set(parameters) - PARAMETERS)
    if unknown:
        raise SearchError(f"unknown search parameter {unknown[0]!r}", "not-supported")
    for value in parameters.get("_format", []):
        if value not in JSON_FORMATS:
            raise SearchError("only JSON is served (_format=json)", "not-supported")
    count = count_value(parameters.get("_count", []), MAX_COUNT)
    if "_cursor" in parameters:
        if set(parameters) - {"_cursor", "_count", "_format"}:
            raise SearchError("use the link as it was given: _cursor alone (or with _count)")
        search = decode_cursor(_one(parameters, "_cursor"), feed_id=feed_id)
        return replace(search, count=count) if count is not None else search
    given = [name for name in PATIENT_PARAMETERS if name in parameters]
    if not given:
        raise SearchError(
            f"a patient is required: patient={codes.CPR_SYSTEM}|<CPR number>", "required"
        )
    if len(given) > 1:
        raise SearchError("give the patient once (patient or patient.identifier)")
    search = Search(cpr=_cpr(_one(parameters, given[0])))
    since, until = date_bounds("date", parameters.get("date", []))
    sort = _one(parameters, "_sort") if "_sort" in parameters else "-date"
    if sort not in ("date", "-date"):
        raise SearchError("_sort: date (oldest first) or -date (newest first)", "not-supported")
    return replace(
        search,
        since=since,
        until=until,
        newest_first=sort == "-date",
        count=count if count is not None else DEFAULT_COUNT,
    )


def _one(parameters: Mapping[str, Sequence[str]], name: str) -> str:
    values = parameters[name]
    if len(values) != 1:
        raise SearchError(f"{name} may be given once")
    return values[0]


def _cpr(value: str) -> str:
    system, bar, number = value.partition("|")
    if not bar or system != codes.CPR_SYSTEM:
        raise SearchError(
            f"the patient must be given by CPR identifier: {codes.CPR_SYSTEM}|<CPR number>",
            "not-supported",
        )
    if "," in number:
        raise SearchError("one patient per search")
    digits = number.replace("-", "")
    if not (len(digits) == 10 and digits.isascii() and digits.isdigit()):
        raise SearchError("a CPR number has 10 digits", "value")
    return digits


def total(search: Search) -> int:
    """Return how many events match ``search`` in all (``_count=0``: ``Bundle.total``)."""
    return query(replace(search, after=None)).count()


def page(search: Search) -> tuple[list[AuditEvent], bool]:
    """Return the page's events and whether more follow (one extra row tells)."""
    events = list(query(search)[: search.count + 1])
    return events[: search.count], len(events) > search.count


def query(search: Search) -> QuerySet[AuditEvent]:
    """Return the search's events in page order, from its position on.

    Reads only ``patient_cpr = CPR`` through the ``(patient_cpr, at)`` index, in ``(at, id)``
    order from the position: no OFFSET, so every page costs the same.
    """
    rows = AuditEvent.objects.filter(patient_cpr=search.cpr)
    if search.since is not None:
        rows = rows.filter(at__gte=search.since)
    if search.until is not None:
        rows = rows.filter(at__lt=search.until)
    if search.after is not None:
        at, pk = search.after
        if search.newest_first:
            rows = rows.filter(Q(at__lt=at) | Q(at=at, pk__lt=pk))
        else:
            rows = rows.filter(Q(at__gt=at) | Q(at=at, pk__gt=pk))
    order = ("-at", "-id") if search.newest_first else ("at", "id")
    return rows.order_by(*order)


def bundle(
    search: Search,
    events: list[AuditEvent],
    *,
    more: bool,
    feed_id: int,
    base_url: str,
    source_id: str,
) -> dict[str, Any]:
    """Return the searchset Bundle of one page, with ``self`` and ``next`` as opaque cursors."""
    endpoint = f"{base_url}/fhir/r4/AuditEvent"
    links = [{"relation": "self", "url": _link(endpoint, search, feed_id)}]
    if more and events:
        last = events[-1]
        following = replace(search, after=(last.at, last.pk))
        links.append({"relation": "next", "url": _link(endpoint, following, feed_id)})
    entries = []
    for event in events:
        resource = fhir.audit_event_resource(event, source_id=source_id, base_url=base_url)
        entries.append(
            {
                "fullUrl": f"{endpoint}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": canonical.canonical_time(timezone.now()),
        "link": links,
    }
    if entries:  # FHIR JSON has no empty arrays: no matches, no "entry"
        bundle["entry"] = entries
    return bundle


def _link(endpoint: str, search: Search, feed_id: int) -> str:
    return f"{endpoint}?{urlencode({'_cursor': encode_cursor(search, feed_id=feed_id)})}"


# --- the cursor ------------------------------------------------------------------------------


def encode_cursor(search: Search, *, feed_id: int) -> str:
    """Return ``search`` as an opaque, signed token for this feed (the CPR number encrypted)."""

    def time(value: dt.datetime | None) -> str | None:
        return None if value is None else canonical.canonical_time(value)

    payload = {
        "v": 1,
        "f": feed_id,
        "p": _seal(search.cpr),
        "s": time(search.since),
        "u": time(search.until),
        "d": search.newest_first,
        "n": search.count,
        "a": None if search.after is None else [time(search.after[0]), search.after[1]],
    }
    return signing.dumps(payload, salt=_SALT, compress=True)


def decode_cursor(token: str, *, feed_id: int) -> Search:
    """Return the search a cursor holds; SearchError if forged, expired or another feed's."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=CURSOR_MAX_AGE)
    except signing.SignatureExpired:
        raise SearchError("the link has expired: search again", "expired") from None
    except signing.BadSignature:
        raise SearchError("not a link this server made", "value") from None
    if not isinstance(payload, dict) or payload.get("v") != 1 or payload.get("f") != feed_id:
        # A cursor is the feed's own: another credential's link is refused.
        raise SearchError("not a link this server made for this client", "value")

    def time(value: str | None) -> dt.datetime | None:
        return None if value is None else dt.datetime.fromisoformat(value)

    after = payload["a"]
    return Search(
        cpr=_unseal(payload["p"]),
        since=time(payload["s"]),
        until=time(payload["u"]),
        newest_first=bool(payload["d"]),
        count=int(payload["n"]),
        after=None if after is None else (dt.datetime.fromisoformat(after[0]), int(after[1])),
    )


def _cipher() -> AESGCM:
    # A key of its own, derived from SECRET_KEY: rotating SECRET_KEY ends all open links.
    return AESGCM(salted_hmac(_SALT, "aes-256-gcm", algorithm="sha256").digest())


def _seal(cpr: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = nonce + _cipher().encrypt(nonce, cpr.encode(), None)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _unseal(text: str) -> str:
    try:
        sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cpr = _cipher().decrypt(sealed[:12], sealed[12:], None).decode()
    except (ValueError, InvalidTag):
        raise SearchError("not a link this server made", "value") from None
    return cpr
