"""The usage pages: an organisation's own overview, the rollout report, the feedback answer.

- ``/organisation/`` is for the organisation's log reviewer (a professional of a live
  organisation holding the reviewer role, on its network: NetworkAllowlistMiddleware has
  checked both and set ``request.indblik_organisation``). Everything on it is confined to
  that organisation's CVR number; another organisation's user is a 404.
- ``/reports/`` is for hospital administrators (active staff users).
- ``/feedback/`` takes the chart's feedback prompt (POST) and sends the browser back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from indblik import audit
from indblik.audit.export import csv_safe
from indblik.identity import users
from indblik.identity.models import User, UserKind
from indblik.organisations.models import ChecklistStep, Organisation, Step
from indblik.usage import feedback, stats, svg
from indblik.usage.models import SCORES, Feedback

View = Callable[..., HttpResponseBase]


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """Answer 403 with a plain page that says why (and shows no data)."""
    response = render(request, "usage/forbidden.html", {"message": message}, status=403)
    add_never_cache_headers(response)
    return response


# --- the organisation's own page ------------------------------------------------------------


def own_organisation(request: HttpRequest) -> Organisation | None:
    """Return the organisation whose page the signed-in user may see, or None."""
    user = request.user
    if not isinstance(user, User) or user.kind != UserKind.PROFESSIONAL or not user.is_active:
        return None
    if not user.is_reviewer or not user.organisation_cvr:
        return None
    organisation: Organisation | None = getattr(request, "indblik_organisation", None)
    if organisation is None or organisation.cvr != user.organisation_cvr:
        return None
    return organisation


def reviewer_view(view: View) -> View:
    """Let only the organisation's log reviewer in; pass the organisation to the view."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("identity:login"))
        organisation = own_organisation(request)
        if organisation is None:
            return forbidden(request, _("This page is for the organisation's log reviewers only."))
        return view(request, organisation, *args, **kwargs)

    return never_cache(wrapper)


@require_safe
@reviewer_view
def organisation(request: HttpRequest, org: Organisation) -> HttpResponse:
    """The organisation's status, checklist, users and usage, read-only."""
    span = stats.period(stats.parse_weeks(request.GET.get("weeks")))
    steps = sorted(ChecklistStep.objects.filter(organisation=org), key=ChecklistStep.sort_key)
    people = list(
        User.objects.filter(kind=UserKind.PROFESSIONAL, organisation_cvr=org.cvr).order_by(
            "-is_active", "full_name", "pk"
        )
    )
    weeks = stats.lookups_per_week(span, cvr=org.cvr)
    sections = stats.sections_used(span, cvr=org.cvr)
    answers = Feedback.objects.filter(organisation=org, at__gte=span.since)
    context = {
        "organisation": org,
        "steps": steps,
        "steps_done": sum(step.is_done for step in steps),
        "steps_total": len(Step.values),
        "history": list(org.status_history.order_by("-at", "-pk")[:5]),
        "people": people,
        "span": span,
        "periods": stats.PERIODS,
        "weeks": weeks,
        "weeks_chart": _lookups_chart(weeks),
        "sections": sections,
        "sections_chart": _sections_chart(sections),
        "feedback": stats.feedback_summary(answers),
    }
    return render(request, "usage/organisation.html", context)


@require_http_methods(["GET", "HEAD", "POST"])
@reviewer_view
def deactivate(request: HttpRequest, org: Organisation, pk: int) -> HttpResponse:
    """Confirm (GET), then deactivate (POST) one of the organisation's users."""
    person = get_object_or_404(
        User, pk=pk, kind=UserKind.PROFESSIONAL, organisation_cvr=org.cvr
    )  # another organisation's user: 404, like one that does not exist
    back = reverse("usage:organisation")
    if person.pk == request.user.pk:
        messages.error(request, _("You cannot deactivate yourself here."))
        return HttpResponseRedirect(back)
    if not person.is_active:
        messages.info(request, _("%(name)s is already deactivated.") % {"name": person})
        return HttpResponseRedirect(back)
    if request.method == "POST":
        ended = users.deactivate(person, reason="organisation", request=request)
        messages.success(
            request,
            _("%(name)s is deactivated; %(count)d session(s) ended.")
            % {"name": person.get_full_name(), "count": ended},
        )
        return HttpResponseRedirect(back)
    return render(request, "usage/deactivate.html", {"organisation": org, "person": person})


