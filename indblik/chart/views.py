"""The chart: grant → rules acknowledged → source → presenter → audit → render.

Every chart view answers GET and HEAD only (``require_safe``): nothing on a chart page writes
anything. The only POST of the app is the acknowledgement of the rules of use, which is not a
chart page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import check_for_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from indblik import audit
from indblik.access.grants import ActiveGrant, active_grant
from indblik.chart import documents
from indblik.chart import rules as rules_of_use
from indblik.chart.presenters import Filters, PageInput, common
from indblik.chart.presenters.registry import RESERVED, Presenter, presenter
from indblik.chart.unavailable import source_guard
from indblik.records import fhir
from indblik.records.sections import PAGES, TITLES, Section
from indblik.records.source import SectionResult

MAX_FILTER_TEXT = 100


@require_safe
@never_cache
@source_guard
def page(request: HttpRequest, handle: str, section: Section = Section.SNAPSHOT) -> HttpResponse:
    """One page of the granted citizen's record."""
    return _page(request, handle, section, print_view=False)


@require_safe
@never_cache
@source_guard
def print_page(request: HttpRequest, handle: str, section: Section) -> HttpResponse:
    """The printable version of a page, watermarked with who printed it and when."""
    return _page(request, handle, section, print_view=True)


def _page(request: HttpRequest, handle: str, section: Section, *, print_view: bool) -> HttpResponse:
    entry = presenter(section)
    filters = parse_filters(request.GET, entry.filters)
    queries = entry.queries(filters)
    # Http404 for anything not granted right now. The page's sections are read in the same
    # round trip as the citizen's blocks, and only returned when the grant holds.
    grant = active_grant(request, handle, read=queries)
    if not rules_of_use.acknowledged_by(request):
        return _to_rules(request)
    results = grant.sections
    if results is None:
        results = grant.record_source.sections(grant.patient, queries) if queries else {}
    now = timezone.now()
    data = entry.present(PageInput(section, grant.patient, results, filters, now))
    shown = data.pop("resource_ids", None)
    searched = _searched(filters)
    if print_view:
        action = audit.Action.PAGE_PRINT
    elif searched:
        action = audit.Action.SECTION_SEARCH
    else:
        action = audit.Action.PATIENT_READ
    # The audit row is written before any response exists: if the write fails, the
    # AuditWriteError becomes a 503 page without data (AuditFailureMiddleware).
    audit.record(
        request,
        action,
        patient_cpr=grant.patient.cpr,
        section=section.value,
        resource_ids=list(shown) if shown is not None else visible_ids(results.values()),
        purpose=grant.purpose,
        organisation_cvr=grant.organisation.cvr,
        organisation_name=grant.organisation.name,
        details={"filters": searched, "page": "older"} if filters.before else {"filters": searched},
    )
    context = {key: value for key, value in data.items() if key not in RESERVED}
    context.update(
        section=section,
        section_title=TITLES[section],
        handle=grant.handle,
        grant=grant,
        patient=grant.patient,
        filters=filters,
        print_view=print_view,
        now=now,
        # What a live source could not show (malformed entries skipped, a bounded read).
        source_notices=sorted({notice for result in results.values() for notice in result.notices}),
    )
    context["chart"] = _layout(request, grant, entry, filters, data, now, print_view=print_view)
    template = "chart/print.html" if print_view else "chart/page.html"
    return render(request, template, context)


