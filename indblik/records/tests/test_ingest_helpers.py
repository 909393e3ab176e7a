"""Shared helpers of the ingestion tests (no tests here): fixtures, builders, counts."""

from __future__ import annotations

import copy
import io
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from indblik.records.ingest import IngestResult, ingest_payload
from indblik.records.models import IngestionRun, OrganisationReference, Patient, Resource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PATIENT_ID = "3c0b1f4e-7a52-4c1e-9a70-0f6b1f5e8a01"
CPR = "0108589995"
NPU = "urn:oid:1.2.208.176.2.1"
LAB = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory",
        }
    ]
}


@cache
def _fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_bytes(name: str) -> bytes:
    """Return a fixture file's bytes."""
    return _fixture_bytes(name)


def fixture_json(name: str) -> dict[str, Any]:
    """Return a fresh copy of a JSON fixture (tests may change it)."""
    return copy.deepcopy(orjson.loads(_fixture_bytes(name)))


def ingest_bytes(
    data: bytes, content_type: str | None = "application/fhir+json", **options: Any
) -> IngestResult:
    """Ingest bytes as the CLI would (``content_type`` None: detect)."""
    return ingest_payload(
        io.BytesIO(data), source="test", channel="cli", content_type=content_type, **options
    )


def ingest_json(document: Any, **options: Any) -> IngestResult:
    """Ingest a JSON document."""
    return ingest_bytes(orjson.dumps(document), **options)


def ndjson(*resources: dict[str, Any]) -> bytes:
    """Return resources as NDJSON."""
    return b"".join(orjson.dumps(resource) + b"\n" for resource in resources)


def observation(
    fhir_id: str,
    *,
    value: float = 7.5,
    when: str = "2024-03-04T08:00:00+01:00",
    patient: str = PATIENT_ID,
    version: str | None = None,
    last_updated: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Return a haemoglobin result (NPU02319) for a patient."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": fhir_id,
        "status": "final",
        "category": [LAB],
        "code": {"coding": [{"system": NPU, "code": "NPU02319"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "mmol/L"},
    }
    meta = {}
    if version is not None:
        meta["versionId"] = version
    if last_updated is not None:
        meta["lastUpdated"] = last_updated
    if meta:
        resource["meta"] = meta
    resource.update(fields)
    return resource


def patient(fhir_id: str, cpr: str, **fields: Any) -> dict[str, Any]:
    """Return a minimal Danish Patient."""
    return {
        "resourceType": "Patient",
        "id": fhir_id,
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": cpr}],
        "name": [{"family": "Hansen", "given": ["Jens"]}],
        **fields,
    }


def counts() -> tuple[int, int, int]:
    """Return how many patients, resources and organisation references are stored."""
    return (
        Patient.objects.count(),
        Resource.objects.count(),
        OrganisationReference.objects.count(),
    )


def body(resource_type: str, fhir_id: str) -> dict[str, Any]:
    """Return a stored resource's JSON."""
    return Resource.objects.get(resource_type=resource_type, fhir_id=fhir_id).resource


def run_of(result: IngestResult) -> IngestionRun:
    """Return the ``IngestionRun`` row of an ingestion."""
    assert result.run_id is not None
    return IngestionRun.objects.get(pk=result.run_id)
