"""Small, fast readers for FHIR R4 JSON dicts (the read path never builds pydantic models).

Everything here tolerates missing or oddly shaped fields: a resource that passed validation
may still lack what a reader hopes for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
# CVR numbers: DK-core's naming system, plus the OID seen in older Danish profiles.
CVR_SYSTEMS = ("http://cvr.dk", "urn:oid:2.16.208.1.2.1", "urn:oid:1.2.208.176.1.5")
MUNICIPALITY_EXTENSION = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-municipalityCodes"
MUNICIPALITY_SYSTEM = "urn:oid:1.2.208.176.1.3"
GP_EXTENSION = "http://hl7.dk/fhir/core/StructureDefinition/dk-core-gp-organization"
RESTRICTED_LABELS = frozenset({"R", "V"})
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

# Where each resource type names its patient.
PATIENT_PATHS: dict[str, tuple[str, ...]] = {
    "Patient": (),
    "Appointment": ("participant",),
    "Consent": ("patient",),
    "Device": ("patient",),
    "AllergyIntolerance": ("patient",),
    "EpisodeOfCare": ("patient",),
    "FamilyMemberHistory": ("patient",),
    "RelatedPerson": ("patient",),
    "Goal": ("subject",),
}
NON_PATIENT_TYPES = frozenset(
    {
        "Organization",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "Questionnaire",
        "Binary",
        "Medication",
        "HealthcareService",
        "Endpoint",
    }
)

# The clinically relevant date of each resource type, in order of preference (dotted paths).
DATE_PATHS: dict[str, tuple[str, ...]] = {
    "Encounter": ("period.start", "period.end"),
    "DocumentReference": ("context.period.start", "date"),
    "Composition": ("date",),
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
    "Condition": ("onsetDateTime", "onsetPeriod.start", "recordedDate"),
    "Appointment": ("start", "created"),
    "CarePlan": ("period.start", "created"),
    "Goal": ("startDate", "statusDate"),
    "EpisodeOfCare": ("period.start",),
    "DeviceUseStatement": ("timingPeriod.start", "timingDateTime", "recordedOn"),
    "Device": ("manufactureDate",),
    "Communication": ("sent", "received"),
    "QuestionnaireResponse": ("authored",),
    "Flag": ("period.start",),
    "AllergyIntolerance": ("recordedDate", "onsetDateTime"),
    "Consent": ("dateTime",),
    "FamilyMemberHistory": ("date",),
    "Media": ("createdDateTime", "createdPeriod.start", "issued"),
    "ImagingStudy": ("started",),
}
# The element a type's stored ``status`` column holds where it is not ``status``: what FHIR
# R4's status parameter of the type reads (Condition-clinical-status,
# AllergyIntolerance-clinical-status, Goal-lifecycle-status). A DocumentReference's is
# ``status`` (current | superseded | entered-in-error), as DocumentReference-status reads: R4
# has no search parameter for ``docStatus``.
STATUS_PATHS: dict[str, str] = {
    "Condition": "clinicalStatus",
    "AllergyIntolerance": "clinicalStatus",
    "Goal": "lifecycleStatus",
}
# Types whose ``category`` is a list of plain codes, not CodeableConcepts, with the code system
# R4 binds them to (required): the stored ``category`` column holds ``system|code`` all the same.
CODE_CATEGORIES: dict[str, str] = {
    "AllergyIntolerance": "http://hl7.org/fhir/allergy-intolerance-category",
}


def get_path(resource: Any, path: str) -> Any:
    """Return the value at a dotted path, or None."""
    value = resource
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def codings(concepts: Any) -> set[tuple[str, str]]:
    """Return the (system, code) pairs of a CodeableConcept or a list of them."""
    if isinstance(concepts, dict):
        concepts = [concepts]
    pairs: set[tuple[str, str]] = set()
    for concept in concepts or ():
        if not isinstance(concept, dict):
            continue
        for coding in _items(concept.get("coding")):
            if isinstance(coding, dict) and coding.get("code"):
                pairs.add((str(coding.get("system", "")), str(coding["code"])))
    return pairs


def first_code(concept: Any) -> str:
    """Return ``system|code`` of the first coding of a concept (or list of concepts), or ''."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    if not isinstance(concept, dict):
        return ""
    for coding in _items(concept.get("coding")):
        if isinstance(coding, dict) and coding.get("code"):
            return f"{coding.get('system', '')}|{coding['code']}"
    return ""


def first_category(resource: dict[str, Any]) -> str:
    """Return ``system|code`` of the resource's first category, or ''.

    A CodeableConcept's first coding, or for a type whose categories are plain codes
    (:data:`CODE_CATEGORIES`) the first code with the system FHIR binds it to.
    """
    categories = resource.get("category")
    system = CODE_CATEGORIES.get(resource.get("resourceType", ""))
    if system is None:
        return first_code(categories)
    for code in _items(categories):
        if isinstance(code, str) and code:
            return f"{system}|{code}"
    return ""


