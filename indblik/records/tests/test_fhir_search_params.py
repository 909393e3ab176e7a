"""Every token parameter the read API advertises searches the element FHIR R4 defines for it.

Each case ingests, validated, two resources of one type that differ in one element, and asks
the API for each value: a search finds the resource that carries it and not the other. The
table of R4's definitions below is written from the specification
(https://hl7.org/fhir/R4/searchparameter-registry.html), not from Indblik's code.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.test import Client

from indblik.records import searchparams
from indblik.records.ingest import ingest_resources
from indblik.records.models import Resource
from indblik.records.tests import smart_kit as kit

pytestmark = pytest.mark.django_db

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": CPR_SYSTEM, "value": "0101904321"}],
}
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_CATEGORY = "http://hl7.org/fhir/allergy-intolerance-category"
TEXT = {"contentType": "text/plain", "data": "VGVrc3Q="}  # "Tekst"

# FHIR R4's expression of each token parameter the API advertises: the element it searches.
R4_ELEMENTS: dict[tuple[str, str], str] = {
    ("Encounter", "status"): "status",
    ("Encounter", "type"): "type",
    ("Observation", "status"): "status",
    ("Observation", "category"): "category",
    ("Observation", "code"): "code",
    ("DiagnosticReport", "status"): "status",
    ("DiagnosticReport", "category"): "category",
    ("DiagnosticReport", "code"): "code",
    ("Procedure", "status"): "status",
    ("Procedure", "category"): "category",
    ("Procedure", "code"): "code",
    ("ServiceRequest", "status"): "status",
    ("ServiceRequest", "category"): "category",
    ("ServiceRequest", "code"): "code",
    ("Condition", "clinical-status"): "clinicalStatus",
    ("Condition", "category"): "category",
    ("Condition", "code"): "code",
    ("DocumentReference", "status"): "status",
    ("DocumentReference", "category"): "category",
    ("DocumentReference", "type"): "type",
    ("Composition", "status"): "status",
    ("Composition", "category"): "category",
    ("Composition", "type"): "type",
    ("Appointment", "status"): "status",
    ("CarePlan", "status"): "status",
    ("CarePlan", "category"): "category",
    ("Goal", "lifecycle-status"): "lifecycleStatus",
    ("EpisodeOfCare", "status"): "status",
    ("EpisodeOfCare", "type"): "type",
    ("Device", "status"): "status",
    ("Communication", "status"): "status",
    ("Communication", "category"): "category",
    ("QuestionnaireResponse", "status"): "status",
    ("Flag", "status"): "status",
    ("AllergyIntolerance", "clinical-status"): "clinicalStatus",
    ("AllergyIntolerance", "category"): "category",
    ("AllergyIntolerance", "code"): "code",
    ("Consent", "status"): "status",
    ("Consent", "category"): "category",
    ("FamilyMemberHistory", "status"): "status",
    ("Media", "status"): "status",
    ("Media", "type"): "type",
    ("ImagingStudy", "status"): "status",
}


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def subject() -> dict[str, str]:
    return {"reference": "Patient/p1"}


# A minimal valid resource of each type (its patient is p1), without the element under test.
BASES: dict[str, dict[str, Any]] = {
    "Encounter": {
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject(),
    },
    "Observation": {"status": "final", "code": concept(LOINC, "8867-4"), "subject": subject()},
    "DiagnosticReport": {
        "status": "final",
        "code": concept(LOINC, "58410-2"),
        "subject": subject(),
    },
    "Procedure": {"status": "completed", "subject": subject()},
    "ServiceRequest": {"status": "active", "intent": "order", "subject": subject()},
    "Condition": {"clinicalStatus": concept(CONDITION_CLINICAL, "active"), "subject": subject()},
    "DocumentReference": {
        "status": "current",
        "docStatus": "final",
        "content": [{"attachment": TEXT}],
        "subject": subject(),
    },
    "Composition": {
        "status": "final",
        "type": concept(LOINC, "11506-3"),
        "date": "2026-02-01",
        "author": [{"display": "Anne Sygeplejerske"}],
        "title": "Notat",
        "subject": subject(),
    },
    "Appointment": {
        "status": "booked",
        "participant": [{"actor": subject(), "status": "accepted"}],
    },
    "CarePlan": {"status": "active", "intent": "plan", "subject": subject()},
    "Goal": {
        "lifecycleStatus": "active",
        "description": {"text": "Gå 500 meter"},
        "subject": subject(),
    },
    "EpisodeOfCare": {"status": "active", "patient": subject()},
    "Device": {"status": "active", "patient": subject()},
    "Communication": {"status": "completed", "subject": subject()},
    "QuestionnaireResponse": {"status": "completed", "subject": subject()},
    "Flag": {"status": "active", "code": {"text": "Smitte"}, "subject": subject()},
    "AllergyIntolerance": {
        "clinicalStatus": concept(ALLERGY_CLINICAL, "active"),
        "patient": subject(),
    },
    "Consent": {
        "status": "active",
        "scope": concept("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [concept(LOINC, "59284-0")],
        "patient": subject(),
    },
    "FamilyMemberHistory": {
        "status": "completed",
        "relationship": concept("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "MTH"),
        "patient": subject(),
    },
    "Media": {"status": "completed", "content": TEXT, "subject": subject()},
    "ImagingStudy": {"status": "available", "subject": subject()},
}


def codes(first: str, second: str) -> tuple[Any, Any, list[str], list[str]]:
    """Two status codes: the element values, and what a search for each gives."""
    return first, second, [first], [second]


def concepts(
    system: str, first: str, second: str, *, repeats: bool
) -> tuple[Any, Any, list[str], list[str]]:
    """Two CodeableConcepts (in a list where the element repeats), searched three ways each."""

    def value(code: str) -> Any:
        return [concept(system, code)] if repeats else concept(system, code)

    def queries(code: str) -> list[str]:
        return [code, f"{system}|{code}", f"{system}|{code},{system}|nothing"]

    return value(first), value(second), queries(first), queries(second)


def status_concepts(system: str, first: str, second: str) -> tuple[Any, Any, list[str], list[str]]:
    """Two clinicalStatus concepts: the column keeps the code, searched with or without system."""
    return (
        concept(system, first),
        concept(system, second),
        [first, f"{system}|{first}"],
        [second, f"{system}|{second}"],
    )


# (type, parameter) -> (the element's value in resource A, in resource B, searches that must
# find A and not B, searches that must find B and not A).
VALUES: dict[tuple[str, str], tuple[Any, Any, list[str], list[str]]] = {
    ("Encounter", "status"): codes("finished", "in-progress"),
    ("Encounter", "type"): concepts(SNOMED, "185349003", "270427003", repeats=True),
    ("Observation", "status"): codes("final", "preliminary"),
    ("Observation", "category"): concepts(
        OBSERVATION_CATEGORY, "laboratory", "vital-signs", repeats=True
    ),
    ("Observation", "code"): concepts(LOINC, "8867-4", "8310-5", repeats=False),
    ("DiagnosticReport", "status"): codes("final", "partial"),
    ("DiagnosticReport", "category"): concepts(
        "http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "RAD", repeats=True
    ),
    ("DiagnosticReport", "code"): concepts(LOINC, "58410-2", "24323-8", repeats=False),
    ("Procedure", "status"): codes("completed", "in-progress"),
    ("Procedure", "category"): concepts(SNOMED, "387713003", "103693007", repeats=False),
    ("Procedure", "code"): concepts(SNOMED, "80146002", "73761001", repeats=False),
    ("ServiceRequest", "status"): codes("active", "completed"),
    ("ServiceRequest", "category"): concepts(SNOMED, "108252007", "363679005", repeats=True),
    ("ServiceRequest", "code"): concepts(LOINC, "24323-8", "58410-2", repeats=False),
    ("Condition", "clinical-status"): status_concepts(CONDITION_CLINICAL, "active", "resolved"),
    ("Condition", "category"): concepts(
        "http://terminology.hl7.org/CodeSystem/condition-category",
        "problem-list-item",
        "encounter-diagnosis",
        repeats=True,
    ),
    ("Condition", "code"): concepts(SNOMED, "38341003", "44054006", repeats=False),
    ("DocumentReference", "status"): codes("current", "superseded"),
    ("DocumentReference", "category"): concepts(LOINC, "11488-4", "18842-5", repeats=True),
    ("DocumentReference", "type"): concepts(LOINC, "11506-3", "34117-2", repeats=False),
    ("Composition", "status"): codes("final", "preliminary"),
    ("Composition", "category"): concepts(LOINC, "11488-4", "18842-5", repeats=True),
    ("Composition", "type"): concepts(LOINC, "11506-3", "34117-2", repeats=False),
    ("Appointment", "status"): codes("booked", "cancelled"),
    ("CarePlan", "status"): codes("active", "completed"),
    ("CarePlan", "category"): concepts(SNOMED, "734163000", "736353004", repeats=True),
    ("Goal", "lifecycle-status"): codes("active", "completed"),
    ("EpisodeOfCare", "status"): codes("active", "finished"),
    ("EpisodeOfCare", "type"): concepts(
        "http://terminology.hl7.org/CodeSystem/episodeofcare-type", "hacc", "pac", repeats=True
    ),
    ("Device", "status"): codes("active", "inactive"),
    ("Communication", "status"): codes("completed", "in-progress"),
    ("Communication", "category"): concepts(
        "http://terminology.hl7.org/CodeSystem/communication-category",
        "notification",
        "reminder",
        repeats=True,
    ),
    ("QuestionnaireResponse", "status"): codes("completed", "in-progress"),
    ("Flag", "status"): codes("active", "inactive"),
    ("AllergyIntolerance", "clinical-status"): status_concepts(
        ALLERGY_CLINICAL, "active", "resolved"
    ),
    # Plain codes: the system is the one R4 binds them to.
    ("AllergyIntolerance", "category"): (
        ["food"],
        ["medication", "food"],
        ["food", f"{ALLERGY_CATEGORY}|food", f"environment,{ALLERGY_CATEGORY}|food"],
        ["medication", f"{ALLERGY_CATEGORY}|medication"],
    ),
    ("AllergyIntolerance", "code"): concepts(SNOMED, "91935009", "294505008", repeats=False),
    ("Consent", "status"): codes("active", "inactive"),
    ("Consent", "category"): concepts(LOINC, "59284-0", "64292-6", repeats=True),
    ("FamilyMemberHistory", "status"): codes("completed", "partial"),
    ("Media", "status"): codes("completed", "in-progress"),
    ("Media", "type"): concepts(
        "http://terminology.hl7.org/CodeSystem/media-type", "image", "video", repeats=False
    ),
    ("ImagingStudy", "status"): codes("available", "cancelled"),
}
# Values that must find neither resource (another code of the same element, or another system).
MISSES: dict[tuple[str, str], list[str]] = {
    ("AllergyIntolerance", "category"): [
        "environment",
        "http://snomed.info/sct|food",
        "|food",  # no system: but R4 binds one
        "FOOD",
    ],
    ("Goal", "lifecycle-status"): ["cancelled", "proposed"],
    ("DocumentReference", "status"): ["final", "preliminary", "entered-in-error"],
}

ADVERTISED = sorted(
    (rtype, name) for rtype, spec in searchparams.SEARCHES.items() for name in spec.tokens
)


@pytest.fixture
def reader() -> Client:
    key = kit.ec_key()
    kit.register("param-reader", key)
    token = kit.access_token(Client(), key, "param-reader")
    return Client(headers={"Authorization": f"Bearer {token}"})


def ingest(*resources: dict[str, Any]) -> None:
    result = ingest_resources([PATIENT, *resources], source="test", validate=True)
    assert result.ok, result.to_fhir()
    assert result.failed == 0, result.to_fhir()


def found(reader: Client, rtype: str, name: str, value: str) -> set[str]:
    spec = searchparams.SEARCHES[rtype]
    response = reader.get(f"/fhir/r4/{rtype}", {spec.patient[0]: "Patient/p1", name: value})
    assert response.status_code == 200, response.content[:500]
    return {entry["resource"]["id"] for entry in response.json().get("entry", ())}


def test_the_tables_cover_every_advertised_token_parameter() -> None:
    assert sorted(R4_ELEMENTS) == ADVERTISED
    assert sorted(VALUES) == ADVERTISED
    assert set(BASES) == {rtype for rtype, _name in ADVERTISED}


@pytest.mark.parametrize(("rtype", "name"), ADVERTISED)
def test_each_token_parameter_reads_the_element_r4_defines(rtype: str, name: str) -> None:
    assert searchparams.token_element(rtype, name) == R4_ELEMENTS[(rtype, name)]


@pytest.mark.parametrize(("rtype", "name"), ADVERTISED)
def test_a_token_search_finds_the_resource_carrying_the_value_and_not_another(
    reader: Client, rtype: str, name: str
) -> None:
    element = R4_ELEMENTS[(rtype, name)]
    first, second, finds_first, finds_second = VALUES[(rtype, name)]
    base = BASES[rtype]
    ingest(
        {"resourceType": rtype, "id": "a", **base, element: first},
        {"resourceType": rtype, "id": "b", **base, element: second},
    )
    for value in finds_first:
        assert found(reader, rtype, name, value) == {"a"}, value
    for value in finds_second:
        assert found(reader, rtype, name, value) == {"b"}, value
    for value in MISSES.get((rtype, name), ()):
        assert found(reader, rtype, name, value) == set(), value


def test_a_document_reference_is_searched_by_status_not_doc_status(reader: Client) -> None:
    base = {**BASES["DocumentReference"], "docStatus": "final"}
    ingest(
        {"resourceType": "DocumentReference", "id": "now", **base, "status": "current"},
        {"resourceType": "DocumentReference", "id": "old", **base, "status": "superseded"},
        {
            "resourceType": "DocumentReference",
            "id": "draft",
            **base,
            "status": "current",
            "docStatus": "preliminary",
        },
    )
    assert found(reader, "DocumentReference", "status", "current") == {"now", "draft"}
    assert found(reader, "DocumentReference", "status", "superseded,entered-in-error") == {"old"}
    assert found(reader, "DocumentReference", "status", "final") == set()
    assert found(reader, "DocumentReference", "status", "preliminary") == set()


def test_an_allergy_is_searched_by_its_first_category_code(reader: Client) -> None:
    base = BASES["AllergyIntolerance"]
    ingest(
        {"resourceType": "AllergyIntolerance", "id": "nuts", **base, "category": ["food"]},
        {"resourceType": "AllergyIntolerance", "id": "none", **base},
    )
    stored = dict(
        Resource.objects.filter(resource_type="AllergyIntolerance").values_list(
            "fhir_id", "category"
        )
    )
    assert stored == {"nuts": f"{ALLERGY_CATEGORY}|food", "none": ""}
    assert found(reader, "AllergyIntolerance", "category", f"{ALLERGY_CATEGORY}|") == {"nuts"}


def test_the_capability_statement_names_the_element_each_token_parameter_searches() -> None:
    statement = Client().get("/fhir/r4/metadata").json()
    resources = {item["type"]: item for item in statement["rest"][0]["resource"]}
    for rtype, name in ADVERTISED:
        [parameter] = [p for p in resources[rtype]["searchParam"] if p["name"] == name]
        assert parameter["type"] == "token"
        element = f"{rtype}.{R4_ELEMENTS[(rtype, name)]}"
        assert parameter["documentation"].startswith(f"Searches {element}:"), parameter
    allergy = {p["name"]: p for p in resources["AllergyIntolerance"]["searchParam"]}
    assert ALLERGY_CATEGORY in allergy["category"]["documentation"]
    media = {p["name"] for p in resources["Media"]["searchParam"]}
    assert "category" not in media and "type" in media  # R4 Media has no category


# --- the migration that re-derives columns stored the old way --------------------------------

migration = importlib.import_module("indblik.records.migrations.0004_rederive_search_columns")


def test_the_migration_rederives_rows_stored_the_old_way_and_only_those(reader: Client) -> None:
    allergy = BASES["AllergyIntolerance"]
    goal = BASES["Goal"]
    document = BASES["DocumentReference"]
    resources = [
        {"resourceType": "AllergyIntolerance", "id": "a1", **allergy, "category": ["food"]},
        {"resourceType": "AllergyIntolerance", "id": "a2", **allergy, "category": ["biologic"]},
        {"resourceType": "AllergyIntolerance", "id": "a3", **allergy},
        {"resourceType": "Goal", "id": "g1", **goal},
        {"resourceType": "Goal", "id": "g2", **goal, "lifecycleStatus": "completed"},
        {"resourceType": "DocumentReference", "id": "d1", **document},
        {"resourceType": "DocumentReference", "id": "d2", **document, "status": "superseded"},
        {
            "resourceType": "Observation",
            "id": "o1",
            **BASES["Observation"],
            "category": [concept(OBSERVATION_CATEGORY, "laboratory")],
        },
    ]
    ingest(*resources)
    rows = Resource.objects.exclude(resource_type="Patient")
    now = {row.fhir_id: (row.category, row.status) for row in rows}
    assert now["a1"] == (f"{ALLERGY_CATEGORY}|food", "active")
    assert now["g2"] == ("", "completed")
    assert now["d2"] == ("", "superseded")

    # Stored the old way: an allergy's category and a goal's status empty, a document's status
    # its docStatus; one deleted row too. An Observation's columns, wrong on purpose, are not
    # this migration's business.
    Resource.objects.filter(resource_type="AllergyIntolerance").update(category="")
    Resource.objects.filter(resource_type="Goal").update(status="")
    Resource.objects.filter(resource_type="DocumentReference").update(status="final")
    Resource.objects.filter(fhir_id="d2").update(deleted=True)
    Resource.objects.filter(fhir_id="o1").update(status="odd", category="odd|odd")
    assert found(reader, "Goal", "lifecycle-status", "active") == set()
    assert found(reader, "AllergyIntolerance", "category", "food") == set()
    assert found(reader, "DocumentReference", "status", "final") == {"d1"}

    assert migration.rederive_columns(Resource, batch=2) == 6  # a3's category was '' already
    after = {row.fhir_id: (row.category, row.status) for row in rows.all()}
    assert after == {**now, "o1": ("odd|odd", "odd")}
    assert migration.rederive_columns(Resource, batch=2) == 0  # idempotent
    assert found(reader, "Goal", "lifecycle-status", "active") == {"g1"}
    assert found(reader, "AllergyIntolerance", "category", "food") == {"a1"}
    assert found(reader, "DocumentReference", "status", "current") == {"d1"}
    assert found(reader, "DocumentReference", "status", "final") == set()


def test_the_migration_is_what_ingestion_stores_now() -> None:
    resources = [
        {"resourceType": rtype, "id": f"{rtype}-{name}-{index}", **BASES[rtype], element: value}
        for (rtype, name), (first, second, _a, _b) in VALUES.items()
        if rtype in migration.DERIVATIONS
        for element in [R4_ELEMENTS[(rtype, name)]]
        for index, value in enumerate((first, second))
    ]
    ingest(*resources)
    rows = Resource.objects.filter(resource_type__in=list(migration.DERIVATIONS))

    def owned() -> dict[str, str]:
        return {
            row.fhir_id: getattr(row, migration.DERIVATIONS[row.resource_type][0])
            for row in rows.all()
        }

    stored = owned()
    assert len(stored) == len(resources) == 14
    rows.update(category="x|x", status="x")
    assert migration.rederive_columns(Resource) == len(stored)
    assert owned() == stored


def test_the_migration_does_nothing_on_an_empty_store() -> None:
    assert migration.rederive_columns(Resource) == 0
