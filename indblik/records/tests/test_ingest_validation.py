"""Validation of incoming resources: fhir.resources plus the checks the chart depends on."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from indblik.records import validation
from indblik.records.tests.test_ingest_helpers import fixture_json, observation, patient
from indblik.records.validation import Problem, validate_resource


def resources() -> list[dict[str, Any]]:
    bundle = fixture_json("transaction-bundle.json")
    return [entry["resource"] for entry in bundle["entry"]] + [fixture_json("patient-dk.json")]


def test_the_hand_written_fixtures_are_valid() -> None:
    for resource in resources():
        assert validate_resource(resource) == [], resource["resourceType"]


def direct_problems(resource: dict[str, Any]) -> set[str]:
    """Return fhir.resources' own verdict, without Indblik's memoised elements."""
    model = get_fhir_model_class(resource["resourceType"])
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return {
            validation.fhir_path(resource["resourceType"], error["loc"]) for error in exc.errors()
        }
    return set()


def mutations() -> list[dict[str, Any]]:
    """Return resources broken in nested elements, some after a valid twin was memoised."""
    broken = []
    for resource in resources():
        for name, value in resource.items():
            if isinstance(value, dict):
                changed = copy.deepcopy(resource)
                changed[name] = {**value, "unknownElement": True}
                broken.append(changed)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                changed = copy.deepcopy(resource)
                changed[name] = [*value, {**value[0], "unknownElement": True}]
                broken.append(changed)
    return broken


def test_memoised_elements_never_change_the_verdict_of_fhir_resources() -> None:
    for resource in resources():
        validate_resource(resource)  # memoises every valid element
    for resource in mutations():
        found = {
            problem.path
            for problem in validate_resource(resource)
            if problem.code not in ("code-invalid",)
        }
        assert found == direct_problems(resource), resource["resourceType"]
        assert found, "every mutation breaks something"


def test_an_invalid_nested_value_is_reported_with_its_full_path() -> None:
    lab = observation("o1")
    lab["referenceRange"] = [{"low": {"value": "eight", "unit": "mmol/L"}}]

    assert validate_resource(lab) == [
        Problem("Observation.referenceRange[0].low.value", "not a valid FHIR decimal", "value")
    ]


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ({"resourceType": "Nonsense"}, "resourceType"),
        ({"id": "x"}, "resourceType"),
        ({"resourceType": "Coding", "code": "x"}, "resourceType"),
        ({**observation("o1"), "id": "a" * 65}, "Observation.id"),
        ({**observation("o1"), "id": "a b"}, "Observation.id"),
    ],
)
def test_types_that_are_not_resources_and_bad_ids_are_refused(
    resource: dict[str, Any], path: str
) -> None:
    assert path in {problem.path for problem in validate_resource(resource)}


def test_the_cheap_checks_run_without_the_models() -> None:
    lab = observation("o1", status="done")
    lab["valueQuantity"] = {"value": "eight"}

    problems = validate_resource(lab, structural=False)

    assert problems == [
        Problem("Observation.status", "not a code of the FHIR R4 value set", "code-invalid")
    ]


def test_a_condition_entered_in_error_needs_no_clinical_status() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "entered-in-error",
                }
            ]
        },
        "code": {"text": "x"},
        "subject": {"reference": "Patient/p1"},
    }

    assert validate_resource(condition) == []


def test_a_substitute_cpr_number_is_accepted() -> None:
    assert validate_resource(patient("p1", "6101701234")) == []