def parse_datetime(value: Any) -> dt.datetime | None:
    """Parse a FHIR date, dateTime or instant into an aware UTC datetime (partial dates: start).

    A dateTime without a zone is read as Danish local time; a date or partial date stands for
    its first moment in Danish local time.
    """
    if not isinstance(value, str) or not value:
        return None
    from zoneinfo import ZoneInfo

    local = ZoneInfo("Europe/Copenhagen")
    try:
        if len(value) == 4:
            parsed = dt.datetime(int(value), 1, 1, tzinfo=local)
        elif len(value) == 7:
            parsed = dt.datetime(int(value[:4]), int(value[5:7]), 1, tzinfo=local)
        elif len(value) == 10:
            parsed = dt.datetime.fromisoformat(value).replace(tzinfo=local)
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=local)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC)


def clinical_date(resource: dict[str, Any]) -> dt.datetime | None:
    """Return the date that orders this resource in the chart (newest first)."""
    for path in DATE_PATHS.get(resource.get("resourceType", ""), ()):
        parsed = parse_datetime(get_path(resource, path))
        if parsed is not None:
            return parsed
    return None


def status(resource: dict[str, Any]) -> str:
    """Return the code of the resource's status element (:data:`STATUS_PATHS`), or ''."""
    rtype = resource.get("resourceType", "")
    field = STATUS_PATHS.get(rtype)
    if field:
        value = resource.get(field)
        if isinstance(value, dict):
            code = first_code(value)
            return code.rsplit("|", 1)[-1]
        if isinstance(value, str):
            return value
    value = resource.get("status")
    return value if isinstance(value, str) else ""


def references(value: Any) -> Iterator[dict[str, Any]]:
    """Yield every Reference-shaped dict anywhere inside ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "reference" in item or ("identifier" in item and "type" in item):
                yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def patient_reference(resource: dict[str, Any]) -> str | None:
    """Return the literal reference ('Patient/123' or 'urn:uuid:…') to this resource's patient."""
    rtype = resource.get("resourceType", "")
    paths = PATIENT_PATHS.get(rtype, ("subject", "patient"))
    for path in paths:
        value = resource.get(path)
        candidates = value if isinstance(value, list) else [value]
        for candidate in candidates:
            if path == "participant" and isinstance(candidate, dict):
                candidate = candidate.get("actor")
            if isinstance(candidate, dict):
                ref = candidate.get("reference")
                if isinstance(ref, str) and (
                    ref.startswith("Patient/") or ref.startswith("urn:uuid:") or "/Patient/" in ref
                ):
                    return ref
    return None


def identifier_value(identifiers: Any, systems: Iterable[str]) -> str | None:
    """Return the value of the first identifier in one of ``systems``."""
    wanted = tuple(systems)
    for identifier in identifiers or ():
        if isinstance(identifier, dict) and identifier.get("system") in wanted:
            value = identifier.get("value")
            if isinstance(value, str) and value:
                return value
    return None


def security_labels(resource: Mapping[str, Any]) -> list[str]:
    """Return the codes of ``meta.security`` (e.g. ['R'] for restricted)."""
    labels = []
    for coding in get_path(resource, "meta.security") or ():
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            labels.append(coding["code"])
    return labels


def is_restricted(resource: Mapping[str, Any]) -> bool:
    """Return True when the resource carries a restricted or very-restricted label."""
    return any(label in RESTRICTED_LABELS for label in security_labels(resource))


def has_restricted_type(resource: Mapping[str, Any], types: AbstractSet[str]) -> bool:
    """Tell whether any coding of the resource's ``code``, ``type`` or ``category`` is one of
    ``types`` (``system|code``, as ``INDBLIK_RESTRICTED_TYPES``): any of them, not only the
    first, so that a local coding listed first cannot hide a restricted one after it."""
    if not types:
        return False
    for element in ("code", "type", "category"):
        concepts = resource.get(element)
        for concept in concepts if isinstance(concepts, list) else (concepts,):
            if not isinstance(concept, dict):
                continue
            for coding in _items(concept.get("coding")):
                if (
                    isinstance(coding, dict)
                    and coding.get("code")
                    and f"{coding.get('system', '')}|{coding['code']}" in types
                ):
                    return True
    return False


def normalise_cpr(value: str) -> str | None:
    """Return the 10 CPR digits of ``value`` (a dash allowed after the birth date), or None."""
    digits = (
        value.replace("-", "") if value.count("-") <= 1 and value.find("-") in (-1, 6) else value
    )
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return None
    day, month = int(digits[0:2]), int(digits[2:4])
    # Substitute CPR numbers add 60 to the day; the month is always real.
    if not (1 <= month <= 12 and (1 <= day <= 31 or 61 <= day <= 91)):
        return None
    return digits


def mask_cpr(cpr: str) -> str:
    """Return the CPR as shown outside the demographics page: birth date only."""
    return f"{cpr[:6]}-xxxx" if len(cpr) == 10 else "xxxxxx-xxxx"


def _items(value: Any) -> list[Any]:
    """A FHIR array as a list; anything else (a number, a dict, None) as an empty list."""
    return value if isinstance(value, list) else []
