"""A batch of reads in one request: ``POST /fhir/r4/`` with a ``batch`` Bundle of GETs.

A client of scope ``record-read`` (another Indblik's live source) sends the searches of one
chart page together: one round trip, one authentication and one database commit instead of a
dozen. Each entry is answered exactly as the same GET would be (the same parsing, the same
audit row, written before the answer exists) and the answers come back in a ``batch-response``
Bundle, in order, each with its status. Only GETs of this API (search and read): anything else
in the Bundle refuses the whole batch, as does an audit row that cannot be written (nothing is
returned then). The same URL with an ingest credential still stores data (``records.views``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict

from indblik.audit.writer import MAX_RESOURCE_IDS
from indblik.records.api import views as api
from indblik.records.api.search import Search
from indblik.records.models import Feed
from indblik.records.validation import is_valid_id
from indblik.records.views import feed_api, outcome_response

MAX_ENTRIES = 50
MAX_BYTES = 256 * 1024
STATUS_TEXT = {
    200: "200 OK",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    410: "410 Gone",
}


class _Unlogged(Exception):
    """An entry's audit row could not be written: the whole batch answers 503."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


@feed_api("POST", scope=Feed.Scope.RECORD_READ)
def batch(request: HttpRequest, feed: Feed) -> HttpResponse:
    """Answer a batch Bundle of GET searches and reads (``POST /fhir/r4/``)."""
    if (request.content_type or "") not in ("application/fhir+json", "application/json"):
        return outcome_response(415, "send a batch Bundle as application/fhir+json", "structure")
    if len(request.body) > MAX_BYTES:
        return outcome_response(413, f"a batch of reads is at most {MAX_BYTES} bytes", "too-long")
    try:
        bundle = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return outcome_response(400, "the body is not JSON", "structure")
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if (
        not isinstance(bundle, dict)
        or bundle.get("resourceType") != "Bundle"
        or bundle.get("type") != "batch"
        or not isinstance(entries, list)
    ):
        return outcome_response(400, "send a Bundle of type batch with entries", "structure")
    if not 1 <= len(entries) <= MAX_ENTRIES:
        return outcome_response(400, f"a batch holds 1 to {MAX_ENTRIES} entries", "too-costly")
    requests = []
    for index, entry in enumerate(entries):
        target = _target(entry)
        if target is None:
            problem = f"entry {index}: only GET of a search or read of this API is allowed"
            return outcome_response(400, problem, "not-supported")
        requests.append(target)
    answers: list[bytes] = []
    request.indblik_patients = {}  # type: ignore[attr-defined]  # looked up once per batch
    reads: list[api.BatchRead] = []
    request.indblik_batch_reads = reads  # type: ignore[attr-defined]  # audited together
    # Each search parsed and checked once; their pages read in one statement (a live
    # source's page: a dozen of one patient's).
    prepared = [
        api.prepare_search(request, feed, rtype, query) if fhir_id is None else None
        for rtype, fhir_id, query in requests
    ]
    api.read_ahead(request, [wanted for wanted in prepared if isinstance(wanted, Search)])
    try:
        # One transaction: the entries' audit rows are committed together, once.
        with transaction.atomic():
            for (resource_type, fhir_id, query), wanted in zip(requests, prepared, strict=True):
                if isinstance(wanted, Search):
                    response = api.answer_search(request, feed, wanted)
                elif fhir_id is None:
                    assert wanted is not None
                    response = wanted  # the search's refusal (400, 403, 404), as the GET's
                else:
                    response = api.read_resource(request, feed, resource_type, fhir_id, query)
                if response.status_code == 503:
                    raise _Unlogged(response)
                status = STATUS_TEXT.get(response.status_code, str(response.status_code))
                # The entry's answer is already FHIR JSON: embed its bytes as they are.
                answers.append(
                    b'{"resource":'
                    + response.content
                    + b',"response":'
                    + orjson.dumps({"status": status})
                    + b"}"
                )
            # Before any answer exists: one audit row per citizen read, naming every entry.
            # (An audit row names at most MAX_RESOURCE_IDS resources: more take more rows.)
            for cpr, entries in _by_citizen(reads).items():
                ids = [rid for entry in entries for rid in entry.resource_ids]
                summary = _summary(entries)
                for start in range(0, max(len(ids), 1), MAX_RESOURCE_IDS):
                    part = ids[start : start + MAX_RESOURCE_IDS]
                    details = summary if start == 0 else {"interaction": "batch", "continued": True}
                    unavailable = api.write_audit(
                        request, feed, cpr=cpr, section="batch", resource_ids=part, details=details
                    )
                    if unavailable is not None:
                        raise _Unlogged(unavailable)
    except _Unlogged as unlogged:
        return unlogged.response
    body = (
        b'{"resourceType":"Bundle","type":"batch-response","entry":[' + b",".join(answers) + b"]}"
    )
    response = HttpResponse(body, status=200, content_type="application/fhir+json")
    response["Cache-Control"] = "no-store"
    return response


def _summary(entries: list[api.BatchRead]) -> dict[str, Any]:
    """What the batch's entries did, small enough for an audit row (the ids are listed apart)."""
    interactions: dict[str, int] = {}
    types: dict[str, int] = {}
    for entry in entries:
        kind = str(entry.details.get("interaction", "read"))
        interactions[kind] = interactions.get(kind, 0) + 1
        types[entry.section] = types.get(entry.section, 0) + 1
    summary: dict[str, Any] = {"interaction": "batch", "entries": len(entries)}
    summary.update(interactions)
    summary["types"] = types
    # A count (_count=0) names no resource: its number is what the client learned.
    counted: dict[str, int] = {}
    for entry in entries:
        if entry.details.get("summary") == "count":
            counted[entry.section] = counted.get(entry.section, 0) + int(entry.details["matches"])
    if counted:
        summary["counted"] = counted
    # "not found" for the row only when no entry of it found the citizen (the row then names
    # nothing of a record); entries that did not, beside ones that did, are counted by type.
    missed: dict[str, int] = {}
    for entry in entries:
        if entry.details.get("patient") == "not found":
            missed[entry.section] = missed.get(entry.section, 0) + 1
    if missed and sum(missed.values()) == len(entries):
        summary["patient"] = "not found"
    elif missed:
        summary["not_found"] = missed
    return summary


def _by_citizen(reads: list[api.BatchRead]) -> dict[str, list[api.BatchRead]]:
    grouped: dict[str, list[api.BatchRead]] = {}
    for read in reads:
        grouped.setdefault(read.cpr, []).append(read)
    return grouped


def _target(entry: Any) -> tuple[str, str | None, QueryDict] | None:
    """``(type, id or None, parameters)`` of a GET entry's relative URL, or None."""
    request = entry.get("request") if isinstance(entry, dict) else None
    if not isinstance(request, dict) or request.get("method") != "GET":
        return None
    url = request.get("url")
    if not isinstance(url, str) or not url or len(url) > 4096:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or parts.fragment:
        return None  # relative to this API only
    segments = parts.path.strip("/").split("/")
    if len(segments) not in (1, 2) or not segments[0] or segments[-1] == "_search":
        return None
    query = QueryDict(mutable=True)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query.appendlist(name, value)
    fhir_id = segments[1] if len(segments) == 2 else None
    if fhir_id is not None and not is_valid_id(fhir_id):
        return None
    return segments[0], fhir_id, query
