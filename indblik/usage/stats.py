"""Counts for the usage pages, from the audit log and the registry. Counts only: no patients.

A *lookup* is one opened access to one citizen's record: an ``access:decision:allow`` event
(the launch's policy decision). *Sections used* counts the record pages shown, searched,
printed or whose documents were opened, by section. Weeks are ISO weeks (Monday to Sunday)
in Danish time; a period is the current week and the ``weeks - 1`` before it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Avg, Count, Min, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from indblik.audit import Action
from indblik.audit.models import AuditEvent
from indblik.identity.models import User, UserKind
from indblik.organisations.models import Organisation, OrganisationType, Status, StatusChange
from indblik.records.sections import TITLES
from indblik.usage.models import Feedback

LOOKUP = Action.ACCESS_ALLOWED
PAGE_ACTIONS = (
    Action.PATIENT_READ,
    Action.SECTION_SEARCH,
    Action.PAGE_PRINT,
    Action.DOCUMENT_VIEW,
    Action.DOCUMENT_DOWNLOAD,
)
PERIODS = (4, 12, 26, 52)
DEFAULT_WEEKS = 12
HIGH_SCORES = (4, 5)  # "high" and "very high" use


def zone() -> ZoneInfo:
    """Return the time zone weeks are counted in (``TIME_ZONE``)."""
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class Period:
    """The weeks a report covers: ``starts`` are the Mondays, oldest first."""

    starts: tuple[dt.date, ...]
    since: dt.datetime

    @property
    def weeks(self) -> int:
        return len(self.starts)


def period(weeks: int = DEFAULT_WEEKS, *, now: dt.datetime | None = None) -> Period:
    """Return the current week and the ``weeks - 1`` before it."""
    today = (now or timezone.now()).astimezone(zone()).date()
    monday = today - dt.timedelta(days=today.weekday())
    starts = tuple(monday - dt.timedelta(weeks=back) for back in range(weeks - 1, -1, -1))
    since = dt.datetime.combine(starts[0], dt.time.min, tzinfo=zone())
    return Period(starts=starts, since=since)


def parse_weeks(value: str | None) -> int:
    """Return the period the query string asks for (one of PERIODS), else the default."""
    return int(value) if value in {str(weeks) for weeks in PERIODS} else DEFAULT_WEEKS


def week_label(start: dt.date) -> str:
    """Return ``2025-W11`` for the week starting on ``start``."""
    year, week, _day = start.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Week:
    """One week's lookups and how many different users made them."""

    start: dt.date
    lookups: int
    users: int

    @property
    def label(self) -> str:
        return week_label(self.start)


def _by_week(rows: Iterable[dict[str, object]]) -> dict[dt.date, dict[str, object]]:
    found: dict[dt.date, dict[str, object]] = {}
    for row in rows:
        week = row["week"]
        if isinstance(week, dt.datetime):
            found[week.astimezone(zone()).date()] = row
    return found


def lookups_per_week(span: Period, *, cvr: str | None = None) -> list[Week]:
    """Return every week of ``span`` with its lookups (zero weeks included)."""
    events = AuditEvent.objects.filter(action=LOOKUP, at__gte=span.since)
    if cvr is not None:
        events = events.filter(organisation_cvr=cvr)
    rows = _by_week(
        events.annotate(week=TruncWeek("at", tzinfo=zone()))
        .values("week")
        .annotate(lookups=Count("id"), users=Count("user_id", distinct=True))
        .order_by()
    )
    weeks = []
    for start in span.starts:
        row = rows.get(start, {})
        weeks.append(
            Week(start=start, lookups=int(row.get("lookups", 0)), users=int(row.get("users", 0)))  # type: ignore[call-overload]
        )
    return weeks


@dataclass(frozen=True)
class SectionUse:
    """How often one section of the record was used."""

    section: str
    title: str
    count: int


def sections_used(span: Period, *, cvr: str | None = None) -> list[SectionUse]:
    """Return the sections used in ``span``, most used first."""
    events = AuditEvent.objects.filter(action__in=PAGE_ACTIONS, at__gte=span.since).exclude(
        section=""
    )
    if cvr is not None:
        events = events.filter(organisation_cvr=cvr)
    rows = events.values("section").annotate(count=Count("id")).order_by("-count", "section")
    titles = {section.value: str(title) for section, title in TITLES.items()}
    return [
        SectionUse(
            section=row["section"],
            title=titles.get(row["section"], row["section"]),
            count=row["count"],
        )
        for row in rows
    ]


