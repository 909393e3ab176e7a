"""Health episodes (courses of care: a cancer pathway, a stroke course): which are running.

Episodes name their diagnoses by reference only; the section also reads the diagnosis list
(one bounded query) to name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import status_code
from indblik.chart.presenters.rows import (
    When,
    as_list,
    concepts_text,
    condition_names,
    days_between,
    first_when,
    get,
    join,
    key_of,
    matches,
    named_keys,
    named_references,
    newest_first,
    page_of,
    people_and_places,
    section_query,
    status_of,
    when,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
LIMIT = 30
DIAGNOSES_LIMIT = 100

LABELS = {"onhold": _("on hold"), "finished": _("finished"), "active": _("ongoing")}
RUNNING = frozenset({"planned", "waitlist", "active", "onhold"})


@dataclass(frozen=True)
class EpisodeRow:
    """One course of care."""

    id: str
    ids: tuple[str, ...]  # the episode and the diagnoses named from the diagnosis list
    name: str
    status: str
    tone: str
    running: bool
    date: When | None  # start
    end: When | None
    days: int | None  # length so far (running) or in all (finished)
    department: str
    care_manager: str
    team: str
    diagnoses: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [
        section_query(Section.EPISODES, filters, LIMIT),
        SectionQuery(section=Section.DIAGNOSES, limit=DIAGNOSES_LIMIT),
    ]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    names = condition_names(page)
    now = when(page.now)
    rows = [
        _row(resource, names, now)
        for resource in current.resources
        if resource.get("resourceType") == "EpisodeOfCare"
    ]
    rows = newest_first(row for row in rows if _wanted(row, page.filters))
    running = [row for row in rows if row.running]
    closed = [row for row in rows if not row.running]
    return {
        "running": running,
        "closed": closed,
        "resource_ids": [key for row in rows for key in row.ids if key],
        "next_before": current.next_before,
        "empty": not rows,
    }


def _row(resource: Mapping[str, Any], names: Mapping[str, str], now: When | None) -> EpisodeRow:
    code = status_code(resource)
    label, tone = status_of(code, LABELS)
    start = first_when(get(resource, "period", "start"))
    end = first_when(get(resource, "period", "end"))
    running = code in RUNNING or (not code and end is None)
    until = now if running else end
    people, places = people_and_places(resource.get("managingOrganization"))
    manager, _manager_places = people_and_places(resource.get("careManager"))
    diagnoses = sorted(
        (item for item in as_list(resource.get("diagnosis")) if isinstance(item, Mapping)),
        key=_rank,
    )
    return EpisodeRow(
        id=key_of(resource),
        ids=(key_of(resource), *named_keys(diagnoses, names)),
        name=concepts_text(resource.get("type")) or str(_("Course of care")),
        status=label,
        tone=tone,
        running=running,
        date=start,
        end=end,
        days=(
            days_between(start, until)
            if start and until and not start.partial and not until.partial
            else None
        ),
        department=join(places, people),
        care_manager=manager,
        team=named_references(resource.get("team"), {}),
        diagnoses=named_references(diagnoses, names),
    )


def _rank(diagnosis: Mapping[str, Any]) -> int:
    rank = diagnosis.get("rank")
    return rank if isinstance(rank, int) and not isinstance(rank, bool) else 99


def _wanted(row: EpisodeRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.name],
        department=[row.department, row.care_manager, row.team],
        text=[row.diagnoses, row.status],
    )
