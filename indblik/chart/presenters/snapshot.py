"""Snapshot: what to know before seeing the citizen today, on one screen.

Alerts, active problems, allergies, the latest admission, active lines and drains with days in
place, the newest results with abnormal values marked, the next appointments and the newest
discharge summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from indblik.chart.presenters import (
    Filters,
    PageInput,
    appointments,
    common,
    encounters,
    lab,
    notes,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

# How much of each section the snapshot reads (bounded for any record).
LIMITS = {
    Section.ALERTS: 20,
    Section.ALLERGIES: 30,
    Section.DIAGNOSES: 50,
    Section.ENCOUNTERS: 30,
    Section.DEVICES: 40,
    Section.LAB: 80,
    Section.APPOINTMENTS: 10,  # cancelled ones are skipped
    Section.DISCHARGE_SUMMARIES: 1,
}
RESULTS_SHOWN = 8
NEXT_APPOINTMENTS = 3
SUMMARY_CHARS = 700
ACTIVE_PROBLEM = frozenset({"active", "recurrence", "relapse"})
INACTIVE_ALLERGY = frozenset({"inactive", "resolved"})
ACTIVE_DEVICE_USE = frozenset({"active", "intended", "on-hold"})


@dataclass(frozen=True)
class Alert:
    resource_id: str
    text: str
    category: str
    since: str
    author: str


@dataclass(frozen=True)
class Problem:
    resource_id: str
    text: str
    code: str
    since: str
    status: str
    unconfirmed: bool


@dataclass(frozen=True)
class Allergy:
    resource_id: str
    substance: str
    reactions: str
    high_risk: bool
    category: str
    unconfirmed: bool
    recorded: str


@dataclass(frozen=True)
class Line:
    """An active line, drain or catheter."""

    resource_id: str
    name: str
    site: str
    since: str
    days: int | None
    note: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [
        SectionQuery(section, limit=limit, upcoming=section == Section.APPOINTMENTS)
        for section, limit in LIMITS.items()
    ]


def present(page: PageInput) -> dict[str, Any]:
    def rows(section: Section) -> list[Mapping[str, Any]]:
        result = page.results.get(section)
        return common.visible(result.resources) if result else []

    shown: list[str] = []

    def track(resource: Mapping[str, Any]) -> None:
        shown.append(f"{resource.get('resourceType')}/{resource.get('id')}")

    alerts = []
    for resource in rows(Section.ALERTS):
        if resource.get("resourceType") == "Flag" and _flag_active(resource, page.now):
            alerts.append(alert_of(resource))
            track(resource)
    problems = []
    for resource in rows(Section.DIAGNOSES):
        if resource.get("resourceType") == "Condition" and (
            common.status_code(resource) in ACTIVE_PROBLEM
        ):
            if _verification(resource) in ("refuted", "entered-in-error"):
                continue
            problems.append(problem_of(resource))
            track(resource)
    allergies = []
    for resource in rows(Section.ALLERGIES):
        if resource.get("resourceType") != "AllergyIntolerance":
            continue
        if common.status_code(resource) in INACTIVE_ALLERGY or _verification(resource) in (
            "refuted",
            "entered-in-error",
        ):
            continue
        allergies.append(allergy_of(resource))
        track(resource)
    admission = None
    for resource in rows(Section.ENCOUNTERS):
        if encounters.is_inpatient(resource) and common.status_code(resource) not in (
            "cancelled",
            "planned",
        ):
            admission = encounters.contact_row(resource, page.now)
            track(resource)
            break
    lines = active_lines(rows(Section.DEVICES), page.now)
    shown.extend(f"DeviceUseStatement/{line.resource_id}" for line in lines)
    results = []
    seen: set[str] = set()
    for resource in rows(Section.LAB):
        # The newest result of each analysis: the key first, the whole row only when shown.
        key = lab.result_key(resource)
        if key is None or key in seen:
            continue
        row = lab.result_row(resource)
        if row is None or row.status_code in ("cancelled",):
            continue
        seen.add(row.key)
        results.append(row)
        track(resource)
        if len(results) == RESULTS_SHOWN:
            break
    upcoming = [
        item
        for item in (appointments.appointment_of(r) for r in rows(Section.APPOINTMENTS))
        if not item.cancelled
    ][:NEXT_APPOINTMENTS]
    shown.extend(f"Appointment/{item.resource_id}" for item in upcoming)
    summary = None
    for resource in rows(Section.DISCHARGE_SUMMARIES):
        summary = notes.note_of(resource)
        track(resource)
        break
    excerpt = ""
    if summary and summary.text:
        excerpt = summary.text[:SUMMARY_CHARS]
        if len(summary.text) > SUMMARY_CHARS:
            excerpt = excerpt.rsplit(" ", 1)[0] + " …"
    return {
        "alerts": alerts,
        "problems": problems,
        "allergies": allergies,
        "admission": admission,
        "lines": lines,
        "results": results,
        "abnormal_results": sum(1 for row in results if row.flag),
        "appointments": upcoming,
        "summary": summary,
        "summary_excerpt": excerpt,
        "empty": False,
        "resource_ids": shown,
    }


def alert_of(resource: Mapping[str, Any]) -> Alert:
    period = resource.get("period")
    return Alert(
        resource_id=str(resource.get("id", "")),
        text=common.concept_text(resource.get("code")) or _("Alert without text"),
        category=_category(resource.get("category")),
        since=common.day_text(period.get("start") if isinstance(period, Mapping) else None),
        author=common.reference_text(resource.get("author")),
    )


def problem_of(resource: Mapping[str, Any]) -> Problem:
    code = resource.get("code")
    shown_code = ""
    if isinstance(code, Mapping):
        for coding in code.get("coding") or ():
            if isinstance(coding, Mapping) and "icd-10" in str(coding.get("system", "")):
                shown_code = str(coding.get("code") or "")
                break
    onset = resource.get("onsetDateTime") or resource.get("recordedDate")
    status_code = common.status_code(resource)
    return Problem(
        resource_id=str(resource.get("id", "")),
        text=common.display_text(code) or _("Unnamed diagnosis"),
        code=shown_code,
        since=common.day_text(onset),
        status=common.status_label(status_code) if status_code != "active" else "",
        unconfirmed=_verification(resource) in ("provisional", "differential", "unconfirmed"),
    )


def allergy_of(resource: Mapping[str, Any]) -> Allergy:
    reactions = []
    for reaction in resource.get("reaction") or ():
        if isinstance(reaction, Mapping):
            text = common.concept_text(reaction.get("manifestation"))
            if text:
                reactions.append(text)
    categories = resource.get("category")
    category_labels = {
        "food": _("food"),
        "medication": _("medication"),
        "environment": _("environment"),
        "biologic": _("biologic"),
    }
    category = ", ".join(
        category_labels.get(item, item) for item in categories or () if isinstance(item, str)
    )
    severe = any(
        isinstance(reaction, Mapping) and reaction.get("severity") == "severe"
        for reaction in resource.get("reaction") or ()
    )
    return Allergy(
        resource_id=str(resource.get("id", "")),
        substance=common.concept_text(resource.get("code")) or _("Unspecified substance"),
        reactions=", ".join(dict.fromkeys(reactions)),
        high_risk=resource.get("criticality") == "high" or severe,
        category=category,
        unconfirmed=_verification(resource) == "unconfirmed",
        recorded=common.day_text(resource.get("recordedDate") or resource.get("onsetDateTime")),
    )


def active_lines(resources: list[Mapping[str, Any]], now: dt.datetime) -> list[Line]:
    """DeviceUseStatements in use now, with the device's name and the days since placement."""
    devices = {
        f"Device/{resource.get('id')}": resource
        for resource in resources
        if resource.get("resourceType") == "Device"
    }
    today = now.astimezone(common.COPENHAGEN).date()
    lines = []
    for resource in resources:
        if resource.get("resourceType") != "DeviceUseStatement":
            continue
        if common.status_code(resource) not in ACTIVE_DEVICE_USE:
            continue
        period = resource.get("timingPeriod")
        period = period if isinstance(period, Mapping) else {}
        end = common.local(period.get("end"))
        if end is not None and end <= now:
            continue
        start_value = (
            period.get("start") or resource.get("timingDateTime") or resource.get("recordedOn")
        )
        start = common.local(start_value)
        reference = resource.get("device")
        device = (
            devices.get(str(reference.get("reference"))) if isinstance(reference, Mapping) else None
        )
        name = common.reference_text(reference)
        if device is not None and not name:
            name = _device_name(device)
        note = " ".join(
            str(item.get("text")).strip()
            for item in resource.get("note") or ()
            if isinstance(item, Mapping) and isinstance(item.get("text"), str)
        )
        lines.append(
            Line(
                resource_id=str(resource.get("id", "")),
                name=name or _("Unnamed device"),
                site=common.concept_text(resource.get("bodySite")),
                since=common.date_text(start_value),
                days=(today - start.date()).days if start else None,
                note=note,
            )
        )
    return lines


