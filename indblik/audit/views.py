"""The audit log's machine API: a citizen's audit events for the hospital's patient portal.

``GET /fhir/r4/AuditEvent?patient=urn:oid:1.2.208.176.1.2|<CPR>`` (and the same as a form
``POST /fhir/r4/AuditEvent/_search``, which keeps the CPR number out of URLs and access logs).
Machine-authenticated with a feed credential of scope ``audit-read`` (``indblik feed add NAME
--scope audit-read``); every search is itself audited before the log is read.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict

from indblik import audit
from indblik.audit import Action, Actor
from indblik.audit import search as audit_search
from indblik.audit.errors import AuditWriteError
from indblik.audit.middleware import RETRY_AFTER_SECONDS
from indblik.records.models import Feed
from indblik.records.views import feed_api, fhir_response, outcome_response

log = logging.getLogger(__name__)


@feed_api("GET", scope=Feed.Scope.AUDIT_READ)
def audit_event_search(request: HttpRequest, feed: Feed) -> HttpResponse:
    """Search a citizen's audit events (``GET /fhir/r4/AuditEvent?patient=…``)."""
    return _search(request, feed, request.GET)


@feed_api("POST", scope=Feed.Scope.AUDIT_READ)
def audit_event_search_post(request: HttpRequest, feed: Feed) -> HttpResponse:
    """The same search with the parameters in a form body (``POST /fhir/r4/AuditEvent/_search``)."""
    if request.content_type != "application/x-www-form-urlencoded":
        return outcome_response(
            415, "send the parameters as application/x-www-form-urlencoded", "not-supported"
        )
    # FHIR: parameters in the URL and in the body count together.
    parameters = request.GET.copy()
    for name, values in request.POST.lists():
        parameters.setlist(name, parameters.getlist(name) + values)
    return _search(request, feed, parameters)


def _search(request: HttpRequest, feed: Feed, parameters: QueryDict) -> HttpResponse:
    try:
        search = audit_search.parse(dict(parameters.lists()), feed_id=feed.pk)
    except audit_search.SearchError as exc:
        return outcome_response(400, str(exc), exc.code)
    try:
        # Write the audit row before reading the log: fail closed.
        audit.record(
            request,
            Action.FHIR_READ,
            actor=Actor(name=f"{feed.name} (FHIR API)"),
            patient_cpr=search.cpr,
            section="AuditEvent",
            details=search.audit_details(),
        )
    except AuditWriteError:
        return outcome_response(
            503,
            "the search could not be logged, so nothing is shown; try again",
            "transient",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    counting = search.count == 0
    events, more = ([], False) if counting else audit_search.page(search)
    body = audit_search.bundle(
        search,
        events,
        more=more,
        feed_id=feed.pk,
        base_url=settings.INDBLIK_BASE_URL,
        source_id=settings.INDBLIK_AUDIT_SOURCE_ID,
    )
    if counting:
        body["total"] = audit_search.total(search)
    return fhir_response(body, 200)
