"""Log follow-up: the organisation's log reviewer reviews cases and searches the log.

Every view starts from :func:`reviewer_view`: a signed-in professional holding the reviewer
role, acting for a live organisation from its network (NetworkAllowlistMiddleware has
already checked both and set ``request.indblik_organisation``). Every query is then confined
to that organisation's CVR number: a case or event of another organisation is a 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from indblik import audit
from indblik.audit import Action
from indblik.audit.models import AuditEvent
from indblik.followup import review, scan, search, spotchecks
from indblik.followup.events import LOOKUP_ACTIONS, day_bounds, zone
from indblik.followup.forms import ReviewForm, SearchForm
from indblik.followup.models import Case, Rule, SpotCheckDraw, Status
from indblik.followup.reasons import action_label, municipality_name, purpose_label
from indblik.followup.views.common import cursor, forbidden
from indblik.identity.models import User, UserKind
from indblik.organisations.models import Organisation
from indblik.records.models import Patient
from indblik.records.sections import TITLES, Section

CASES_PER_PAGE = 30
CASE_EVENTS = 300
STATUS_FILTERS = ("open", "decided", "all")

View = Callable[..., HttpResponseBase]


def reviewer_organisation(request: HttpRequest) -> Organisation | None:
    """The organisation whose log the signed-in user may follow up, or None."""
    user = request.user
    if not isinstance(user, User) or user.kind != UserKind.PROFESSIONAL or not user.is_active:
        return None
    if not user.is_reviewer:
        return None
    organisation = getattr(request, "indblik_organisation", None)
    if organisation is None or organisation.cvr != user.organisation_cvr:
        return None
    return organisation


def reviewer_view(view: View) -> View:
    """Let only the organisation's log reviewer in; pass the organisation to the view."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("identity:login"))
        organisation = reviewer_organisation(request)
        if organisation is None:
            return forbidden(
                request, _("Log follow-up is for the organisation's log reviewers only.")
            )
        return view(request, organisation, *args, **kwargs)

    return never_cache(wrapper)


@reviewer_view
@require_safe
def overview(request: HttpRequest, organisation: Organisation) -> HttpResponse:
    """Open cases by rule, the list of cases, and the recent spot-check draws."""
    # Lazily: new lookups are scanned and ended weeks drawn before the page is shown.
    scan.scan_recent(organisation)
    spotchecks.draw_due(organisation.cvr)
    status = request.GET.get("status", "open")
    status = status if status in STATUS_FILTERS else "open"
    rule = request.GET.get("rule", "")
    rule = rule if rule in Rule.values else ""
    cases = Case.objects.filter(organisation_cvr=organisation.cvr)
    if status == "open":
        cases = cases.filter(status=Status.OPEN)
    elif status == "decided":
        cases = cases.exclude(status=Status.OPEN)
    if rule:
        cases = cases.filter(rule=rule)
    cases = cases.order_by("-at", "-id")
    before = cursor(request.GET.get("before"))
    if before is not None:
        at = cases.filter(pk=before).values_list("at", flat=True).first()
        if at is not None:
            cases = cases.filter(Q(at__lt=at) | Q(at=at, pk__lt=before))
    shown = list(cases[: CASES_PER_PAGE + 1])
    older = shown[CASES_PER_PAGE - 1].pk if len(shown) > CASES_PER_PAGE else None
    shown = shown[:CASES_PER_PAGE]
    audit.record(
        request,
        Action.FOLLOWUP_CASE_READ,
        details={"view": "overview", "status": status, "rule": rule, "cases": len(shown)},
    )
    counts = dict(
        Case.objects.filter(organisation_cvr=organisation.cvr, status=Status.OPEN)
        .values_list("rule")
        .annotate(n=Count("id"))
        .order_by()
    )
    names = search.citizen_names({case.patient_cpr for case in shown if case.patient_cpr})
    query = {"status": status, "rule": rule}
    return render(
        request,
        "followup/overview.html",
        {
            "organisation": organisation,
            "tab": "cases",
            "cases": [(case, names.get(case.patient_cpr, "")) for case in shown],
            "rules": [(value, label, counts.get(value, 0)) for value, label in Rule.choices],
            "open_total": sum(counts.values()),
            "status": status,
            "rule": rule,
            "older_url": f"?{urlencode({**query, 'before': older})}" if older else "",
            "newest_url": f"?{urlencode(query)}" if before is not None else "",
            "draws": SpotCheckDraw.objects.filter(organisation_cvr=organisation.cvr).order_by(
                "-week"
            )[:6],
        },
    )


@reviewer_view
@require_http_methods(["GET", "HEAD", "POST"])
def case(request: HttpRequest, organisation: Organisation, pk: int) -> HttpResponse:
    """One case: the lookup in full, and the reviewer's decision."""
    found = get_object_or_404(Case, organisation_cvr=organisation.cvr, pk=pk)
    if request.method == "POST":
        form = ReviewForm(request.POST)
        if form.is_valid():
            review.decide(
                request,
                found,
                status=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
            )
            messages.success(request, _("The decision is saved."))
            following = (
                Case.objects.filter(organisation_cvr=organisation.cvr, status=Status.OPEN)
                .exclude(pk=found.pk)
                .order_by("-at", "-id")
                .first()
            )
            if following is not None:
                return redirect("followup:case", pk=following.pk)
            return redirect("followup:overview")
    else:
        initial = {"decision": found.status, "note": found.note} if not found.is_open else None
        form = ReviewForm(initial=initial)
    audit.record(
        request,
        Action.FOLLOWUP_CASE_READ,
        patient_cpr=found.patient_cpr,
        details={"view": "case", "case": found.pk, "rule": found.rule},
    )
    patient = Patient.objects.filter(cpr=found.patient_cpr).first() if found.patient_cpr else None
    subject = User.objects.filter(pk=found.user_id).first() if found.user_id else None
    return render(
        request,
        "followup/case.html",
        {
            "organisation": organisation,
            "tab": "cases",
            "case": found,
            "patient": patient,
            "subject": subject,
            "events": _case_events(found),
            "municipality": municipality_name(patient.municipality_code) if patient else "",
            "form": form,
        },
    )


