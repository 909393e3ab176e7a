"""The sections of the record: what the chart pages ask for, and where each resource belongs.

The stored ``section`` column is computed here at ingestion, so that one chart section is one
indexed query ``(patient, section, date)``. A live FHIR source maps the same sections to
searches. Non-page sections (alerts, allergies, consents) feed the snapshot and the access
policy.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from indblik.records import fhir


class Section(StrEnum):
    """A part of one patient's record."""

    SNAPSHOT = "snapshot"
    ENCOUNTERS = "encounters"
    NOTES = "notes"
    DISCHARGE_SUMMARIES = "discharge-summaries"
    LAB = "lab"
    PROCEDURES = "procedures"
    DEVICES = "devices"
    DOCUMENTS = "documents"
    CORRESPONDENCE = "correspondence"
    EPISODES = "episodes"
    REFERRALS = "referrals"
    RESULTS_REVIEW = "results-review"
    ASSESSMENTS = "assessments"
    DIAGNOSES = "diagnoses"
    HISTORY = "history"
    DEMOGRAPHICS = "demographics"
    APPOINTMENTS = "appointments"
    CARE_PLANS = "care-plans"
    # Not pages of their own:
    ALERTS = "alerts"
    ALLERGIES = "allergies"
    CONSENTS = "consents"
    OTHER = "other"


# The 18 pages of the chart, in the order the navigation shows them (BRIEF.md, item 12).
PAGES: tuple[Section, ...] = (
    Section.SNAPSHOT,
    Section.ENCOUNTERS,
    Section.NOTES,
    Section.DISCHARGE_SUMMARIES,
    Section.LAB,
    Section.PROCEDURES,
    Section.DEVICES,
    Section.DOCUMENTS,
    Section.CORRESPONDENCE,
    Section.EPISODES,
    Section.REFERRALS,
    Section.RESULTS_REVIEW,
    Section.ASSESSMENTS,
    Section.DIAGNOSES,
    Section.HISTORY,
    Section.DEMOGRAPHICS,
    Section.APPOINTMENTS,
    Section.CARE_PLANS,
)

TITLES = {
    Section.SNAPSHOT: _("Snapshot"),
    Section.ENCOUNTERS: _("Contacts"),
    Section.NOTES: _("Notes"),
    Section.DISCHARGE_SUMMARIES: _("Discharge summaries"),
    Section.LAB: _("Lab tests"),
    Section.PROCEDURES: _("Procedures"),
    Section.DEVICES: _("Drains, catheters and lines"),
    Section.DOCUMENTS: _("Uploaded documents"),
    Section.CORRESPONDENCE: _("Outgoing correspondence"),
    Section.EPISODES: _("Health episodes"),
    Section.REFERRALS: _("Referrals"),
    Section.RESULTS_REVIEW: _("Results review"),
    Section.ASSESSMENTS: _("Assessment forms"),
    Section.DIAGNOSES: _("Diagnosis list"),
    Section.HISTORY: pgettext_lazy("record section", "History"),
    Section.DEMOGRAPHICS: _("Demographics"),
    Section.APPOINTMENTS: _("Upcoming appointments"),
    Section.CARE_PLANS: _("Care plans"),
    Section.ALERTS: _("Alerts"),
    Section.ALLERGIES: _("Allergies"),
    Section.CONSENTS: _("Consents"),
    Section.OTHER: _("Other"),
}

# Resource types that always land in one section.
_BY_TYPE: dict[str, Section] = {
    "Encounter": Section.ENCOUNTERS,
    "Device": Section.DEVICES,
    "DeviceUseStatement": Section.DEVICES,
    "Media": Section.DOCUMENTS,
    "Communication": Section.CORRESPONDENCE,
    "EpisodeOfCare": Section.EPISODES,
    "ImagingStudy": Section.RESULTS_REVIEW,
    "QuestionnaireResponse": Section.ASSESSMENTS,
    "FamilyMemberHistory": Section.HISTORY,
    "Appointment": Section.APPOINTMENTS,
    "CarePlan": Section.CARE_PLANS,
    "Goal": Section.CARE_PLANS,
    "Flag": Section.ALERTS,
    "AllergyIntolerance": Section.ALLERGIES,
    "Consent": Section.CONSENTS,
    "RelatedPerson": Section.DEMOGRAPHICS,
}

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
# Indblik's own category codes, for what the standard code systems leave open.
INDBLIK_CATEGORY = "https://indblik.dk/fhir/CodeSystem/record-category"