@require_safe
@never_cache
@source_guard
def document(request: HttpRequest, handle: str, resource_id: str) -> HttpResponse:
    """One attachment of the granted citizen's record, inline (``?download=1``: as a file)."""
    grant = active_grant(request, handle)
    if not rules_of_use.acknowledged_by(request):
        return _to_rules(request)
    download = request.GET.get("download") == "1"
    part = _int(request.GET.get("part"), default=0)
    found = documents.find(
        grant.record_source,
        grant.patient,
        resource_id=resource_id,
        part=part,
        at=_moment(request.GET.get("at")),
    )
    if found is None:
        return _not_found(request)
    try:
        content = documents.payload(found, grant.record_source)
    except documents.TooLarge:
        return _refused(request, grant, status=413)
    if content is None:
        return _not_found(request)
    as_attachment = download or not content.inline
    audit.record(
        request,
        audit.Action.DOCUMENT_DOWNLOAD if as_attachment else audit.Action.DOCUMENT_VIEW,
        patient_cpr=grant.patient.cpr,
        section=found.section.value,
        resource_ids=[found.reference],
        purpose=grant.purpose,
        organisation_cvr=grant.organisation.cvr,
        organisation_name=grant.organisation.name,
        details={"part": part, "content_type": content.content_type.split(";")[0]},
    )
    response = HttpResponse(content.content, content_type=content.content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment, content.filename
    ) or ("attachment" if as_attachment else "inline")
    response["Content-Length"] = str(len(content.content))
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = documents.CONTENT_SECURITY_POLICY
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@login_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def rules(request: HttpRequest) -> HttpResponse:
    """The rules of use; POST records that the user has read and accepts them."""
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next") or "")
    if request.method == "POST":
        rules_of_use.acknowledge(request.user)
        rules_of_use.remember(request)
        if next_url:
            return HttpResponseRedirect(next_url)
        return redirect(reverse("chart:rules"))
    return render(
        request,
        "chart/rules.html",
        {
            "next_url": next_url,
            "acknowledged": rules_of_use.acknowledged(request.user),
            "version": rules_of_use.VERSION,
        },
    )


@require_safe
def language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language (a preference cookie; nothing else is written)."""
    code = request.GET.get("lang", "")
    response = HttpResponseRedirect(_safe_next(request, request.GET.get("next", "")) or "/")
    if code in dict(settings.LANGUAGES) and check_for_language(code):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


def parse_filters(query: QueryDict, allowed: Iterable[str] = ()) -> Filters:
    """Read the filter form (and the paging cursor) from the query string; ignore bad values."""
    offered = set(allowed)
    since = until = None
    if "dates" in offered:
        since = _day(query.get("since"))
        until_day = _day(query.get("until"))
        # "to 24.01.2026" includes that whole day.
        until = until_day + dt.timedelta(days=1) if until_day else None
    return Filters(
        since=since,
        until=until,
        before=_moment(query.get("before")),
        department=_text(query.get("department")) if "department" in offered else "",
        kind=_text(query.get("kind")) if "kind" in offered else "",
        text=_text(query.get("text")) if "text" in offered else "",
    )


def visible_ids(results: Iterable[SectionResult]) -> list[str]:
    """``Type/id`` of every resource a page may have shown (entered in error left out)."""
    ids = []
    for result in results:
        for resource in common.visible(result.resources):
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                ids.append(f"{rtype}/{rid}")
    return ids


def _searched(filters: Filters) -> list[str]:
    """The names (never the values) of the filters in force."""
    names = []
    if filters.since or filters.until:
        names.append("dates")
    names.extend(name for name in ("department", "kind", "text") if getattr(filters, name))
    return names


def _layout(
    request: HttpRequest,
    grant: ActiveGrant,
    entry: Presenter,
    filters: Filters,
    data: Mapping[str, Any],
    now: dt.datetime,
    *,
    print_view: bool,
) -> dict[str, Any]:
    """What the page layout (banner, navigation, filter form, paging) shows."""
    section = entry.section
    patient = grant.patient
    user = request.user
    today = now.astimezone(common.COPENHAGEN).date()
    urls = page_urls(grant.handle)
    pages = [
        {
            "section": page_section,
            "title": TITLES[page_section],
            "url": urls[page_section],
            "current": page_section == section,
        }
        for page_section in PAGES
    ]
    form = _form_values(filters, request.GET)
    older_url = ""
    cursor = data.get("next_before")
    if isinstance(cursor, dt.datetime):
        older_url = "?" + urlencode({**form, "before": cursor.isoformat()})
    current = dict(form)
    if filters.before is not None:
        current["before"] = filters.before.isoformat()
    print_url = reverse("chart:print", args=[grant.handle, section.value])
    return {
        "pages": pages,
        "template": entry.template,
        "url": urls[section],
        "print_url": print_url + ("?" + urlencode(current) if current else ""),
        "older_url": older_url,
        "is_older_page": filters.before is not None,
        "filters_offered": sorted(entry.filters),
        "form": form,
        "filtered": bool(_searched(filters)),
        "citizen_name": patient.name,
        "citizen_age": common.age(patient.birth_date, today),
        "citizen_cpr": (
            _cpr_text(patient.cpr)
            if section == Section.DEMOGRAPHICS
            else fhir.mask_cpr(patient.cpr)
        ),
        "cpr_masked": section != Section.DEMOGRAPHICS,
        "organisation": grant.organisation.name,
        "user_name": getattr(user, "full_name", "") or user.get_username(),
        "expires": common.day_text(grant.expires_at),
        "expires_time": timezone.localtime(grant.expires_at, common.COPENHAGEN).strftime("%H:%M"),
        "printed_at": common.date_text(now),
        "print_view": print_view,
    }


def _form_values(filters: Filters, query: QueryDict) -> dict[str, str]:
    """The filter form's current values, as strings for the inputs and the paging link."""
    values = {}
    for name in ("since", "until"):
        day = _day(query.get(name))
        if day and (filters.since or filters.until):
            values[name] = day.astimezone(common.COPENHAGEN).date().isoformat()
    for name in ("department", "kind", "text"):
        value = getattr(filters, name)
        if value:
            values[name] = value
    return values


