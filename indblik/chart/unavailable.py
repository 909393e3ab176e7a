"""When the record source cannot be read: say so plainly, audit the attempt, show nothing.

A live FHIR source may time out, be down, refuse Indblik, or answer nonsense
(:class:`~indblik.records.source.SourceUnavailable`). The chart then answers 503 with a page
that says the hospital record could not be reached — never a 500, and never an older copy
presented as current (Indblik keeps none). The attempt is audited like a read: who, which
citizen, which page, and why it failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from indblik import audit
from indblik.access.models import Grant
from indblik.records.sections import Section
from indblik.records.source import AmbiguousPatient, SourceUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 15
View = Callable[..., HttpResponse]


def source_guard(view: View) -> View:
    """Turn a SourceUnavailable raised while serving a chart view into the 503 page."""

    @wraps(view)
    def wrapper(request: HttpRequest, handle: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, handle, *args, **kwargs)
        except SourceUnavailable as exc:
            default = Section.DOCUMENTS if "resource_id" in kwargs else Section.SNAPSHOT
            return unavailable(request, handle, str(kwargs.get("section", default)), exc)

    return wrapper


def unavailable(
    request: HttpRequest, handle: str, section: str, problem: SourceUnavailable
) -> HttpResponse:
    """Audit the failed read of a granted citizen and answer the 503 page (404 if not granted)."""
    session_key = request.session.session_key or ""
    if request.user.pk is None:
        raise Http404
    grant = (
        Grant.objects.filter(
            handle=handle, user_id=request.user.pk, session_key=session_key, revoked_at=None
        )
        .select_related("organisation")
        .first()
    )
    if grant is None:
        raise Http404
    log.warning("chart: the record source failed (%s) for grant %s", problem.kind, grant.pk)
    # Audited before the answer exists; an AuditWriteError becomes the audit 503 page.
    audit.record(
        request,
        audit.Action.PATIENT_READ,
        outcome=audit.Outcome.ERROR,
        patient_cpr=grant.patient_cpr,
        section=section,
        purpose=grant.purpose,
        organisation_cvr=grant.organisation.cvr,
        organisation_name=grant.organisation.name,
        details={"source_error": problem.kind},
    )
    response = render(
        request,
        "chart/unavailable.html",
        {"ambiguous": isinstance(problem, AmbiguousPatient), "retry_url": request.get_full_path()},
        status=503,
    )
    add_never_cache_headers(response)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
