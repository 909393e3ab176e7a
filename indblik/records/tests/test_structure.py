"""The compiled structural check refuses what fhir.resources refuses, and accepts the record."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from indblik.records import structure, synth
from indblik.records.tests.test_ingest_helpers import observation, patient
from indblik.records.validation import validate_resource


def models_accept(resource: dict[str, Any]) -> bool:
    """Return fhir.resources' own verdict (the old validator)."""
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, ValueError, TypeError, KeyError):
        return False
    return True


def lab(**changes: Any) -> dict[str, Any]:
    resource = observation("o1")
    if any(name.startswith("value") for name in changes):
        resource.pop("valueQuantity", None)  # one value[x] at a time
    resource.update(changes)
    return resource


def without(resource: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != name}


# Each is refused by fhir.resources and must be refused by the compiled check, at this path.
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown element", lab(unknownElement=True), "Observation.unknownElement"),
    ("misspelled element", lab(valueQuantty={"value": 1}), "Observation.valueQuantty"),
    ("unknown nested element", lab(code={"text": "x", "codng": []}), "Observation.code.codng"),
    ("missing required complex element", without(observation("o1"), "code"), "Observation.code"),
    ("missing required primitive", without(observation("o1"), "status"), "Observation.status"),
    ("code with spaces around", lab(status=" final"), "Observation.status"),
    ("empty string", lab(language=""), "Observation.language"),
    ("number for a string", lab(valueString=5), "Observation.valueString"),
    ("object for a boolean", lab(valueBoolean={"x": 1}), "Observation.valueBoolean"),
    ("impossible date", lab(effectiveDateTime="2023-02-30"), "Observation.effectiveDateTime"),
    ("month 13", lab(effectiveDateTime="2023-13-01"), "Observation.effectiveDateTime"),
    ("dateTime without zone", lab(effectiveDateTime="2023-02-03T10:00:00"), ""),
    ("instant without time", lab(issued="2023-01-01"), "Observation.issued"),
    ("time out of range", lab(valueTime="25:00:00"), "Observation.valueTime"),
    ("fractional integer", lab(valueInteger=1.5), "Observation.valueInteger"),
    ("integer over 32 bits", lab(valueInteger=2**40), "Observation.valueInteger"),
    (
        "bad decimal",
        lab(valueQuantity={"value": "eight"}),
        "Observation.valueQuantity.value",
    ),
    ("bad id", lab(id="a b"), "Observation.id"),
    ("bad uuid", {"resourceType": "Bundle", "type": "batch", "identifier": {"value": 1}}, ""),
    ("array for a single element", lab(subject=[{"reference": "Patient/p"}]), ""),
    ("object for an array", lab(category={"text": "x"}), ""),
    ("null inside an array", lab(category=[None]), ""),
    ("two choice types", lab(valueString="a", valueBoolean=True), ""),
    ("extension without url", lab(extension=[{"valueString": "x"}]), ""),
    (
        "extension with two values",
        lab(extension=[{"url": "u", "valueString": "x", "valueBoolean": True}]),
        "",
    ),
    ("bad primitive extension", lab(_status={"foo": 1}), ""),
    ("bad contained resource", lab(contained=[{"resourceType": "Organization", "foo": 1}]), ""),
    ("contained without resourceType", lab(contained=[{"name": "x"}]), ""),
    ("contained of an unknown type", lab(contained=[{"resourceType": "Foo"}]), ""),
    ("wrong resourceType in contained", lab(contained=[{"resourceType": "Coding"}]), ""),
    (
        "base64 that is not",
        {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8"},
        "",
    ),
    (
        "patient birth month 13",
        {**patient("p1", "0108589995"), "birthDate": "1970-13"},
        "Patient.birthDate",
    ),
]