def lookups_by_organisation(span: Period) -> dict[str, int]:
    """Return the lookups in ``span`` per organisation CVR."""
    rows = (
        AuditEvent.objects.filter(action=LOOKUP, at__gte=span.since)
        .values("organisation_cvr")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {row["organisation_cvr"]: row["count"] for row in rows}


@dataclass(frozen=True)
class UserCounts:
    """An organisation's users: all, active (not deactivated) and signed in during a period."""

    total: int = 0
    active: int = 0
    signed_in: int = 0


def users_by_organisation(span: Period) -> dict[str, UserCounts]:
    """Return the user counts of every organisation that has users, by CVR."""
    rows = (
        User.objects.filter(kind=UserKind.PROFESSIONAL)
        .exclude(organisation_cvr="")
        .values("organisation_cvr")
        .annotate(
            total=Count("id"),
            active=Count("id", filter=Q(is_active=True)),
            signed_in=Count("id", filter=Q(last_login__gte=span.since)),
        )
        .order_by()
    )
    return {
        row["organisation_cvr"]: UserCounts(row["total"], row["active"], row["signed_in"])
        for row in rows
    }


def live_since() -> dict[int, dt.datetime]:
    """Return when each organisation first went live, by organisation id."""
    rows = (
        StatusChange.objects.filter(to_status=Status.LIVE)
        .values("organisation_id")
        .annotate(first=Min("at"))
        .order_by()
    )
    return {row["organisation_id"]: row["first"] for row in rows}


@dataclass(frozen=True)
class TypeStatus:
    """How many organisations of one type are in each status."""

    type: str
    label: str
    onboarding: int
    live: int
    suspended: int

    @property
    def counts(self) -> tuple[int, int, int]:
        return (self.onboarding, self.live, self.suspended)

    @property
    def total(self) -> int:
        return sum(self.counts)


def organisations_by_type_and_status() -> list[TypeStatus]:
    """Return every organisation type with its organisations per status."""
    counts: dict[tuple[str, str], int] = {
        (row["type"], row["status"]): row["count"]
        for row in Organisation.objects.values("type", "status")
        .annotate(count=Count("id"))
        .order_by()
    }
    return [
        TypeStatus(
            type=value,
            label=str(label),
            onboarding=counts.get((value, Status.ONBOARDING), 0),
            live=counts.get((value, Status.LIVE), 0),
            suspended=counts.get((value, Status.SUSPENDED), 0),
        )
        for value, label in OrganisationType.choices
    ]


# --- feedback -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackSummary:
    """Answers to the feedback prompt: how many, how they scored."""

    answers: int
    declined: int
    mean: float | None
    distribution: tuple[int, int, int, int, int]

    @property
    def high_share(self) -> float | None:
        """Return the share of answers scoring 4 or 5 (high or very high use), 0-100."""
        if not self.answers:
            return None
        return 100 * (self.distribution[3] + self.distribution[4]) / self.answers


def feedback_summary(answers: QuerySet[Feedback]) -> FeedbackSummary:
    """Summarise ``answers`` (any filtered feedback queryset)."""
    totals = answers.aggregate(
        answers=Count("id", filter=Q(score__isnull=False)),
        declined=Count("id", filter=Q(score__isnull=True)),
        mean=Avg("score"),
        **{f"s{score}": Count("id", filter=Q(score=score)) for score in range(1, 6)},
    )
    return FeedbackSummary(
        answers=totals["answers"],
        declined=totals["declined"],
        mean=totals["mean"],
        distribution=tuple(totals[f"s{score}"] for score in range(1, 6)),
    )


@dataclass(frozen=True)
class FeedbackWeek:
    """One week's answers and their mean score."""

    start: dt.date
    answers: int
    mean: float | None

    @property
    def label(self) -> str:
        return week_label(self.start)


def feedback_per_week(span: Period, *, cvr: str | None = None) -> list[FeedbackWeek]:
    """Return every week of ``span`` with its answers and mean score."""
    answers = Feedback.objects.filter(at__gte=span.since, score__isnull=False)
    if cvr is not None:
        answers = answers.filter(organisation__cvr=cvr)
    rows = _by_week(
        answers.annotate(week=TruncWeek("at", tzinfo=zone()))
        .values("week")
        .annotate(answers=Count("id"), mean=Avg("score"))
        .order_by()
    )
    return [
        FeedbackWeek(
            start=start,
            answers=int(rows.get(start, {}).get("answers", 0)),  # type: ignore[call-overload]
            mean=rows.get(start, {}).get("mean"),  # type: ignore[arg-type]
        )
        for start in span.starts
    ]


def feedback_by_organisation(span: Period) -> dict[int, FeedbackSummary]:
    """Return the feedback summary of ``span`` per organisation id (those with answers)."""
    grouped: dict[int, list[int | None]] = defaultdict(list)
    for organisation_id, score in Feedback.objects.filter(at__gte=span.since).values_list(
        "organisation_id", "score"
    ):
        grouped[organisation_id].append(score)
    summaries = {}
    for organisation_id, scores in grouped.items():
        given = [score for score in scores if score is not None]
        summaries[organisation_id] = FeedbackSummary(
            answers=len(given),
            declined=len(scores) - len(given),
            mean=sum(given) / len(given) if given else None,
            distribution=tuple(given.count(score) for score in range(1, 6)),  # type: ignore[arg-type]
        )
    return summaries