# --- the rollout report for hospital administrators -----------------------------------------


def staff_view(view: View) -> View:
    """Let only active hospital administrators (staff users) in."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("identity:login"))
        if not (request.user.is_active and request.user.is_staff):
            return forbidden(request, _("The reports are for hospital administrators only."))
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


@require_safe
@staff_view
def reports(request: HttpRequest) -> HttpResponse:
    """The rollout overview: organisations, users, lookups, sections and feedback."""
    span = stats.period(stats.parse_weeks(request.GET.get("weeks")))
    types = stats.organisations_by_type_and_status()
    weeks = stats.lookups_per_week(span)
    sections = stats.sections_used(span)
    feedback_weeks = stats.feedback_per_week(span)
    summary = stats.feedback_summary(Feedback.objects.filter(at__gte=span.since))
    status_names = [_("Onboarding"), _("Live"), _("Suspended")]
    context = {
        **admin.site.each_context(request),
        "title": _("Usage and feedback"),
        "span": span,
        "periods": stats.PERIODS,
        "types": types,
        "types_total": [sum(row.counts[i] for row in types) for i in range(3)],
        "types_chart": svg.stacked_bars(
            [(row.label, row.counts) for row in types],
            series=status_names,
            title=_("Organisations by type and status"),
            description=_("%(count)d organisations, of which %(live)d are live.")
            % {"count": sum(row.total for row in types), "live": sum(row.live for row in types)},
        ),
        "status_names": status_names,
        "organisations": rollout_rows(span),
        "weeks": weeks,
        "weeks_chart": _lookups_chart(weeks),
        "sections": sections,
        "sections_chart": _sections_chart(sections),
        "feedback": summary,
        "feedback_chart": svg.bars(
            [
                (str(score), count)
                for score, count in zip(SCORES, summary.distribution, strict=True)
            ],
            title=_("Answers by score"),
            description=_("%(count)d answers from 1 (no use) to 5 (very high use).")
            % {"count": summary.answers},
        ),
        "feedback_weeks": feedback_weeks,
        "feedback_weeks_chart": svg.columns(
            [(week.label[5:], round(week.mean or 0, 1)) for week in feedback_weeks],
            title=_("Mean score per week"),
            description=_("The mean score of each week's answers, on a scale from 1 to 5."),
            ceiling=5,
        ),
        "scores": SCORES,
    }
    return render(request, "usage/reports.html", context)


def rollout_rows(span: stats.Period) -> list[dict[str, Any]]:
    """Return one row per organisation: registry, users, lookups and feedback in ``span``."""
    lookups = stats.lookups_by_organisation(span)
    people = stats.users_by_organisation(span)
    live_since = stats.live_since()
    answers = stats.feedback_by_organisation(span)
    rows = []
    for org in Organisation.objects.order_by("name").prefetch_related("checklist"):
        counts = people.get(org.cvr, stats.UserCounts())
        summary = answers.get(org.pk)
        rows.append(
            {
                "organisation": org,
                "steps_done": len(Step.values) - len(org.open_steps()),
                "live_since": live_since.get(org.pk),
                "users": counts,
                "lookups": lookups.get(org.cvr, 0),
                "feedback": summary,
            }
        )
    return rows


def _lookups_chart(weeks: list[stats.Week]) -> Any:
    total = sum(week.lookups for week in weeks)
    return svg.columns(
        [(week.label[5:], week.lookups) for week in weeks],
        title=_("Lookups per week"),
        description=_("%(total)d lookups in %(weeks)d weeks; at most %(most)d in one week.")
        % {
            "total": total,
            "weeks": len(weeks),
            "most": max((week.lookups for week in weeks), default=0),
        },
    )


def _sections_chart(sections: list[stats.SectionUse]) -> Any:
    return svg.bars(
        [(use.title, use.count) for use in sections],
        title=_("Sections used"),
        description=_("Pages shown per section of the record; %(count)d sections were used.")
        % {"count": len(sections)},
    )


# --- CSV -------------------------------------------------------------------------------------


def _csv_response(
    request: HttpRequest, name: str, header: list[str], rows: Iterable[list[Any]]
) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([csv_safe(cell) if isinstance(cell, str) else cell for cell in row])
        count += 1
    # Audited once the rows are counted, before anything leaves.
    audit.record(request, audit.Action.USAGE_EXPORT, details={"report": name, "rows": count})
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime(timezone.now()).strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="indblik-{name}-{stamp}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
@staff_view
def rollout_csv(request: HttpRequest) -> HttpResponse:
    """The per-organisation rollout table as CSV (audited)."""
    span = stats.period(stats.parse_weeks(request.GET.get("weeks")))
    header = [
        "cvr",
        "name",
        "type",
        "municipality_code",
        "status",
        "steps_done",
        "live_since",
        "users",
        "active_users",
        "users_signed_in_in_period",
        "lookups_in_period",
        "feedback_answers",
        "feedback_mean",
        "period_start",
        "weeks",
    ]

    def rows() -> Iterable[list[Any]]:
        for row in rollout_rows(span):
            org = row["organisation"]
            summary = row["feedback"]
            yield [
                org.cvr,
                org.name,
                org.type,
                org.municipality_code,
                org.status,
                row["steps_done"],
                row["live_since"].date().isoformat() if row["live_since"] else "",
                row["users"].total,
                row["users"].active,
                row["users"].signed_in,
                row["lookups"],
                summary.answers if summary else 0,
                f"{summary.mean:.2f}" if summary and summary.mean is not None else "",
                span.starts[0].isoformat(),
                span.weeks,
            ]

    return _csv_response(request, "rollout", header, rows())


@require_safe
@staff_view
def feedback_csv(request: HttpRequest) -> HttpResponse:
    """Every feedback answer of the period as CSV, without who gave it (audited)."""
    span = stats.period(stats.parse_weeks(request.GET.get("weeks")))
    header = ["date", "week", "organisation_cvr", "organisation_name", "score", "comment"]
    answers = (
        Feedback.objects.filter(at__gte=span.since).select_related("organisation").order_by("at")
    )

    def rows() -> Iterable[list[Any]]:
        for answer in answers:
            local = timezone.localtime(answer.at, stats.zone())
            yield [
                local.date().isoformat(),
                stats.week_label(local.date()),
                answer.organisation.cvr,
                answer.organisation.name,
                "" if answer.score is None else answer.score,
                answer.comment,
            ]

    return _csv_response(request, "feedback", header, rows())


# --- the chart's feedback prompt ------------------------------------------------------------


def _back(request: HttpRequest) -> str:
    """Return the chart page the answer came from (only a chart page), else the front page."""
    candidate = request.POST.get("next", "")
    if candidate.startswith("/chart/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return "/"


@require_POST
def answer(request: HttpRequest) -> HttpResponse:
    """Store an answer to "How useful was this lookup?" (or "not now"), then go back."""
    if not request.user.is_authenticated:
        raise Http404  # the prompt is shown to signed-in users only
    back = _back(request)
    raw = request.POST.get("score", "")
    score = int(raw) if raw in {str(value) for value in SCORES} else None
    if score is None and "decline" not in request.POST:
        return HttpResponseRedirect(back)  # nothing chosen: ask again next time
    if feedback.may_answer(request.user):
        stored = feedback.submit(
            request.user,
            score=score,
            comment=request.POST.get("comment", ""),
        )
        if stored is not None and score is not None:
            request.session[feedback.THANKS_SESSION_KEY] = True
        # Answered (or not due after all): the next pages of this session do not ask again.
        feedback.answered(request)
    response = HttpResponseRedirect(back)
    add_never_cache_headers(response)
    return response
