"""The read API's views: read, search, metadata, SMART discovery and the token endpoint.

``GET /fhir/r4/<Type>/<id>``, ``GET /fhir/r4/<Type>?…`` and ``POST /fhir/r4/<Type>/_search``
answer feeds of scope ``record-read`` (an access token from ``POST /fhir/r4/auth/token``).
Every read is audited before data leaves: the rows are found, the audit row naming them is
written, and only then is the answer built; if the audit write fails the answer is a 503 that
holds nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple
from urllib.parse import urlencode

import orjson
from django.conf import settings
from django.db.models import QuerySet, Value
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from indblik import audit
from indblik.audit import Action, Actor
from indblik.audit.errors import AuditWriteError
from indblik.audit.middleware import RETRY_AFTER_SECONDS
from indblik.audit.net import client_certificate_allows
from indblik.records import searchparams, smart
from indblik.records.api import capability
from indblik.records.api.search import (
    JSON_FORMATS,
    RESULT_PARAMETERS,
    Search,
    SearchError,
    StoredRow,
    encode_cursor,
    included,
    kind_of,
    page,
    pages,
    parse,
    patient_of,
    position,
    total,
)
from indblik.records.models import Feed, FeedCredential, Patient, Resource
from indblik.records.validation import is_resource_type, is_valid_id
from indblik.records.views import feed_api, fhir_response, outcome_response

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
MAX_TOKEN_REQUEST_BYTES = 32 * 1024
PUBLIC_CACHE = "public, max-age=300"


# --- read and search --------------------------------------------------------------------------


@feed_api("GET", scope=Feed.Scope.RECORD_READ)
def read(request: HttpRequest, feed: Feed, resource_type: str, fhir_id: str) -> HttpResponse:
    """Return one resource (``GET /fhir/r4/<Type>/<id>``): 404 unknown, 410 deleted."""
    return read_resource(request, feed, resource_type, fhir_id, request.GET)


def read_resource(
    request: HttpRequest, feed: Feed, resource_type: str, fhir_id: str, parameters: QueryDict
) -> HttpResponse:
    """Answer a read for an authenticated ``record-read`` feed (the view, or a batch entry)."""
    refused = _unserved(resource_type) or _uncovered(request, resource_type)
    if refused is not None:
        return refused
    if set(parameters) - RESULT_PARAMETERS:
        return outcome_response(400, "a read takes no parameters but _format", "not-supported")
    if any(value not in JSON_FORMATS for value in parameters.getlist("_format")):
        return outcome_response(400, "only JSON is served (_format=json)", "not-supported")
    if not is_valid_id(fhir_id):
        return outcome_response(404, f"no {resource_type} with that id", "not-found")
    rows: QuerySet[Any, tuple[Any, ...]]
    if kind_of(resource_type) == "patient":
        rows = Patient.objects.filter(fhir_id=fhir_id).values_list(
            "version", "last_updated", "deleted", "body", "cpr", Value(False)
        )
    else:
        # A resource whose patient was deleted went with them (a shared one has no patient).
        rows = Resource.objects.filter(resource_type=resource_type, fhir_id=fhir_id).values_list(
            "version", "last_updated", "deleted", "body", "patient__cpr", "patient__deleted"
        )
    found = rows.first()
    if found is None:
        return outcome_response(404, f"no {resource_type} with that id", "not-found")
    version, last_updated, deleted, body, cpr, patient_deleted = found
    if deleted or patient_deleted:
        return outcome_response(410, f"this {resource_type} was deleted", "deleted")
    unavailable = _audit(
        request,
        feed,
        cpr=cpr or "",
        section=resource_type,
        resource_ids=[f"{resource_type}/{fhir_id}"],
        details={"interaction": "read"},
    )
    if unavailable is not None:
        return unavailable
    resource = served(body, version=version, last_updated=last_updated)
    return fhir_response(
        resource,
        200,
        {"ETag": f'W/"{version}"', "Last-Modified": http_date(last_updated.timestamp())},
    )


@feed_api("GET", scope=Feed.Scope.RECORD_READ)
def search_type(request: HttpRequest, feed: Feed, resource_type: str) -> HttpResponse:
    """Search one type (``GET /fhir/r4/<Type>?…``)."""
    return search(request, feed, resource_type, request.GET)


@feed_api("POST", scope=Feed.Scope.RECORD_READ)
def search_post(request: HttpRequest, feed: Feed, resource_type: str) -> HttpResponse:
    """The same search with the parameters in a form body (``POST /fhir/r4/<Type>/_search``)."""
    if request.content_type != FORM:
        return outcome_response(415, f"send the parameters as {FORM}", "not-supported")
    # FHIR: parameters in the URL and in the body count together.
    parameters = request.GET.copy()
    for name, values in request.POST.lists():
        parameters.setlist(name, parameters.getlist(name) + values)
    return search(request, feed, resource_type, parameters)


def search(
    request: HttpRequest, feed: Feed, resource_type: str, parameters: QueryDict
) -> HttpResponse:
    """Answer a search for an authenticated ``record-read`` feed (the views)."""
    wanted = prepare_search(request, feed, resource_type, parameters)
    if isinstance(wanted, HttpResponse):
        return wanted
    return answer_search(request, feed, wanted)


def prepare_search(
    request: HttpRequest, feed: Feed, resource_type: str, parameters: QueryDict
) -> Search | HttpResponse:
    """Return the search the parameters ask for, or the refusal to answer instead (400/403/404).

    Reads nothing: a batch prepares all its searches first, then reads their pages together.
    """
    refused = _unserved(resource_type) or _uncovered(request, resource_type)
    if refused is not None:
        return refused
    try:
        wanted = parse(dict(parameters.lists()), resource_type=resource_type, client_id=feed.pk)
    except SearchError as exc:
        return outcome_response(400, str(exc), exc.code)
    credential = _credential(request)
    for value in wanted.includes:
        target = searchparams.INCLUDED_TYPES.get(value, "")
        if credential is None or not credential.covers(target):
            # Refused, not left out: the client must never believe it has what it does not.
            return outcome_response(
                403, f"{value}: this token does not cover {target or 'that type'}", "forbidden"
            )
    return wanted


def answer_search(request: HttpRequest, feed: Feed, wanted: Search) -> HttpResponse:
    """Read, audit and answer a prepared search (the row is written before the answer exists)."""
    resource_type = wanted.resource_type
    credential = _credential(request)
    details: dict[str, Any] = {
        "interaction": "search",
        "parameters": wanted.names,
        "page": "next" if wanted.after else "first",
    }
    cpr = wanted.cpr or ""
    patient_pk: int | None = None
    rows: list[StoredRow] = []
    more = False
    if wanted.kind == "linked":
        patient = patient_of(wanted, getattr(request, "indblik_patients", None))
        if patient is None:
            details["patient"] = "not found"
        else:
            patient_pk, cpr = patient
    if wanted.count == 0:
        return _answer_total(request, feed, wanted, details, cpr=cpr, patient_pk=patient_pk)
    if wanted.kind != "linked" or patient_pk is not None:
        rows, more = _read_page(request, wanted, patient_pk)
    if wanted.kind == "patient":
        if rows:
            cpr = rows[0].cpr or cpr
        else:
            details["patient"] = "not found"  # audited as an attempt, with the CPR searched
    extra = (
        included(
            wanted,
            rows,
            patient_pk=patient_pk,
            allowed=credential.covers if credential is not None else lambda _type: False,
        )
        if wanted.includes and rows
        else []
    )
    details.update(matches=len(rows), included=len(extra), more=more)
    # Write the audit row before the answer exists: fail closed.
    unavailable = _audit(
        request,
        feed,
        cpr=cpr,
        section=resource_type,
        resource_ids=[f"{row.resource_type}/{row.fhir_id}" for row in (*rows, *extra)],
        details=details,
    )
    if unavailable is not None:
        return unavailable
    return fhir_response(_bundle(wanted, rows, extra, more=more, client_id=feed.pk), 200)


def _answer_total(
    request: HttpRequest,
    feed: Feed,
    wanted: Search,
    details: dict[str, Any],
    *,
    cpr: str,
    patient_pk: int | None,
) -> HttpResponse:
    """``_count=0``: how many match (``Bundle.total``) and no entries; audited like a page."""
    found = 0
    if wanted.kind == "patient":
        # At most one citizen per number or id: read them, so the audit row names whom.
        rows = page(replace(wanted, count=searchparams.MAX_COUNT, after=None), patient_pk=None)[0]
        found = len(rows)
        if rows:
            cpr = rows[0].cpr or cpr
        else:
            details["patient"] = "not found"
    elif wanted.kind != "linked" or patient_pk is not None:
        found = total(wanted, patient_pk=patient_pk)
    details.pop("page", None)  # counted from the start, whatever link it came by
    details.update(summary="count", matches=found)
    unavailable = _audit(
        request, feed, cpr=cpr, section=wanted.resource_type, resource_ids=[], details=details
    )
    if unavailable is not None:
        return unavailable
    bundle = _bundle(wanted, [], [], more=False, client_id=feed.pk)
    bundle["total"] = found
    return fhir_response(bundle, 200)


def _read_page(
    request: HttpRequest, wanted: Search, patient_pk: int | None
) -> tuple[list[StoredRow], bool]:
    """Return the search's page: read ahead with its batch's other searches, or now."""
    ahead: list[tuple[Search, int | None, tuple[list[StoredRow], bool]]] = getattr(
        request, "indblik_pages", []
    )
    for search, pk, found in ahead:
        if pk == patient_pk and search == wanted:
            return found
    return page(wanted, patient_pk=patient_pk)


def read_ahead(request: HttpRequest, searches: Sequence[Search]) -> None:
    """Read the pages of a batch's prepared searches of patients' resources in one statement.

    Only what the entries will answer (:func:`prepare_search` has checked each): searches of a
    stored patient. Each entry is still answered (and audited) by :func:`answer_search`, which
    takes its page from here; nothing read ahead leaves the server unless an entry answers with
    it.
    """
    memo = getattr(request, "indblik_patients", None)
    wanted: list[tuple[Search, int | None]] = []
    for search in searches:
        if search.kind != "linked" or search.count == 0:  # a count reads no page
            continue
        patient = patient_of(search, memo)
        if patient is not None and (search, patient[0]) not in wanted:
            wanted.append((search, patient[0]))
    if len(wanted) > 1:
        found = pages(wanted)
        request.indblik_pages = [  # type: ignore[attr-defined]
            (search, pk, page) for (search, pk), page in zip(wanted, found, strict=True)
        ]


def _credential(request: HttpRequest) -> FeedCredential | None:
    """Return the credential ``feed_api`` authenticated the request with."""
    credential: FeedCredential | None = getattr(request, "indblik_feed_credential", None)
    return credential


def _uncovered(request: HttpRequest, resource_type: str) -> HttpResponse | None:
    # feed_api checked the URL's type already; a batch entry names its own type.
    credential = _credential(request)
    if credential is not None and credential.covers(resource_type):
        return None
    return outcome_response(
        403, "this access token's scopes do not cover this resource type", "forbidden"
    )


def _unserved(resource_type: str) -> HttpResponse | None:
    if kind_of(resource_type):
        return None
    if is_resource_type(resource_type):
        return outcome_response(
            404, f"{resource_type} is not served by this API (see /metadata)", "not-supported"
        )
    return outcome_response(404, "not a FHIR R4 resource type", "not-supported")


def _audit(
    request: HttpRequest,
    feed: Feed,
    *,
    cpr: str,
    section: str,
    resource_ids: Sequence[str],
    details: Mapping[str, Any],
) -> HttpResponse | None:
    """Write the read's audit row; return the 503 to answer instead if it cannot be written.

    Inside a batch (``records.api.batch``) the row is collected instead: the batch writes one
    row per citizen for all its entries, before its answer exists.
    """
    collected: list[BatchRead] | None = getattr(request, "indblik_batch_reads", None)
    if collected is not None:
        collected.append(BatchRead(cpr, section, list(resource_ids), dict(details)))
        return None
    return write_audit(
        request, feed, cpr=cpr, section=section, resource_ids=resource_ids, details=details
    )


class BatchRead(NamedTuple):
    """One entry's read, waiting for the batch's audit row."""

    cpr: str
    section: str
    resource_ids: list[str]
    details: dict[str, Any]


def write_audit(
    request: HttpRequest,
    feed: Feed,
    *,
    cpr: str,
    section: str,
    resource_ids: Sequence[str],
    details: Mapping[str, Any],
) -> HttpResponse | None:
    """Write one audit row of reads now; return the 503 to answer if it cannot be written."""
    try:
        audit.record(
            request,
            Action.FHIR_READ,
            actor=Actor(name=f"{feed.name} (FHIR API)"),
            patient_cpr=cpr,
            section=section,
            resource_ids=resource_ids,
            details=details,
        )
    except AuditWriteError:
        return outcome_response(
            503,
            "the read could not be logged, so nothing is returned; try again",
            "transient",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return None


def _bundle(
    search: Search,
    rows: Sequence[StoredRow],
    extra: Sequence[StoredRow],
    *,
    more: bool,
    client_id: int,
) -> dict[str, Any]:
    api = _api_url()
    endpoint = f"{api}/{search.resource_type}"

    def link(which: Search) -> str:
        return f"{endpoint}?{urlencode({'_cursor': encode_cursor(which, client_id=client_id)})}"

    links = [{"relation": "self", "url": link(search)}]
    if more and rows:
        following = replace(search, after=position(search, rows[-1]))
        links.append({"relation": "next", "url": link(following)})
    entries = [_entry(api, row, "match") for row in rows]
    entries += [_entry(api, row, "include") for row in extra]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(dt.datetime.now(dt.UTC)),
        "link": links,
    }
    if entries:  # FHIR JSON has no empty arrays: no matches, no "entry"
        bundle["entry"] = entries
    return bundle


def _entry(api: str, row: StoredRow, mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{api}/{row.resource_type}/{row.fhir_id}",
        "resource": served_json(
            row.body,
            resource_type=row.resource_type,
            fhir_id=row.fhir_id,
            version=row.version,
            last_updated=row.last_updated,
        ),
        "search": {"mode": mode},
    }


def served_json(
    body: str, *, resource_type: str, fhir_id: str, version: int, last_updated: dt.datetime
) -> orjson.Fragment:
    """The JSON of :func:`served`, ready to embed in a response, mostly without parsing it.

    A stored body that begins the usual way (``{"resourceType":…,"id":…,"meta":{``) and holds
    no ``versionId`` or ``lastUpdated`` of its own gets the two stamped in as text: the same
    JSON as :func:`served` makes, without decoding and encoding every resource of a page.
    Anything else takes the parsing way. This relies on stored bodies being compact JSON as
    ``orjson.dumps`` writes them (no duplicate keys, no escaped letters): ingestion stores
    nothing else (``records/tests/test_fhir_read_api.py`` checks the stored bodies).
    """
    head = (
        '{"resourceType":'
        + orjson.dumps(resource_type).decode()
        + ',"id":'
        + orjson.dumps(fhir_id).decode()
        + ',"meta":{'
    )
    rest = body[len(head) :] if body.startswith(head) else ""
    if (
        rest[:1] in ('"', "}")  # a member or the end of meta next, as orjson writes it
        and '"versionId"' not in body
        and '"lastUpdated"' not in body
    ):
        stamp = f'"versionId":"{version}","lastUpdated":"{instant(last_updated)}"'
        return orjson.Fragment(head + stamp + ("" if rest.startswith("}") else ",") + rest)
    return orjson.Fragment(orjson.dumps(served(body, version=version, last_updated=last_updated)))


def served(body: str, *, version: int, last_updated: dt.datetime) -> dict[str, Any]:
    """Return a stored resource as served: its JSON with ``meta.versionId``/``lastUpdated``."""
    resource: dict[str, Any] = orjson.loads(body)
    meta = resource.get("meta")
    stamped = {"versionId": str(version), "lastUpdated": instant(last_updated)}
    if isinstance(meta, dict):  # the stored meta's other keys; ours come first and count
        stamped.update((key, value) for key, value in meta.items() if key not in stamped)
    if isinstance(meta, dict):
        resource["meta"] = stamped
        return resource
    # Keep the usual order of a FHIR resource: resourceType, id, meta, the rest.
    head = {key: resource[key] for key in ("resourceType", "id") if key in resource}
    return {**head, "meta": stamped, **resource}


def instant(moment: dt.datetime) -> str:
    """Return a FHIR instant in UTC with milliseconds (``2025-03-03T09:30:00.000Z``)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _api_url() -> str:
    return f"{settings.INDBLIK_BASE_URL}{reverse('fhir:base').rstrip('/')}"


# --- public: the CapabilityStatement and SMART discovery --------------------------------------


def metadata(request: HttpRequest) -> HttpResponse:
    """Return the CapabilityStatement (``GET /fhir/r4/metadata``; public)."""
    if request.method not in ("GET", "HEAD"):
        return outcome_response(405, "use GET", "not-supported", {"Allow": "GET, HEAD"})
    mode = request.GET.get("mode", "full")
    if mode not in ("full", "normative"):
        return outcome_response(400, "mode: full (the default) or normative", "not-supported")
    if set(request.GET) - {"mode", *RESULT_PARAMETERS}:
        return outcome_response(400, "metadata takes mode and _format only", "not-supported")
    response = fhir_response(capability.statement(), 200)
    response["Cache-Control"] = PUBLIC_CACHE
    return response


def smart_configuration(request: HttpRequest) -> HttpResponse:
    """Return SMART discovery (``GET /fhir/r4/.well-known/smart-configuration``; public)."""
    if request.method not in ("GET", "HEAD"):
        return _json({"error": "invalid_request", "error_description": "use GET"}, 405)
    response = _json(
        {
            "token_endpoint": smart.token_endpoint_url(),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(smart.SIGNING_ALGORITHMS),
            "grant_types_supported": [smart.GRANT_TYPE],
            "scopes_supported": smart.supported_scopes(),
            "capabilities": ["client-confidential-asymmetric"],
        },
        200,
    )
    response["Cache-Control"] = PUBLIC_CACHE
    return response


# --- the token endpoint -----------------------------------------------------------------------


@csrf_exempt
def token(request: HttpRequest) -> HttpResponse:
    """Issue an access token to a client that proves itself (``POST /fhir/r4/auth/token``).

    SMART Backend Services: ``grant_type=client_credentials``, a JWT client assertion
    (``private_key_jwt``) and the scopes wanted, as a form. Errors are RFC 6749 §5.2 JSON.
    """
    if request.method != "POST":
        response = _oauth_error(smart.TokenRefused("invalid_request", "use POST"))
        response.status_code = 405
        response["Allow"] = "POST"
        return response
    try:
        form = _token_form(request)
        assertion = smart.verify_assertion(form.get("client_assertion"))
        feed = assertion.feed
        if form.get("client_id", feed.name) != feed.name:
            raise smart.TokenRefused("invalid_client", "client_id is not the assertion's issuer")
        if not client_certificate_allows(request, f"feed:{feed.name}"):
            # The assertion is right but the TLS client is not the feed's (mutual TLS at nginx).
            log.warning("token request of feed %s refused: client certificate", feed.name)
            raise smart.TokenRefused(
                "invalid_client", "the client certificate is not the one registered"
            )
        granted = smart.grant(feed, form.get("scope"))
        smart.remember_jti(assertion)
    except smart.TokenRefused as refused:
        return _oauth_error(refused)
    access_token = smart.issue_access_token(feed, granted)
    return _json(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": smart.ACCESS_TOKEN_SECONDS,
            "scope": granted.scope,
        },
        200,
    )


def _token_form(request: HttpRequest) -> dict[str, str]:
    """Return the token request's form; TokenRefused for a malformed one."""
    if request.content_type != FORM:
        raise smart.TokenRefused("invalid_request", f"send the request as {FORM}")
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not (length.isascii() and length.isdigit() and len(length) <= 9) or (
        int(length) > MAX_TOKEN_REQUEST_BYTES
    ):
        raise smart.TokenRefused("invalid_request", "the request is too large")
    form: dict[str, str] = {}
    for name, values in request.POST.lists():
        if len(values) != 1:
            # RFC 6749 §3.2: parameters must not be included more than once.
            raise smart.TokenRefused("invalid_request", f"{name[:40]!r} is given more than once")
        form[name] = values[0]
    grant_type = form.get("grant_type")
    if not grant_type:
        raise smart.TokenRefused("invalid_request", "grant_type is missing")
    if grant_type != smart.GRANT_TYPE:
        raise smart.TokenRefused("unsupported_grant_type", f"use {smart.GRANT_TYPE}")
    assertion_type = form.get("client_assertion_type")
    if not assertion_type or not form.get("client_assertion"):
        raise smart.TokenRefused(
            "invalid_request", "client_assertion_type and client_assertion are required"
        )
    if assertion_type != smart.ASSERTION_TYPE:
        raise smart.TokenRefused(
            "invalid_client", f"client_assertion_type must be {smart.ASSERTION_TYPE}"
        )
    return form


def _oauth_error(refused: smart.TokenRefused) -> HttpResponse:
    return _json({"error": refused.error, "error_description": refused.description}, refused.status)


def _json(body: dict[str, Any], status: int) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