def _device_name(device: Mapping[str, Any]) -> str:
    for item in device.get("deviceName") or ():
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            return item["name"]
    return common.concept_text(device.get("type"))


def _flag_active(resource: Mapping[str, Any], now: dt.datetime) -> bool:
    if resource.get("status") != "active":
        return False
    period = resource.get("period")
    end = common.local(period.get("end")) if isinstance(period, Mapping) else None
    return end is None or end > now


def _verification(resource: Mapping[str, Any]) -> str:
    concept = resource.get("verificationStatus")
    if isinstance(concept, Mapping):
        for coding in concept.get("coding") or ():
            if isinstance(coding, Mapping) and coding.get("code"):
                return str(coding["code"])
    return ""


def _category(concepts: Any) -> str:
    labels = {
        "safety": _("Safety"),
        "behavioral": _("Behaviour"),
        "clinical": _("Clinical"),
        "drug": _("Medication"),
        "diet": _("Diet"),
        "lab": _("Lab"),
        "contact": _("Contact"),
        "admin": _("Administrative"),
        "research": _("Research"),
        "advance-directive": _("Advance directive"),
    }
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if not isinstance(concept, Mapping):
            continue
        for coding in concept.get("coding") or ():
            if isinstance(coding, Mapping) and coding.get("code") in labels:
                return labels[str(coding["code"])]
        text = common.concept_text(concept)
        if text:
            return text
    return ""