@pytest.mark.parametrize(("name", "resource", "path"), INVALID, ids=[row[0] for row in INVALID])
def test_the_compiled_check_refuses_what_fhir_resources_refuses(
    name: str, resource: dict[str, Any], path: str
) -> None:
    assert not models_accept(resource), "the old validator refuses it"
    problem = structure.check(resource)
    assert problem is not None
    problems = validate_resource(resource)
    assert problems, "and so does validate_resource"
    if path:
        assert path in {problem.path for problem in problems}


# FHIR's JSON rules that fhir.resources lets through: the compiled check refuses them.
STRICTER: list[tuple[str, dict[str, Any], str]] = [
    ("null", lab(subject=None), "must not be null"),
    ("empty array", lab(category=[]), "must not be empty"),
    ("decimal as a string", lab(valueQuantity={"value": "1.5"}), "must be a number"),
    ("boolean as an integer", lab(valueInteger=True), "must be an integer"),
    ("string as a boolean", lab(valueBoolean="yes"), "must be true or false"),
    ("uri with a space", lab(implicitRules="http://a b"), "must be a URI without whitespace"),
    (
        "contained id longer than 64",
        lab(contained=[{"resourceType": "Organization", "id": "x" * 65}]),
        "must be 1-64 characters",
    ),
    ("python name of an extension", lab(status__ext={"extension": []}), "unknown element"),
]


@pytest.mark.parametrize(
    ("name", "resource", "problem"), STRICTER, ids=[row[0] for row in STRICTER]
)
def test_the_compiled_check_follows_fhir_json_where_fhir_resources_is_lenient(
    name: str, resource: dict[str, Any], problem: str
) -> None:
    found = structure.check(resource)
    assert found is not None
    assert problem in found.problem
    assert validate_resource(resource), "refused with the compiled check's own problem"


def test_a_required_primitive_may_be_replaced_by_its_extension() -> None:
    resource = without(observation("o1"), "status")
    resource["_status"] = {"extension": [{"url": "http://example.org/why", "valueString": "x"}]}
    assert models_accept(resource)
    assert structure.check(resource) is None


def test_a_primitive_array_keeps_null_placeholders_for_its_extensions() -> None:
    resource = patient("p1", "0108589995")
    resource["name"] = [
        {
            "given": ["Anna", None],
            "_given": [None, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}],
        }
    ]
    assert structure.check(resource) is None


def test_every_generated_resource_is_accepted() -> None:
    for resource in synth.generate(5, seed=7):
        problem = structure.check(resource)
        assert problem is None, (resource["resourceType"], problem and problem.path)
        assert validate_resource(resource) == []


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*path, key)
        if isinstance(item, dict | list):
            yield from _paths(item, (*path, key))


_ODD_VALUES: list[Any] = [
    "x", "", " ", "a b", "\n", "1.5", "2023-02-30", "urn:oid:x", 1, -1, 1.5, 2**40, True,
    None, [], {}, ["x"], [{}], {"x": 1},
]  # fmt: skip


def test_a_mutated_resource_is_never_accepted_when_fhir_resources_refuses_it() -> None:
    rng = random.Random(7)
    resources = list(synth.generate(2, seed=11))
    checked = 0
    for resource in resources:
        paths = [path for path in _paths(resource) if path != ("resourceType",)]
        for _ in range(8):
            path = rng.choice(paths)
            changed = copy.deepcopy(resource)
            parent = changed
            for key in path[:-1]:
                parent = parent[key]
            if rng.random() < 0.3 and isinstance(path[-1], str):
                del parent[path[-1]]
            else:
                parent[path[-1]] = rng.choice(_ODD_VALUES)
            checked += 1
            if not models_accept(changed):
                assert structure.check(changed) is not None, (resource["resourceType"], path)
    assert checked > 500


def test_the_tables_from_the_cache_file_equal_those_from_the_models() -> None:
    from_models = structure._build(structure.generate())
    loaded = structure.load()
    assert from_models.keys() == loaded.keys()
    assert "Observation" in loaded and "Coding" not in loaded
    for name in ("Observation", "Patient", "Bundle", "Extension"):
        if name in loaded:
            assert loaded[name].elements.keys() == from_models[name].elements.keys()
