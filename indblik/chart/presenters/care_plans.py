"""Care plans and their goals: what the hospital plans for the citizen, and what it aims at.

Goals referenced by a plan are shown inside it; goals no plan on the page refers to are listed
on their own. Active plans come first. Plans name the problems they address by reference; the
section also reads the diagnosis list (one bounded query) to name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import concept_text, status_code
from indblik.chart.presenters.rows import (
    When,
    as_list,
    concepts_text,
    condition_names,
    first_when,
    get,
    join,
    key_of,
    matches,
    named_keys,
    named_references,
    newest_first,
    notes_text,
    page_of,
    people_and_places,
    references_text,
    section_query,
    status_of,
    target_key,
    text_of,
    value_text,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
LIMIT = 50
DIAGNOSES_LIMIT = 100

ACTIVITY_LABELS = {
    "not-started": _("not started"),
    "scheduled": _("planned"),
    "completed": _("done"),
}
ACTIVITY_TONES = {"not-started": "pending", "scheduled": "pending"}
GOAL_LABELS = {
    "accepted": _("accepted"),
    "rejected": _("rejected"),
    "completed": _("completed"),
}
GOAL_TONES = {"accepted": "active", "rejected": "cancelled", "proposed": "pending"}
RUNNING = frozenset({"draft", "active", "on-hold"})


@dataclass(frozen=True)
class Activity:
    text: str
    status: str
    tone: str
    when: str  # scheduled date or period as text
    performer: str


@dataclass(frozen=True)
class GoalRow:
    id: str
    text: str
    status: str
    tone: str
    achievement: str
    date: When | None  # start
    due: When | None
    targets: str
    note: str


@dataclass(frozen=True)
class PlanRow:
    id: str
    ids: tuple[str, ...]
    title: str
    description: str
    category: str
    status: str
    tone: str
    running: bool
    date: When | None
    end: When | None
    author: str
    department: str
    addresses: str
    activities: tuple[Activity, ...]
    goals: tuple[GoalRow, ...]
    note: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [
        section_query(Section.CARE_PLANS, filters, LIMIT),
        SectionQuery(section=Section.DIAGNOSES, limit=DIAGNOSES_LIMIT),
    ]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    names = condition_names(page)
    goals = {
        key_of(resource): resource
        for resource in current.resources
        if resource.get("resourceType") == "Goal"
        and key_of(resource)
        and resource.get("lifecycleStatus") != "entered-in-error"
    }
    used: set[str] = set()
    plans: list[PlanRow] = []
    for resource in current.resources:
        if resource.get("resourceType") != "CarePlan":
            continue
        own = [
            goals[target_key(ref)]
            for ref in as_list(resource.get("goal"))
            if target_key(ref) in goals
        ]
        used.update(key_of(goal) for goal in own)
        plan = _plan(resource, own, names)
        if _plan_wanted(plan, page.filters):
            plans.append(plan)
    loose = [
        goal
        for goal in (_goal(resource) for key, resource in goals.items() if key not in used)
        if matches(page.filters, kind=[goal.text], text=[goal.targets, goal.note])
    ]
    plans = newest_first(plans)
    running = [plan for plan in plans if plan.running]
    closed = [plan for plan in plans if not plan.running]
    loose = newest_first(loose)
    resource_ids = [key for plan in plans for key in plan.ids if key]
    resource_ids += [goal.id for goal in loose if goal.id]
    return {
        "running_plans": running,
        "closed_plans": closed,
        "loose_goals": loose,
        "resource_ids": resource_ids,
        "next_before": current.next_before,
        "empty": not (plans or loose),
    }


def _plan(
    resource: Mapping[str, Any], goals: list[Mapping[str, Any]], names: Mapping[str, str]
) -> PlanRow:
    code = status_code(resource)
    label, tone = status_of(code)
    people, places = people_and_places(
        [resource.get("author"), *as_list(resource.get("contributor"))]
    )
    goal_rows = tuple(_goal(goal) for goal in goals)
    addresses = resource.get("addresses")
    return PlanRow(
        id=key_of(resource),
        ids=(
            key_of(resource),
            *(goal.id for goal in goal_rows),
            *named_keys(addresses, names),
        ),
        title=text_of(resource.get("title"))
        or concepts_text(resource.get("category"))
        or str(_("Care plan")),
        description=text_of(resource.get("description")),
        category=concepts_text(resource.get("category")),
        status=label,
        tone=tone,
        running=code in RUNNING or not code,
        date=first_when(get(resource, "period", "start"), resource.get("created")),
        end=first_when(get(resource, "period", "end")),
        author=people,
        department=join(places, references_text(resource.get("careTeam"))),
        addresses=named_references(addresses, names),
        activities=tuple(
            activity
            for activity in (_activity(item) for item in as_list(resource.get("activity")))
            if activity is not None
        ),
        goals=goal_rows,
        note=notes_text(resource.get("note")),
    )


def _activity(item: Any) -> Activity | None:
    if not isinstance(item, Mapping):
        return None
    found = item.get("detail")
    detail: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    code = text_of(detail.get("status"))
    if code == "entered-in-error":
        return None
    text = (
        text_of(detail.get("description"))
        or concept_text(detail.get("code"))
        or references_text(item.get("reference"))
        or concepts_text(item.get("outcomeCodeableConcept"))
    )
    if not text:
        return None
    label, tone = status_of(code, ACTIVITY_LABELS)
    scheduled = join(
        value_text({"valuePeriod": detail.get("scheduledPeriod")}),
        text_of(detail.get("scheduledString")),
    )
    return Activity(
        text=text,
        status=label,
        tone=ACTIVITY_TONES.get(code, tone),
        when=scheduled,
        performer=references_text(detail.get("performer")),
    )


def _goal(resource: Mapping[str, Any]) -> GoalRow:
    code = text_of(resource.get("lifecycleStatus"))
    label, tone = status_of(code, GOAL_LABELS)
    targets = []
    dues = []
    for target in as_list(resource.get("target")):
        if not isinstance(target, Mapping):
            continue
        detail = value_text(
            {key.replace("detail", "value"): value for key, value in target.items()}
        )
        measure = concept_text(target.get("measure"))
        if detail or measure:
            targets.append(join(measure, detail, sep=": "))
        dues.append(target.get("dueDate"))
    return GoalRow(
        id=key_of(resource),
        text=concept_text(resource.get("description")) or str(_("Goal without a description")),
        status=label,
        tone=GOAL_TONES.get(code, tone),
        achievement=concept_text(resource.get("achievementStatus")),
        date=first_when(resource.get("startDate"), resource.get("statusDate")),
        due=first_when(*dues),
        targets="; ".join(targets),
        note=notes_text(resource.get("note")),
    )


def _plan_wanted(plan: PlanRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[plan.title, plan.category],
        department=[plan.author, plan.department],
        text=[
            plan.description,
            plan.addresses,
            plan.note,
            *(activity.text for activity in plan.activities),
            *(goal.text for goal in plan.goals),
        ],
    )
