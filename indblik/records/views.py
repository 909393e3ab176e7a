"""The FHIR R4 ingestion API: machine-only, bearer-authenticated, FHIR JSON in and out.

``POST /fhir/r4/`` takes a Bundle (transaction, batch, collection), NDJSON or one resource;
``POST /fhir/r4/<Type>`` creates, ``PUT /fhir/r4/<Type>/<id>`` updates or creates and
``DELETE /fhir/r4/<Type>/<id>`` deletes. Answers are OperationOutcomes or response Bundles;
bad input is a 4xx with the entry, the FHIR path and the problem, never a 500.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from indblik.audit.net import client_certificate_allows
from indblik.records import auth
from indblik.records.ingest import IngestResult, ingest_interaction, ingest_payload
from indblik.records.ingest.result import operation_outcome
from indblik.records.models import Feed
from indblik.records.validation import is_resource_type, is_valid_id

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
View = Callable[..., HttpResponse]


def fhir_response(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> HttpResponse:
    """Return a FHIR JSON response that no cache keeps (it may hold clinical data)."""
    response = HttpResponse(orjson.dumps(body), status=status, content_type=FHIR_JSON)
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def outcome_response(
    status: int, problem: str, code: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    """Return an OperationOutcome with one error."""
    issue = {"severity": "error", "code": code, "diagnostics": problem}
    return fhir_response(operation_outcome([issue]), status, headers)


def feed_api(*methods: str, scope: str = Feed.Scope.INGEST) -> Callable[[View], View]:
    """Make a view a feed endpoint: CSRF-exempt, these methods only, a valid bearer token.

    The token's feed must have ``scope``: a portal's read credential cannot push data, and
    the integration engine's cannot read the audit log (403 otherwise).
    """

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return outcome_response(
                    405,
                    f"use {' or '.join(methods)}",
                    "not-supported",
                    {"Allow": ", ".join(methods)},
                )
            # Authenticate before reading a byte of the body.
            token = auth.bearer_token(request)
            looked_up = getattr(request, "indblik_feed_lookup", None)  # by ``base``, just now
            if looked_up is not None and looked_up[0] == token:
                credential = looked_up[1]
            else:
                credential = auth.authenticate_credential(token)
            if credential is None:
                challenge = 'Bearer realm="indblik"'
                if token:
                    challenge += ', error="invalid_token"'
                return outcome_response(
                    401,
                    "a valid feed bearer token is required",
                    "login",
                    {"WWW-Authenticate": challenge},
                )
            feed = credential.feed
            request.indblik_feed_credential = credential  # type: ignore[attr-defined]
            if feed.scope == Feed.Scope.RECORD_READ and not credential.short_lived:
                # A reader of the record holds only access tokens from its registered key
                # (minutes long), never a static secret, whatever was issued to it by mistake.
                log.warning("feed %s refused: a long-lived credential for reading", feed.name)
                return outcome_response(
                    401,
                    "reading the record needs an access token from /fhir/r4/auth/token",
                    "login",
                    {"WWW-Authenticate": 'Bearer realm="indblik", error="invalid_token"'},
                )
            if feed.scope != scope:
                log.warning("feed %s refused: scope %s, not %s", feed.name, feed.scope, scope)
                return outcome_response(
                    403, f"this credential's scope is {feed.scope}, not {scope}", "forbidden"
                )
            if not credential.covers(kwargs.get("resource_type")):
                # An access token from the SMART token endpoint reads only the types granted.
                log.warning("feed %s refused: the type is not among its scopes", feed.name)
                return outcome_response(
                    403, "this access token's scopes do not cover this resource type", "forbidden"
                )
            if not client_certificate_allows(request, f"feed:{feed.name}"):
                # The token is right but the TLS client is not the feed's (mutual TLS at nginx).
                log.warning("feed %s refused: client certificate does not match", feed.name)
                problem = "the client certificate is not the one registered for this feed"
                return outcome_response(403, problem, "security")
            declared = _declared_length(request)
            if declared is None:
                return outcome_response(400, "Content-Length is not a number", "structure")
            if declared > settings.INDBLIK_INGEST_MAX_BYTES:
                return outcome_response(
                    413,
                    f"the payload is larger than {settings.INDBLIK_INGEST_MAX_BYTES} bytes",
                    "too-long",
                )
            return view(request, feed, *args, **kwargs)

        return wrapper

    return decorate


def by_method(**views: View) -> View:
    """Return one view that hands each HTTP method to its own view (405 for the others).

    ``/fhir/r4/<Type>`` and ``/fhir/r4/<Type>/<id>`` serve two kinds of client: ingestion
    (POST, PUT, DELETE; scope ``ingest``) and reads (GET; scope ``record-read``). Each method's
    view authenticates with its own scope.
    """
    allowed = ", ".join(views)

    @csrf_exempt
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        view = views.get(request.method or "")
        if view is None:
            return outcome_response(405, f"use {allowed}", "not-supported", {"Allow": allowed})
        return view(request, *args, **kwargs)

    return dispatch


@csrf_exempt
def base(request: HttpRequest) -> HttpResponse:
    """``POST /fhir/r4/``: a batch of reads for a ``record-read`` client, else ingestion.

    The credential decides: a reader's token can only read (``records.api.batch``), an
    ingest feed's only store; any other answer (401, 403) comes from ingestion's checks.
    """
    token = auth.bearer_token(request)
    credential = auth.authenticate_credential(token)
    request.indblik_feed_lookup = (token, credential)  # type: ignore[attr-defined]
    if credential is not None and credential.feed.scope == Feed.Scope.RECORD_READ:
        from indblik.records.api.batch import batch

        return batch(request)
    return ingest_base(request)


@feed_api("POST")
def ingest_base(request: HttpRequest, feed: Feed) -> HttpResponse:
    """Ingest a Bundle, NDJSON or one resource (``POST /fhir/r4/``)."""
    content_type = request.META.get("CONTENT_TYPE") or ""
    return _respond(
        feed,
        lambda: ingest_payload(
            request,
            source=feed.name,
            channel="http",
            # A request without a type is refused (415) rather than guessed at.
            content_type=content_type or "missing",
            # gunicorn workers already run requests in parallel: no pool per worker.
            parallel=False,
        ),
    )


@feed_api("POST")
def type_endpoint(request: HttpRequest, feed: Feed, resource_type: str) -> HttpResponse:
    """Create one resource (``POST /fhir/r4/<Type>``)."""
    if not is_resource_type(resource_type):
        return outcome_response(404, "not a FHIR R4 resource type", "not-supported")
    return _interaction(request, feed, "POST", resource_type, None)


@feed_api("PUT", "DELETE")
def instance(request: HttpRequest, feed: Feed, resource_type: str, fhir_id: str) -> HttpResponse:
    """Update-or-create (``PUT``) or delete (``DELETE``) ``/fhir/r4/<Type>/<id>``."""
    if not is_resource_type(resource_type):
        return outcome_response(404, "not a FHIR R4 resource type", "not-supported")
    if not is_valid_id(fhir_id):
        return outcome_response(400, "not a FHIR id", "value")
    return _interaction(request, feed, request.method or "", resource_type, fhir_id)


def _interaction(
    request: HttpRequest, feed: Feed, method: str, resource_type: str, fhir_id: str | None
) -> HttpResponse:
    content_type = request.META.get("CONTENT_TYPE") or ""
    return _respond(
        feed,
        lambda: ingest_interaction(
            request if method != "DELETE" else None,
            method=method,
            resource_type=resource_type,
            fhir_id=fhir_id,
            source=feed.name,
            channel="http",
            content_type=content_type or "missing",
        ),
    )


def _respond(feed: Feed, ingest: Callable[[], IngestResult]) -> HttpResponse:
    try:
        result = ingest()
    except Exception as exc:
        # The message of a database error can quote values: log where it happened, not what.
        log.error(
            "ingest via http failed: feed=%s %s\n%s",
            feed.name,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return fhir_response(
            operation_outcome(
                [{"severity": "fatal", "code": "exception", "diagnostics": "internal error"}]
            ),
            500,
        )
    headers: dict[str, str] = {}
    if result.kind == "interaction" and result.entries and result.ok:
        outcome = result.entries[0]
        if outcome.location:
            headers["Location"] = f"{settings.INDBLIK_BASE_URL}/fhir/r4/{outcome.location}"
        if outcome.version:
            headers["ETag"] = f'W/"{outcome.version}"'
    return fhir_response(result.to_fhir(), result.status, headers)


def _declared_length(request: HttpRequest) -> int | None:
    value = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None
