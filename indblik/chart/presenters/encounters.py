"""Contacts: admissions, outpatient visits and emergency contacts, newest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput, common
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind")
LIMIT = 30

# v3 ActCode encounter classes (and a few SNOMED/local spellings) → what a nurse calls them.
CLASSES: dict[str, Any] = {
    "IMP": _("Admission"),
    "ACUTE": _("Acute admission"),
    "NONAC": _("Admission"),
    "AMB": _("Outpatient visit"),
    "EMER": _("Emergency contact"),
    "HH": _("Home visit"),
    "VR": _("Virtual contact"),
    "OBSENC": _("Observation stay"),
    "PRENC": _("Pre-admission"),
    "SS": _("Short stay"),
    "FLD": _("Field visit"),
}
INPATIENT = frozenset({"IMP", "ACUTE", "NONAC", "OBSENC", "SS"})


@dataclass(frozen=True)
class Contact:
    """One encounter as a row."""

    resource_id: str
    kind: str
    kind_code: str
    inpatient: bool
    type: str
    start: str
    end: str
    ongoing: bool
    days: int | None
    department: str
    location: str
    reason: str
    practitioners: str
    status: str
    status_code: str
    tone: str
    origin: str
    discharged_to: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [
        SectionQuery(
            Section.ENCOUNTERS,
            limit=LIMIT,
            before=filters.before,
            since=filters.since,
            until=filters.until,
        )
    ]


def present(page: PageInput) -> dict[str, Any]:
    result = page.results.get(Section.ENCOUNTERS)
    rows, cursor = common.keyset_page(
        list(result.resources) if result else [], bool(result and result.has_more)
    )
    contacts = [
        contact
        for contact in (contact_row(resource, page.now) for resource in common.visible(rows))
        if common.matches(page.filters.department, contact.department, contact.location)
        and common.matches(page.filters.kind, contact.kind, contact.type)
    ]
    return {
        "contacts": contacts,
        "next_before": cursor,
        "empty": not contacts,
        "resource_ids": [f"Encounter/{contact.resource_id}" for contact in contacts],
    }


def encounter_class(resource: Mapping[str, Any]) -> str:
    """The encounter's class code (``IMP``, ``AMB`` …), '' when it has none."""
    value = resource.get("class")
    if isinstance(value, Mapping) and isinstance(value.get("code"), str):
        return value["code"].upper()
    return ""


def is_inpatient(resource: Mapping[str, Any]) -> bool:
    """True for admissions (inpatient classes)."""
    return encounter_class(resource) in INPATIENT


def contact_row(resource: Mapping[str, Any], now: dt.datetime) -> Contact:
    """One Encounter as a row (tolerates every missing field)."""
    code = encounter_class(resource)
    period = resource.get("period")
    period = period if isinstance(period, Mapping) else {}
    start, end = period.get("start"), period.get("end")
    status_code = common.status_code(resource)
    ongoing = not end and status_code in ("in-progress", "arrived", "onleave", "triaged")
    days = None
    start_moment = common.local(start)
    end_moment = common.local(end) if end else (now if ongoing else None)
    if code in INPATIENT and start_moment and end_moment:
        days = max((end_moment.date() - start_moment.date()).days, 0)
    label = CLASSES.get(code)
    hospitalization = resource.get("hospitalization")
    hospitalization = hospitalization if isinstance(hospitalization, Mapping) else {}
    locations = [
        common.reference_text(item.get("location"))
        for item in resource.get("location") or ()
        if isinstance(item, Mapping)
    ]
    practitioners = [
        common.reference_text(item.get("individual"))
        for item in resource.get("participant") or ()
        if isinstance(item, Mapping)
    ]
    kind = str(label) if label is not None else (_coding_display(resource.get("class")) or "")
    return Contact(
        resource_id=str(resource.get("id", "")),
        kind=kind,
        kind_code=code,
        inpatient=code in INPATIENT,
        type=common.concept_text(resource.get("type")),
        start=common.date_text(start),
        end=common.date_text(end),
        ongoing=ongoing,
        days=days,
        department=common.reference_text(resource.get("serviceProvider")),
        location=", ".join(text for text in locations if text),
        reason=common.display_text(resource.get("reasonCode"))
        or common.reference_text(resource.get("reasonReference")),
        practitioners=", ".join(text for text in practitioners if text),
        status=common.status_label(status_code),
        status_code=status_code,
        tone=common.status_tone(status_code),
        origin=common.reference_text(hospitalization.get("origin")),
        discharged_to=common.concept_text(hospitalization.get("dischargeDisposition"))
        or common.reference_text(hospitalization.get("destination")),
    )


def _coding_display(coding: Any) -> str:
    return common.coding_text(coding)
