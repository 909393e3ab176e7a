"""``indblik generate``: NDJSON and Bundle files, and straight into the store."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from fhir.resources.R4B import get_fhir_model_class

from indblik.records import fhir
from indblik.records.models import OrganisationReference, Patient, Resource
from indblik.records.synth import output

NOW = "2025-11-25"


def _generate(**options: Any) -> str:
    out = io.StringIO()
    call_command("generate", now=NOW, stdout=out, **options)
    return out.getvalue()


def _ndjson(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_it_writes_one_ndjson_file_per_resource_type_and_a_manifest(tmp_path: Path) -> None:
    target = tmp_path / "export"
    message = _generate(patients=4, seed=2, out=target)
    assert "4 citizens" in message
    order = output.load_order(target)
    assert [p.name for p in order[:2]] == ["Organization.ndjson", "Practitioner.ndjson"]
    assert order.index(target / "Patient.ndjson") < order.index(target / "Encounter.ndjson")
    files = {p.name for p in target.iterdir()}
    assert files == {p.name for p in order} | {output.MANIFEST}
    patients = _ndjson(target / "Patient.ndjson")
    assert [p["id"] for p in patients] == ["synth-0", "synth-1", "synth-2", "synth-3"]
    for path in order:
        for resource in _ndjson(path):
            assert resource["resourceType"] == path.stem
    for resource in _ndjson(target / "Encounter.ndjson")[:5]:
        get_fhir_model_class("Encounter").model_validate(resource)


def test_it_writes_one_transaction_bundle_per_citizen(tmp_path: Path) -> None:
    target = tmp_path / "bundles"
    _generate(patients=3, out=target, format="bundles")
    names = sorted(p.name for p in target.iterdir())
    assert names == [
        output.SHARED_BUNDLE,
        "patient-0000000.json",
        "patient-0000001.json",
        "patient-0000002.json",
    ]
    bundle = orjson.loads((target / "patient-0000001.json").read_bytes())
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "transaction"
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert all(url.startswith("urn:uuid:") for url in full_urls)
    first = bundle["entry"][0]
    assert first["resource"]["resourceType"] == "Patient"
    assert first["request"] == {"method": "PUT", "url": "Patient/synth-1"}
    for entry in bundle["entry"]:
        for reference in fhir.references(entry["resource"]):
            target_ref = reference.get("reference")
            if isinstance(target_ref, str) and not target_ref.startswith(
                ("Organization/", "Practitioner/", "Location/")
            ):
                assert target_ref in full_urls, target_ref


def test_it_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "old.ndjson").write_text("{}\n")
    with pytest.raises(CommandError, match="not empty"):
        _generate(patients=1, out=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["old.ndjson"]


def test_it_refuses_a_negative_number_of_citizens_and_a_bad_date(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="zero or more"):
        _generate(patients=-1, out=tmp_path / "x")
    with pytest.raises(CommandError, match="--now"):
        call_command("generate", patients=1, now="next tuesday", out=tmp_path / "y")
    with pytest.raises(CommandError, match="--format needs --out"):
        _generate(patients=1, format="bundles")


def _stored() -> dict[str, Any]:
    """Everything the store derived from the resources, without run-specific columns."""
    patients = sorted(
        Patient.objects.values_list(
            "fhir_id",
            "cpr",
            "family",
            "given",
            "birth_date",
            "gender",
            "municipality_code",
            "address",
            "gp_identifier",
            "deceased",
            "deceased_at",
            "digest",
            "body",
        )
    )
    resources = sorted(
        Resource.objects.values_list(
            "resource_type",
            "fhir_id",
            "patient__fhir_id",
            "section",
            "category",
            "code",
            "status",
            "date",
            "restricted",
            "security",
            "digest",
            "body",
        )
    )
    references = sorted(
        OrganisationReference.objects.values_list(
            "resource__resource_type",
            "resource__fhir_id",
            "patient__fhir_id",
            "organisation",
            "date",
        )
    )
    return {"patients": patients, "resources": resources, "references": references}


@pytest.mark.django_db(transaction=True)
def test_storing_straight_equals_ingesting_the_ndjson_files(tmp_path: Path) -> None:
    from indblik.records.ingest import ingest_payload

    message = _generate(patients=6, seed=5)
    assert "stored" in message
    straight = _stored()
    assert len(straight["patients"]) == 6 and straight["references"]

    Patient.objects.all().delete()
    Resource.objects.all().delete()
    _generate(patients=6, seed=5, out=tmp_path / "files")
    for path in output.load_order(tmp_path / "files"):
        with path.open("rb") as stream:
            result = ingest_payload(stream, source="file", channel="cli", content_type=None)
        assert result.ok, (path.name, result.errors[:3])
    assert _stored() == straight