def _case_events(found: Case) -> list[dict[str, Any]]:
    """The user's events of that day with that citizen (or all their lookups that day)."""
    if found.user_id is None:
        return []
    day = timezone.localtime(found.at, zone()).date()
    start, end = day_bounds(day)
    rows = AuditEvent.objects.filter(
        organisation_cvr=found.organisation_cvr,
        user_id=found.user_id,
        at__gte=start,
        at__lt=end,
    )
    if found.patient_cpr:
        rows = rows.filter(patient_cpr=found.patient_cpr)
    else:
        rows = rows.filter(action__in=LOOKUP_ACTIONS)
    events = list(
        rows.order_by("at", "id").values(
            "id", "at", "action", "outcome", "section", "purpose", "reason", "patient_cpr"
        )[:CASE_EVENTS]
    )
    for event in events:
        event["section_title"] = _section_title(event["section"])
        event["action_label"] = action_label(event["action"])
        event["purpose_label"] = purpose_label(event["purpose"])
        event["masked_cpr"] = f"{event['patient_cpr'][:6]}-xxxx" if event["patient_cpr"] else ""
    return events


@reviewer_view
@require_http_methods(["GET", "HEAD", "POST"])
def search_log(request: HttpRequest, organisation: Organisation) -> HttpResponse:
    """Search the organisation's log (POST the form; results under a saved filter id)."""
    if request.method == "POST":
        form = SearchForm(request.POST, organisation_cvr=organisation.cvr)
        if form.is_valid():
            filter_id = search.save(request, form.filters())
            return redirect(f"{reverse('followup:search')}?{urlencode({'f': filter_id})}")
        return _search_page(request, organisation, form, None, "")
    filter_id = request.GET.get("f", "")
    filters = search.load(request, filter_id, organisation.cvr) if filter_id else None
    if filters is None:
        return _search_page(
            request, organisation, SearchForm(organisation_cvr=organisation.cvr), None, ""
        )
    form = SearchForm(
        organisation_cvr=organisation.cvr,
        initial={
            "citizen": filters.cpr,
            "user": filters.user_id,
            "since": filters.since,
            "until": filters.until,
            "section": filters.section,
            "kind": filters.kind,
        },
    )
    return _search_page(request, organisation, form, filters, filter_id)


def _search_page(
    request: HttpRequest,
    organisation: Organisation,
    form: SearchForm,
    filters: search.Filters | None,
    filter_id: str,
) -> HttpResponse:
    context: dict[str, Any] = {
        "organisation": organisation,
        "tab": "search",
        "form": form,
        "results": None,
    }
    if filters is not None:
        before = cursor(request.GET.get("before"))
        audit.record(
            request,
            Action.FOLLOWUP_SEARCH,
            patient_cpr=filters.cpr,
            details={**filters.audit_details(), "page": "older" if before else "newest"},
        )
        rows, older = search.page(filters, before)
        names = search.citizen_names({row.patient_cpr for row in rows if row.patient_cpr})
        since, until = filters.window()
        context.update(
            filter_id=filter_id,
            since=since,
            until=until - dt.timedelta(seconds=1),
            results=[
                {
                    "event": row,
                    "citizen": names.get(row.patient_cpr, ""),
                    "masked_cpr": row.masked_cpr,
                    "section_title": _section_title(row.section),
                    "action_label": action_label(row.action),
                    "purpose_label": purpose_label(row.purpose),
                }
                for row in rows
            ],
            older_url=f"?{urlencode({'f': filter_id, 'before': older})}" if older else "",
            newest_url=f"?{urlencode({'f': filter_id})}" if before is not None else "",
            export_url=f"{reverse('followup:export')}?{urlencode({'f': filter_id})}",
        )
    return render(request, "followup/search.html", context)


@reviewer_view
@require_safe
def export(request: HttpRequest, organisation: Organisation) -> HttpResponseBase:
    """The saved search as CSV (audited before a single row is read)."""
    filters = search.load(request, request.GET.get("f", ""), organisation.cvr)
    if filters is None:
        raise Http404
    total = search.events(filters)[: search.EXPORT_MAX_ROWS + 1].count()
    if total > search.EXPORT_MAX_ROWS:
        messages.error(
            request,
            _("The search finds more than %(max)s events. Narrow it down before exporting.")
            % {"max": search.EXPORT_MAX_ROWS},
        )
        return redirect(f"{reverse('followup:search')}?{urlencode({'f': request.GET['f']})}")
    audit.record(
        request,
        Action.FOLLOWUP_EXPORT,
        patient_cpr=filters.cpr,
        details={**filters.audit_details(), "rows": total, "format": "csv"},
    )
    response = StreamingHttpResponse(
        search.csv_rows(filters), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime(timezone.now(), zone()).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="indblik-log-{organisation.cvr}-{stamp}.csv"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _section_title(value: str) -> str:
    try:
        return str(TITLES[Section(value)])
    except ValueError:
        return value
