"""Procedures: what is ordered or under way, and what has been done (or cancelled).

An order (ServiceRequest) and the Procedure that carried it out (``basedOn``) are one row:
the nurse wants to know whether the blood culture was taken, not that two records exist.
Orders still open come first, in their own table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import concept_text, reference_text, status_code
from indblik.chart.presenters.rows import (
    When,
    as_list,
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
    target_key,
    text_of,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
LIMIT = 50

OPEN_TONES = frozenset({"pending", "active"})


@dataclass(frozen=True)
class ProcedureRow:
    """One procedure, with its order when both are known."""

    id: str  # Type/id of the row's main resource
    ids: tuple[str, ...]  # every resource shown in the row
    name: str
    status: str
    tone: str
    date: When | None  # performed, else planned, else ordered
    date_kind: str  # "performed", "planned" or "ordered"
    ordered: When | None
    requester: str
    performer: str
    department: str
    body_site: str
    reason: str
    status_reason: str  # why it was not done, stopped or cancelled
    outcome: str
    priority: str
    note: str

    @property
    def is_open(self) -> bool:
        return self.tone in OPEN_TONES


def queries(filters: Filters) -> list[SectionQuery]:
    return [section_query(Section.PROCEDURES, filters, LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    orders = {
        key_of(resource): resource
        for resource in current.resources
        if resource.get("resourceType") == "ServiceRequest" and key_of(resource)
    }
    used: set[str] = set()
    rows: list[ProcedureRow] = []
    for resource in current.resources:
        if resource.get("resourceType") != "Procedure":
            continue
        order = next(
            (
                orders[target_key(ref)]
                for ref in as_list(resource.get("basedOn"))
                if target_key(ref) in orders
            ),
            None,
        )
        if order is not None:
            used.add(key_of(order))
        rows.append(_procedure_row(resource, order))
    for key, order in orders.items():
        if key not in used:
            rows.append(_order_row(order))
    rows = [row for row in rows if _wanted(row, page.filters)]
    rows = newest_first(rows)
    open_rows = [row for row in rows if row.is_open]
    closed_rows = [row for row in rows if not row.is_open]
    return {
        "open_rows": open_rows,
        "closed_rows": closed_rows,
        "resource_ids": [key for row in rows for key in row.ids],
        "next_before": current.next_before,
        "empty": not rows,
    }


def _wanted(row: ProcedureRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.name],
        department=[row.department, row.performer, row.requester],
        text=[row.reason, row.note, row.body_site, row.outcome, row.status],
    )


def _procedure_row(resource: Mapping[str, Any], order: Mapping[str, Any] | None) -> ProcedureRow:
    code = status_code(resource)
    label, tone = status_of(code)
    performers = as_list(resource.get("performer"))
    people, places = people_and_places(
        [*performers, *(get(item, "onBehalfOf") for item in performers)]
    )
    order_people, order_places = people_and_places((order or {}).get("requester"))
    performed = first_when(
        resource.get("performedDateTime"), get(resource, "performedPeriod", "start")
    )
    planned = _planned(order) if order else None
    ordered = first_when((order or {}).get("authoredOn"))
    date, kind = _date_of(performed, planned, ordered)
    name = concept_text(resource.get("code")) or concept_text((order or {}).get("code"))
    ids = tuple(key for key in (key_of(resource), key_of(order or {})) if key)
    return ProcedureRow(
        id=key_of(resource),
        ids=ids,
        name=name or str(_("Procedure without a name")),
        status=label,
        tone=tone,
        date=date,
        date_kind=kind,
        ordered=ordered,
        requester=order_people or order_places,
        performer=people,
        department=join(places, reference_text(resource.get("location")), _order_department(order)),
        body_site=concepts_text(resource.get("bodySite"))
        or concepts_text((order or {}).get("bodySite")),
        reason=join(
            concepts_text(resource.get("reasonCode")),
            references_text(resource.get("reasonReference")),
            concepts_text((order or {}).get("reasonCode")),
        ),
        status_reason=concept_text(resource.get("statusReason")),
        outcome=join(concept_text(resource.get("outcome")), notes_text(resource.get("report"))),
        priority=_priority((order or {}).get("priority")),
        note=join(
            notes_text(resource.get("note")), notes_text((order or {}).get("note")), sep="\n\n"
        ),
    )


def _order_row(order: Mapping[str, Any]) -> ProcedureRow:
    code = status_code(order)
    # An open order is "ordered" (pending), not "active": nothing has happened to the patient.
    label, tone = status_of("requested" if code == "active" else code)
    people, places = people_and_places(order.get("requester"))
    planned = _planned(order)
    ordered = first_when(order.get("authoredOn"))
    date, kind = _date_of(None, planned, ordered)
    return ProcedureRow(
        id=key_of(order),
        ids=tuple(key for key in (key_of(order),) if key),
        name=concept_text(order.get("code")) or str(_("Procedure without a name")),
        status=label,
        tone=tone,
        date=date,
        date_kind=kind,
        ordered=ordered,
        requester=people or places,
        performer="",
        department=_order_department(order),
        body_site=concepts_text(order.get("bodySite")),
        reason=join(
            concepts_text(order.get("reasonCode")), references_text(order.get("reasonReference"))
        ),
        status_reason=concept_text(get(order, "statusReason")),
        outcome="",
        priority=_priority(order.get("priority")),
        note=join(
            notes_text(order.get("note")), text_of(order.get("patientInstruction")), sep="\n\n"
        ),
    )


def _planned(order: Mapping[str, Any] | None) -> When | None:
    if not order:
        return None
    return first_when(order.get("occurrenceDateTime"), get(order, "occurrencePeriod", "start"))


def _date_of(
    performed: When | None, planned: When | None, ordered: When | None
) -> tuple[When | None, str]:
    if performed is not None:
        return performed, "performed"
    if planned is not None:
        return planned, "planned"
    return ordered, "ordered" if ordered else ""


def _order_department(order: Mapping[str, Any] | None) -> str:
    if not order:
        return ""
    _people, places = people_and_places(order.get("performer"))
    return join(places, references_text(order.get("locationReference")))


PRIORITIES = {
    "routine": _("routine"),
    "urgent": _("urgent"),
    "asap": _("as soon as possible"),
    "stat": _("immediately"),
}


def _priority(code: Any) -> str:
    """Only a priority above routine is worth the nurse's attention."""
    if not isinstance(code, str) or code in ("", "routine"):
        return ""
    label = PRIORITIES.get(code)
    return str(label) if label is not None else code
