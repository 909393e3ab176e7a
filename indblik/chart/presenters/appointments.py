"""Upcoming appointments, soonest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from indblik.chart.presenters import Filters, PageInput, common
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

LIMIT = 50
WEEKDAYS = (
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
)
# HL7 v2 table 0276 appointment types, whose displays are English.
APPOINTMENT_TYPES = {
    "ROUTINE": gettext_lazy("Routine appointment"),
    "WALKIN": gettext_lazy("Walk-in"),
    "CHECKUP": gettext_lazy("Check-up"),
    "FOLLOWUP": gettext_lazy("Follow-up"),
    "EMERGENCY": gettext_lazy("Emergency"),
}


@dataclass(frozen=True)
class Appointment:
    """One appointment as the page shows it."""

    resource_id: str
    weekday: str
    start: str
    end_time: str
    what: str
    kind: str
    department: str
    location: str
    practitioners: str
    status: str
    status_code: str
    tone: str
    cancelled: bool
    comment: str
    instruction: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [SectionQuery(Section.APPOINTMENTS, limit=LIMIT, upcoming=True)]


def present(page: PageInput) -> dict[str, Any]:
    result = page.results.get(Section.APPOINTMENTS)
    items = [
        appointment_of(resource) for resource in common.visible(result.resources if result else ())
    ]
    return {
        "appointments": items,
        "has_more": bool(result and result.has_more),
        "limit": LIMIT,
        "empty": not items,
        "resource_ids": [f"Appointment/{item.resource_id}" for item in items],
    }


def appointment_of(resource: Mapping[str, Any]) -> Appointment:
    """An Appointment as a row."""
    start = resource.get("start")
    moment = common.local(start)
    end = common.local(resource.get("end"))
    people = []
    locations = []
    for participant in resource.get("participant") or ():
        if not isinstance(participant, Mapping):
            continue
        actor = participant.get("actor")
        literal = str(actor.get("reference", "")) if isinstance(actor, Mapping) else ""
        text = common.reference_text(actor)
        if not text or literal.startswith("Patient/"):
            continue
        if literal.startswith("Location/"):
            locations.append(text)
        elif not literal.startswith(("Patient/", "RelatedPerson/")):
            people.append(text)
    status_code = common.status_code(resource)
    description = resource.get("description")
    kind = common.concept_text(resource.get("serviceType")) or common.concept_text(
        resource.get("specialty")
    )
    appointment_type = appointment_type_text(resource.get("appointmentType"))
    return Appointment(
        resource_id=str(resource.get("id", "")),
        weekday=str(WEEKDAYS[moment.weekday()]) if moment else "",
        start=common.date_text(start),
        end_time=end.strftime("%H:%M") if end else "",
        what=(description.strip() if isinstance(description, str) else "")
        or appointment_type
        or kind
        or _("Appointment"),
        kind=appointment_type,
        department=kind,
        location=", ".join(locations),
        practitioners=", ".join(people),
        status=common.status_label(status_code),
        status_code=status_code,
        tone=common.status_tone(status_code),
        cancelled=status_code in ("cancelled", "noshow", "entered-in-error"),
        comment=str(resource.get("comment") or "").strip(),
        instruction=str(resource.get("patientInstruction") or "").strip(),
    )


def appointment_type_text(concept: Any) -> str:
    """The appointment type: its text, else a translated v2-0276 code, else its display."""
    if isinstance(concept, Mapping):
        text = concept.get("text")
        if isinstance(text, str) and text.strip():
            return text.strip()
        for coding in concept.get("coding") or ():
            if isinstance(coding, Mapping) and str(coding.get("code")) in APPOINTMENT_TYPES:
                return str(APPOINTMENT_TYPES[str(coding.get("code"))])
    return common.concept_text(concept)