def page_urls(handle: str) -> dict[Section, str]:
    """The URL of every page of the grant ``handle``, from one ``reverse``.

    Each page lives at ``<snapshot URL><section>/`` (``chart/urls.py``; a test checks this
    against ``reverse`` for every page): the navigation needs all 18 on every page.
    """
    snapshot = reverse("chart:snapshot", args=[handle])
    return {
        section: snapshot if section == Section.SNAPSHOT else f"{snapshot}{section.value}/"
        for section in PAGES
    }


def _cpr_text(cpr: str) -> str:
    return f"{cpr[:6]}-{cpr[6:]}" if len(cpr) == 10 else cpr


def _to_rules(request: HttpRequest) -> HttpResponse:
    """Send the user to the rules of use first, then back here."""
    return HttpResponseRedirect(
        reverse("chart:rules") + "?" + urlencode({"next": request.get_full_path()})
    )


def _safe_next(request: HttpRequest, value: str) -> str:
    """``value`` if it is a path on this site (never another host), else ''."""
    if value.startswith("/") and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "chart/document_not_found.html", status=404)


def _refused(request: HttpRequest, grant: ActiveGrant, *, status: int) -> HttpResponse:
    return render(
        request,
        "chart/document_refused.html",
        {"limit_mb": documents.MAX_BYTES // (1024 * 1024), "handle": grant.handle},
        status=status,
    )


def _text(value: str | None) -> str:
    if not value:
        return ""
    return " ".join(value.split())[:MAX_FILTER_TEXT]


def _int(value: str | None, *, default: int) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 4:
        return default
    return int(value)


def _day(value: str | None) -> dt.datetime | None:
    """The first moment of a ``YYYY-MM-DD`` day in Danish time (UTC), or None."""
    if not value or len(value) != 10:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=common.COPENHAGEN).astimezone(dt.UTC)


def _moment(value: str | None) -> dt.datetime | None:
    """An aware ISO 8601 moment (a paging cursor or a document's date), or None."""
    if not value or len(value) > 40:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else None
