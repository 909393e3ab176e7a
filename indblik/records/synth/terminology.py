"""Code systems and small builders for the FHIR dicts the generator writes."""

from __future__ import annotations

from typing import Any

from indblik.records import fhir, sections

Resource = dict[str, Any]

SNOMED = sections.SNOMED
LOINC = sections.LOINC
ICD10 = "http://hl7.org/fhir/sid/icd-10"
NPU = "urn:oid:1.2.208.176.2.1"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = sections.OBSERVATION_CATEGORY
DIAGNOSTIC_SERVICE = sections.DIAGNOSTIC_SERVICE
CONDITION_CATEGORY = sections.CONDITION_CATEGORY
RECORD_CATEGORY = sections.INDBLIK_CATEGORY
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_CATEGORY = "http://terminology.hl7.org/CodeSystem/consentcategorycodes"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
CONFIDENTIALITY = fhir.CONFIDENTIALITY_SYSTEM
# Indblik's own code systems, for what the standard ones leave open.
INDBLIK = "https://indblik.dk/fhir"
ORGANISATION_KIND = f"{INDBLIK}/CodeSystem/organisation-type"
ASSESSMENT_SCORE = f"{INDBLIK}/CodeSystem/assessment-score"
EPISODE_TYPE = f"{INDBLIK}/CodeSystem/episode-type"
ALERT = f"{INDBLIK}/CodeSystem/alert"
QUESTIONNAIRE_BASE = f"{INDBLIK}/Questionnaire"


def synthetic_meta() -> dict[str, Any]:
    """Return a fresh ``meta`` saying that the resource is test data (HL7's HTEST).

    Fresh each time: a consumer that stamps ``meta.lastUpdated`` must not touch other resources.
    """
    return {"tag": [{"system": ACT_REASON, "code": "HTEST", "display": "test health data"}]}


def restricted_meta() -> dict[str, Any]:
    """Return a fresh ``meta`` for test data labelled restricted (confidentiality R)."""
    meta = synthetic_meta()
    meta["security"] = [{"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}]
    return meta


def concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    """Return a CodeableConcept with one coding (``text`` defaults to the display)."""
    return {
        "coding": [{"system": system, "code": code, "display": display}],
        "text": text or display,
    }


def text_concept(text: str) -> dict[str, Any]:
    """Return a CodeableConcept that has only text (for what no code system we trust covers)."""
    return {"text": text}


def category(system: str, code: str, display: str) -> list[dict[str, Any]]:
    """Return a one-element category list."""
    return [{"coding": [{"system": system, "code": code, "display": display}]}]


def quantity(value: float, unit: str, code: str | None = None) -> dict[str, Any]:
    """Return a UCUM Quantity (``code`` defaults to the unit)."""
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}