DISCHARGE_SUMMARY_TYPES = {(LOINC, "18842-5"), (LOINC, "34105-7"), (INDBLIK_CATEGORY, "epikrise")}
LETTER_TYPES = {(LOINC, "51852-2"), (LOINC, "34140-4"), (INDBLIK_CATEGORY, "correspondence")}
REFERRAL_CATEGORIES = {(SNOMED, "3457005"), (INDBLIK_CATEGORY, "referral")}
LAB_CATEGORIES = {
    (OBSERVATION_CATEGORY, "laboratory"),
    (DIAGNOSTIC_SERVICE, "LAB"),
    (SNOMED, "108252007"),
    (INDBLIK_CATEGORY, "laboratory"),
}
IMAGING_CATEGORIES = {
    (OBSERVATION_CATEGORY, "imaging"),
    (DIAGNOSTIC_SERVICE, "RAD"),
    (DIAGNOSTIC_SERVICE, "PAT"),
    (DIAGNOSTIC_SERVICE, "SP"),
    (LOINC, "LP29684-5"),
    (LOINC, "LP7839-6"),
    (INDBLIK_CATEGORY, "imaging"),
    (INDBLIK_CATEGORY, "pathology"),
}
ASSESSMENT_CATEGORIES = {
    (OBSERVATION_CATEGORY, "survey"),
    (OBSERVATION_CATEGORY, "vital-signs"),
    (OBSERVATION_CATEGORY, "exam"),
    (OBSERVATION_CATEGORY, "activity"),
    (OBSERVATION_CATEGORY, "therapy"),
}
HISTORY_CATEGORIES = {
    (OBSERVATION_CATEGORY, "social-history"),
    (INDBLIK_CATEGORY, "medical-history"),
    (INDBLIK_CATEGORY, "surgical-history"),
    (INDBLIK_CATEGORY, "social-history"),
    (INDBLIK_CATEGORY, "family-history"),
}
UPLOADED_CATEGORIES = {(INDBLIK_CATEGORY, "uploaded")}


def classify(resource: dict[str, Any]) -> Section:
    """Return the section a patient-linked resource belongs to (``OTHER`` when none fits)."""
    rtype = resource.get("resourceType", "")
    if rtype in _BY_TYPE:
        return _BY_TYPE[rtype]
    categories = fhir.codings(resource.get("category"))
    if rtype == "Observation":
        if categories & LAB_CATEGORIES:
            return Section.LAB
        if categories & IMAGING_CATEGORIES:
            return Section.RESULTS_REVIEW
        if categories & HISTORY_CATEGORIES:
            return Section.HISTORY
        if categories & ASSESSMENT_CATEGORIES:
            return Section.ASSESSMENTS
        return Section.OTHER
    if rtype == "DiagnosticReport":
        if categories & LAB_CATEGORIES:
            return Section.LAB
        return Section.RESULTS_REVIEW
    if rtype == "ServiceRequest":
        if categories & REFERRAL_CATEGORIES:
            return Section.REFERRALS
        if categories & LAB_CATEGORIES:
            return Section.LAB
        if categories & IMAGING_CATEGORIES:
            return Section.RESULTS_REVIEW
        return Section.PROCEDURES
    if rtype == "Procedure":
        return Section.HISTORY if categories & HISTORY_CATEGORIES else Section.PROCEDURES
    if rtype == "Condition":
        return Section.HISTORY if categories & HISTORY_CATEGORIES else Section.DIAGNOSES
    if rtype in ("DocumentReference", "Composition"):
        types = fhir.codings(resource.get("type"))
        if types & DISCHARGE_SUMMARY_TYPES or categories & DISCHARGE_SUMMARY_TYPES:
            return Section.DISCHARGE_SUMMARIES
        if types & LETTER_TYPES or categories & LETTER_TYPES:
            return Section.CORRESPONDENCE
        if categories & UPLOADED_CATEGORIES:
            return Section.DOCUMENTS
        if rtype == "DocumentReference" and _is_binary_document(resource):
            return Section.DOCUMENTS
        return Section.NOTES
    return Section.OTHER


def _is_binary_document(resource: dict[str, Any]) -> bool:
    for content in resource.get("content") or ():
        ctype = ((content or {}).get("attachment") or {}).get("contentType", "")
        if ctype.startswith(("image/", "application/pdf")):
            return True
    return False
