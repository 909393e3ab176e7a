"""Referrals: from whom, to whom, why, how urgent, and where each stands.

Open referrals (sent, not yet completed) come first: those are the ones a municipal nurse may
be the receiver of, or waiting on.
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
    concepts_text,
    first_when,
    get,
    join,
    key_of,
    matches,
    newest_first,
    notes_text,
    page_of,
    people_and_places,
    references_text,
    section_query,
    status_of,
    text_of,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
LIMIT = 30

LABELS = {"active": _("open"), "completed": _("completed")}
OPEN_STATUSES = frozenset({"draft", "active", "on-hold"})

PRIORITIES = {
    "routine": (_("routine"), ""),
    "urgent": (_("urgent"), "active"),
    "asap": (_("as soon as possible"), "active"),
    "stat": (_("immediately"), "cancelled"),
}


@dataclass(frozen=True)
class ReferralRow:
    """One referral."""

    id: str
    name: str
    status: str
    tone: str
    is_open: bool
    date: When | None  # written (authoredOn), else the planned date
    planned: When | None
    sender: str  # the referring person and department
    receiver: str
    reason: str
    priority: str
    priority_tone: str  # '' for routine: only urgency is worth a colour
    note: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [section_query(Section.REFERRALS, filters, LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    rows = [
        _row(resource)
        for resource in current.resources
        if resource.get("resourceType") == "ServiceRequest"
    ]
    rows = newest_first(row for row in rows if _wanted(row, page.filters))
    return {
        "open_referrals": [row for row in rows if row.is_open],
        "closed_referrals": [row for row in rows if not row.is_open],
        "resource_ids": [row.id for row in rows if row.id],
        "next_before": current.next_before,
        "empty": not rows,
    }


def _row(resource: Mapping[str, Any]) -> ReferralRow:
    code = status_code(resource)
    label, tone = status_of(code, LABELS)
    requester_people, requester_places = people_and_places(resource.get("requester"))
    performer_people, performer_places = people_and_places(resource.get("performer"))
    priority = resource.get("priority")
    priority_label, priority_tone = PRIORITIES.get(
        priority if isinstance(priority, str) else "", ("", "")
    )
    return ReferralRow(
        id=key_of(resource),
        name=concept_text(resource.get("code"))
        or concepts_text(resource.get("category"))
        or str(_("Referral")),
        status=label,
        tone=tone,
        is_open=code in OPEN_STATUSES,
        date=first_when(
            resource.get("authoredOn"),
            resource.get("occurrenceDateTime"),
            get(resource, "occurrencePeriod", "start"),
        ),
        planned=first_when(
            resource.get("occurrenceDateTime"), get(resource, "occurrencePeriod", "start")
        ),
        sender=join(requester_places, requester_people),
        receiver=join(
            performer_places,
            performer_people,
            references_text(resource.get("locationReference")),
        ),
        reason=join(
            concepts_text(resource.get("reasonCode")),
            references_text(resource.get("reasonReference")),
        ),
        priority=str(priority_label) if priority_label else _other_priority(priority),
        priority_tone=priority_tone,
        note=join(
            notes_text(resource.get("note")),
            text_of(resource.get("patientInstruction")),
            sep="\n\n",
        ),
    )


def _other_priority(code: Any) -> str:
    return code if isinstance(code, str) else ""


def _wanted(row: ReferralRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.name],
        department=[row.sender, row.receiver],
        text=[row.reason, row.note, row.status, row.priority],
    )
