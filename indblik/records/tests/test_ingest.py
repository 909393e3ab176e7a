"""Ingestion into the local store: derived columns, versions, deletes, patients, sections."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from indblik.records.ingest import Action, ingest_resources
from indblik.records.models import IngestionRun, OrganisationReference, Patient, Resource
from indblik.records.sections import Section
from indblik.records.source import LocalStore, SectionQuery
from indblik.records.tests.test_ingest_helpers import (
    CPR,
    PATIENT_ID,
    body,
    counts,
    fixture_bytes,
    fixture_json,
    ingest_bytes,
    ingest_json,
    ndjson,
    observation,
    patient,
    run_of,
)

pytestmark = pytest.mark.django_db
UUID = "3c0b1f4e-7a52-4c1e-9a70-0f6b1f5e8a0"  # + entry number 1-8 in transaction-bundle.json


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def test_a_transaction_bundle_lands_with_its_derived_columns() -> None:
    result = ingest_bytes(fixture_bytes("transaction-bundle.json"))

    assert result.ok, result.errors
    assert (result.kind, result.created, result.failed) == ("transaction", 8, 0)
    stored = Patient.objects.get()
    assert stored.fhir_id == PATIENT_ID  # the urn:uuid of its fullUrl
    assert (stored.cpr, stored.family, stored.given) == (CPR, "Elmer", "Bruno Test")
    assert (stored.birth_date, stored.gender) == (dt.date(1958, 8, 1), "male")
    assert stored.municipality_code == "0751"
    assert stored.address == "Søndergade 12, 8000 Aarhus C"
    # generalPractitioner is a literal reference to an Organization of the same bundle.
    assert stored.gp_identifier == "sor:467661000016002"
    assert stored.version == 1 and not stored.deleted

    rows = {
        row.resource_type: row for row in Resource.objects.exclude(resource_type="Organization")
    }
    lab = rows["Observation"]
    assert lab.patient_id == stored.pk
    assert lab.section == Section.LAB
    assert lab.category == "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    assert lab.code == "urn:oid:1.2.208.176.2.1|NPU02319"
    assert lab.status == "final"
    assert lab.date == utc(2024, 3, 2, 7, 15)
    assert (rows["Encounter"].section, rows["Encounter"].status) == (Section.ENCOUNTERS, "finished")
    assert rows["Condition"].section == Section.DIAGNOSES
    assert rows["Condition"].code == "http://hl7.org/fhir/sid/icd-10|J18.9"
    assert rows["Condition"].status == "active"
    assert rows["DocumentReference"].section == Section.DISCHARGE_SUMMARIES
    assert rows["DocumentReference"].code == "http://loinc.org|18842-5"
    assert rows["ServiceRequest"].section == Section.REFERRALS
    organisations = Resource.objects.filter(resource_type="Organization")
    assert [(row.patient_id, row.section) for row in organisations] == [(None, "")] * 2


def test_references_between_entries_are_rewritten_to_type_and_id() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))

    lab = body("Observation", f"{UUID}5")
    assert lab["id"] == f"{UUID}5"
    assert lab["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
    assert lab["encounter"] == {"reference": f"Encounter/{UUID}4"}
    assert Patient.objects.get().resource["generalPractitioner"] == [
        {"reference": f"Organization/{UUID}2"}
    ]


def test_organisation_references_are_recorded_with_the_clinical_date() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))

    refs = {
        (ref.resource.resource_type, ref.organisation, ref.date)
        for ref in OrganisationReference.objects.select_related("resource")
    }
    assert refs == {
        # A literal reference to an Organization of the bundle, resolved to its SOR code.
        ("ServiceRequest", "sor:1000161000016003", utc(2024, 3, 6, 8, 0)),
        # A logical reference by SOR identifier.
        ("DocumentReference", "sor:1150161000016005", utc(2024, 3, 5, 13, 0)),
    }


def test_re_ingesting_identical_data_changes_nothing() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))
    before = list(Resource.objects.order_by("pk").values_list("pk", "version", "last_updated"))

    again = ingest_bytes(fixture_bytes("transaction-bundle.json"))

    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)
    assert [outcome.action for outcome in again.entries] == [Action.UNCHANGED] * 8
    assert list(Resource.objects.order_by("pk").values_list("pk", "version", "last_updated")) == (
        before
    )
    assert counts() == (1, 7, 2)


def test_a_change_of_meta_last_updated_alone_is_no_change() -> None:
    ingest_json(patient("p1", "0101701234"))
    ingest_json(observation("o1", patient="p1", version="1", last_updated="2024-03-04T09:00:00Z"))

    again = ingest_json(
        observation("o1", patient="p1", version="1", last_updated="2024-03-05T09:00:00Z")
    )

    assert again.unchanged == 1


def test_a_newer_version_replaces_the_stored_one_and_an_older_one_is_ignored() -> None:
    ingest_json(patient("p1", "0101701234"))
    ingest_json(observation("o1", patient="p1", value=7.0, version="2"))

    newer = ingest_json(observation("o1", patient="p1", value=8.0, version="3"))
    late = ingest_json(observation("o1", patient="p1", value=6.0, version="1"))

    assert (newer.updated, late.unchanged) == (1, 1)
    row = Resource.objects.get(fhir_id="o1")
    assert row.version == 3
    assert row.resource["valueQuantity"]["value"] == 8.0


def test_without_numeric_versions_meta_last_updated_decides() -> None:
    ingest_json(patient("p1", "0101701234"))
    ingest_json(
        observation("o1", patient="p1", value=7.0, version="a", last_updated="2024-03-04T10:00:00Z")
    )

    late = ingest_json(
        observation("o1", patient="p1", value=6.0, version="b", last_updated="2024-03-04T09:00:00Z")
    )
    newer = ingest_json(
        observation("o1", patient="p1", value=8.0, version="c", last_updated="2024-03-04T11:00:00Z")
    )

    assert (late.unchanged, newer.updated) == (1, 1)
    row = Resource.objects.get(fhir_id="o1")
    assert row.last_updated == utc(2024, 3, 4, 11, 0)
    assert row.resource["valueQuantity"]["value"] == 8.0


def test_a_change_without_meta_counts_a_new_version() -> None:
    ingest_json(patient("p1", "0101701234"))
    ingest_json(observation("o1", patient="p1", value=7.0))

    ingest_json(observation("o1", patient="p1", value=7.1))

    assert Resource.objects.get(fhir_id="o1").version == 2


def test_a_delete_in_a_batch_hides_the_resource_and_other_entries_report_their_own_outcome() -> (
    None
):
    ingest_bytes(fixture_bytes("transaction-bundle.json"))
    store = LocalStore()
    record = store.find_patient(CPR)
    assert record is not None
    assert len(store.section(record, SectionQuery(Section.DIAGNOSES)).resources) == 1

    batch = ingest_bytes(fixture_bytes("batch-bundle.json"))

    assert batch.kind == "batch" and batch.status == 200
    assert [(outcome.action, outcome.status) for outcome in batch.entries] == [
        (Action.CREATED, 201),
        (Action.DELETED, 200),
        (Action.FAILED, 422),
    ]
    assert [str(error) for error in batch.entries[2].errors] == [
        "entry 2: Observation.status: field required"
    ]
    assert store.section(record, SectionQuery(Section.DIAGNOSES)).resources == ()
    condition = Resource.objects.get(resource_type="Condition")
    assert condition.deleted and condition.version == 2
    assert Resource.objects.filter(fhir_id="hb-2024-03-04").exists()
    assert not Resource.objects.filter(fhir_id="crp-2024-03-04").exists()


def test_a_deleted_resource_comes_back_when_it_is_sent_again() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))
    ingest_bytes(fixture_bytes("batch-bundle.json"))

    again = ingest_bytes(fixture_bytes("transaction-bundle.json"))

    assert again.updated == 1
    assert not Resource.objects.get(resource_type="Condition").deleted


def test_a_transaction_with_one_bad_entry_stores_nothing_and_names_entry_and_path() -> None:
    bundle = fixture_json("transaction-bundle.json")
    del bundle["entry"][4]["resource"]["status"]

    result = ingest_json(bundle)

    assert not result.ok and result.status == 422
    assert [str(error) for error in result.errors] == [
        "entry 4: Observation.status: field required"
    ]
    assert counts() == (0, 0, 0)
    outcome = result.to_operation_outcome()
    assert outcome["issue"][0]["expression"] == ["Observation.status"]
    assert "entry 4" in outcome["issue"][0]["diagnostics"]
    run = run_of(result)
    assert run.outcome == IngestionRun.Outcome.FAILED
    assert run.error == "entry 4: Observation.status: field required"


def test_a_transaction_whose_entry_references_an_unknown_patient_stores_nothing() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation("o1", patient="nobody"),
                "request": {"method": "PUT", "url": "Observation/o1"},
            }
        ],
    }

    result = ingest_json(bundle)

    assert [str(error) for error in result.errors] == [
        "entry 0: Observation.subject: the patient is neither stored nor in this Bundle"
    ]
    assert counts() == (0, 0, 0)


def test_a_patient_whose_cpr_is_stored_under_another_id_updates_that_patient() -> None:
    ingest_bytes(fixture_bytes("patient-dk.json"))  # id 283, same CPR as the bundle's patient

    result = ingest_bytes(fixture_bytes("transaction-bundle.json"))

    assert result.ok, result.errors
    assert (result.created, result.updated) == (7, 1)
    stored = Patient.objects.get()
    assert stored.fhir_id == "283"
    assert stored.gp_identifier == "sor:467661000016002"
    assert body("Observation", f"{UUID}5")["subject"] == {"reference": "Patient/283"}
    assert set(Resource.objects.exclude(patient=None).values_list("patient_id", flat=True)) == {
        stored.pk
    }


def test_a_resource_can_name_its_patient_by_cpr_identifier() -> None:
    ingest_json(patient("p1", "0101701234"))
    lab = observation("o1")
    lab["subject"] = {"identifier": {"system": "urn:oid:1.2.208.176.1.2", "value": "010170-1234"}}

    result = ingest_json(lab)

    assert result.ok, result.errors
    row = Resource.objects.get(fhir_id="o1")
    assert row.patient == Patient.objects.get(fhir_id="p1")
    assert row.resource["subject"]["reference"] == "Patient/p1"


def test_a_patient_without_a_valid_cpr_is_refused() -> None:
    missing = ingest_json({"resourceType": "Patient", "id": "p1"})
    invalid = ingest_json(patient("p2", "3213701234"))

    assert [str(error) for error in missing.errors] == [
        "entry 0: Patient.identifier: a CPR identifier (system urn:oid:1.2.208.176.1.2) is required"
    ]
    assert [str(error) for error in invalid.errors] == [
        "entry 0: Patient.identifier[0].value: not a valid CPR number (10 digits, DDMMYY-NNNN)"
    ]
    assert counts() == (0, 0, 0)


def test_errors_and_runs_never_quote_clinical_values() -> None:
    secret_cpr = "3213701234"  # invalid, so that it ends up in an error if anything quotes it
    resource = patient("p2", secret_cpr, birthDate="Hansen-1970", nickname="Jens Hansen")

    result = ingest_json(resource)

    text = "\n".join(str(error) for error in result.errors)
    run = run_of(result)
    for value in (secret_cpr, "Hansen", "Jens"):
        assert value not in text
        assert value not in run.error
    assert "Patient.birthDate" in text and "Patient.nickname" in text


def test_a_status_code_outside_the_fhir_value_set_is_refused() -> None:
    ingest_json(patient("p1", "0101701234"))

    result = ingest_json(observation("o1", patient="p1", status="done"))

    assert [str(error) for error in result.errors] == [
        "entry 0: Observation.status: not a code of the FHIR R4 value set"
    ]


def test_a_condition_needs_its_clinical_status() -> None:
    ingest_json(patient("p1", "0101701234"))
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"text": "pneumoni"},
        "subject": {"reference": "Patient/p1"},
    }

    result = ingest_json(condition)

    assert result.errors[0].path == "Condition.clinicalStatus"


def test_patient_fields_come_from_dk_core_address_gp_and_deceased() -> None:
    organisation = {
        "resourceType": "Organization",
        "id": "gp1",
        "identifier": [{"system": "http://cvr.dk", "value": "12345678"}],
    }
    ingest_json(organisation)
    citizen = patient(
        "p1",
        "0101701234",
        deceasedDateTime="2024-05-01T10:00:00+02:00",
        generalPractitioner=[{"reference": "Organization/gp1"}],
        address=[
            {"use": "old", "text": "Gammel vej 1", "period": {"end": "2020-01-01"}},
            {
                "use": "home",
                "text": "Nørregade 3, 5000 Odense C",
                "extension": [
                    {
                        "url": "http://hl7.dk/fhir/core/StructureDefinition/dk-core-municipalityCodes",
                        "valueCodeableConcept": {
                            "coding": [{"system": "urn:oid:1.2.208.176.1.3", "code": "0461"}]
                        },
                    }
                ],
            },
        ],
    )

    ingest_json(citizen)

    stored = Patient.objects.get()
    assert (stored.municipality_code, stored.address) == ("0461", "Nørregade 3, 5000 Odense C")
    assert stored.gp_identifier == "cvr:12345678"
    assert stored.deceased and stored.deceased_at == utc(2024, 5, 1, 8, 0)


def test_an_update_replaces_the_organisation_references_of_a_resource() -> None:
    ingest_json(patient("p1", "0101701234"))
    sor = "urn:oid:1.2.208.176.1.1"
    referral: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": "r1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "authoredOn": "2024-03-05",
        "performer": [{"identifier": {"system": sor, "value": "111"}}],
    }
    ingest_json(referral)

    referral["performer"] = [{"identifier": {"system": sor, "value": "222"}}]
    ingest_json(referral)

    assert list(OrganisationReference.objects.values_list("organisation", flat=True)) == ["sor:222"]


def test_ndjson_stores_the_valid_lines_and_names_the_bad_one() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))
    lines = fixture_bytes("lab-results.ndjson").splitlines(keepends=True)
    broken = observation("lab-bad")
    del broken["status"]
    data = b"".join(lines[:2]) + ndjson(broken) + b"".join(lines[2:])

    result = ingest_bytes(data, content_type="application/fhir+ndjson")

    assert (result.kind, result.created, result.failed) == ("ndjson", 6, 1)
    assert [str(error) for error in result.errors] == ["line 3: Observation.status: field required"]
    assert run_of(result).outcome == IngestionRun.Outcome.PARTIAL


def test_ndjson_is_detected_without_a_content_type() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))

    result = ingest_bytes(fixture_bytes("lab-results.ndjson"), content_type=None)

    assert (result.kind, result.created) == ("ndjson", 6)


def test_a_later_line_of_the_same_resource_wins_within_one_file() -> None:
    ingest_json(patient("p1", "0101701234"))
    data = ndjson(
        observation("o1", patient="p1", value=1.0, version="1"),
        observation("o1", patient="p1", value=2.0, version="2"),
        observation("o1", patient="p1", value=0.5, version="1"),
    )

    result = ingest_bytes(data, content_type="application/fhir+ndjson")

    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    assert body("Observation", "o1")["valueQuantity"]["value"] == 2.0


def test_ingest_resources_takes_patients_first_in_the_same_iterable() -> None:
    resources = (
        item
        for item in [
            patient("p1", "0101701234"),
            observation("o1", patient="p1"),
            observation("o2"),
        ]
    )

    result = ingest_resources(resources, source="synthetic")

    assert (result.created, result.failed) == (2, 1)
    assert [str(error) for error in result.errors] == [
        "resource 2: Observation.subject: the patient is neither stored nor in this Bundle"
    ]
    run = run_of(result)
    assert (run.source, run.channel, run.created, run.failed) == ("synthetic", "generate", 2, 1)


def test_ingest_resources_spans_chunks_and_reports_progress() -> None:
    resources = [patient("p1", "0101701234")] + [
        observation(f"o{index}", patient="p1") for index in range(2500)
    ]
    seen: list[int] = []

    result = ingest_resources(resources, source="synthetic", progress=seen.append, parallel=False)

    assert result.created == 2501
    assert seen == [1000, 2000, 2501]
    assert Resource.objects.filter(patient__fhir_id="p1").count() == 2500


def test_ingest_resources_validates_in_worker_processes_too() -> None:
    resources = [patient("p1", "0101701234"), observation("o1", patient="p1")]
    bad = observation("o2", patient="p1")
    bad["valueQuantity"] = {"value": "seven"}

    result = ingest_resources([*resources, bad], source="synthetic", parallel=True)

    assert (result.created, result.failed) == (2, 1)
    assert [str(error) for error in result.errors] == [
        "resource 2: Observation.valueQuantity.value: not a valid FHIR decimal"
    ]


def test_ingest_resources_does_not_change_the_callers_dicts() -> None:
    citizen = patient("p1", "0101701234")
    lab = observation("o1", patient="p1")
    del lab["id"]
    before = repr(lab)

    ingest_resources([citizen, lab], source="synthetic")

    assert repr(lab) == before


def test_a_resource_without_an_id_or_urn_uuid_is_refused() -> None:
    lab = observation("o1")
    del lab["id"]

    result = ingest_json(lab)

    assert [str(error) for error in result.errors] == [
        "entry 0: Observation.id: field required (or a urn:uuid fullUrl)"
    ]


def test_a_urn_uuid_reference_to_nothing_in_the_bundle_is_refused() -> None:
    bundle = fixture_json("transaction-bundle.json")
    bundle["entry"][4]["resource"]["encounter"]["reference"] = "urn:uuid:00000000-0000-0000-0000-0"

    result = ingest_json(bundle)

    assert [str(error) for error in result.errors] == [
        "entry 4: Observation.encounter.reference: a urn: reference must name the fullUrl of an "
        "entry of this Bundle"
    ]
    assert counts() == (0, 0, 0)


def test_binary_data_is_kept_as_sent() -> None:
    binary = {
        "resourceType": "Binary",
        "id": "b1",
        "contentType": "application/pdf",
        "data": "JVBERi0xLjQK",
    }

    ingest_json(binary)

    row = Resource.objects.get(resource_type="Binary")
    assert row.patient is None
    assert row.resource["data"] == "JVBERi0xLjQK"


def test_the_local_store_returns_a_section_newest_first() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))
    ingest_bytes(fixture_bytes("lab-results.ndjson"), content_type=None)
    store = LocalStore()
    record = store.find_patient(CPR)
    assert record is not None

    lab = store.section(record, SectionQuery(Section.LAB))

    dates = [resource["effectiveDateTime"] for resource in lab.resources]
    assert len(dates) == 7
    assert dates == sorted(dates, reverse=True)


def test_the_local_store_resolves_ingested_organizations() -> None:
    ingest_bytes(fixture_bytes("transaction-bundle.json"))

    found = LocalStore().resolve([f"Organization/{UUID}2", "Organization/unknown"])

    assert list(found) == [f"Organization/{UUID}2"]
    assert found[f"Organization/{UUID}2"]["name"] == "Lægerne Søndergade"


@pytest.mark.parametrize("patients", [1, 30])
def test_a_section_is_one_query_however_many_patients_and_resources(patients: int) -> None:
    resources: list[dict[str, Any]] = []
    for index in range(patients):
        resources.append(patient(f"p{index}", f"01017{index:05d}"))
        resources.extend(
            observation(f"o{index}-{n}", patient=f"p{index}", when=f"2024-03-{1 + n:02d}")
            for n in range(patients)
        )
    assert ingest_resources(resources, source="test").ok
    store = LocalStore()
    record = store.find_patient("0101700000")
    assert record is not None

    with CaptureQueriesContext(connection) as queries:
        lab = store.section(record, SectionQuery(Section.LAB, limit=10))

    assert len(queries) == 1
    assert len(lab.resources) == min(patients, 10)


def test_re_sending_an_unchanged_resource_skips_validation_but_a_change_is_validated() -> None:
    ingest_json(patient("p1", "0101701234"))
    sloppy = observation("o1", patient="p1", unknownThing=True)  # stored without validation
    assert ingest_resources([sloppy], source="legacy", validate=False).created == 1

    again = ingest_resources([sloppy], source="feed")
    changed = ingest_resources([{**sloppy, "valueQuantity": {"value": 9.9}}], source="feed")

    assert again.unchanged == 1 and again.ok
    assert [str(error) for error in changed.errors] == [
        "resource 0: Observation.unknownThing: unknown element (not part of this resource type "
        "in FHIR R4)"
    ]


def test_a_skipped_validation_happens_after_all_when_an_earlier_chunk_changed_the_resource() -> (
    None
):
    ingest_json(patient("p1", "0101701234"))
    invalid = observation("o1", patient="p1", unknownThing=True)
    assert ingest_resources([invalid], source="legacy", validate=False).created == 1
    valid = observation("o1", patient="p1", value=8.0)
    fillers = [observation(f"f{index}", patient="p1") for index in range(999)]

    # With worker processes, chunk 2 is checked against the store before chunk 1 is written:
    # its copy of the stored (invalid) version looks unchanged then, but is not by the time
    # chunk 2 is written.
    result = ingest_resources([*fillers, valid, invalid], source="feed", parallel=True)

    assert (result.created, result.updated, result.failed) == (999, 1, 1)
    assert body("Observation", "o1")["valueQuantity"]["value"] == 8.0


def test_every_ingestion_writes_one_audit_event_with_its_counts() -> None:
    from indblik.audit import Action as AuditAction
    from indblik.audit import AuditEvent, Outcome

    stored = ingest_bytes(fixture_bytes("transaction-bundle.json"))
    bundle = fixture_json("transaction-bundle.json")
    del bundle["entry"][4]["resource"]["status"]
    refused = ingest_json(bundle)

    events = list(AuditEvent.objects.filter(action=AuditAction.INGEST_RUN).order_by("id"))
    assert [(e.outcome, e.details["run"], e.details["created"]) for e in events] == [
        (Outcome.SUCCESS, stored.run_id, 8),
        (Outcome.REFUSED, refused.run_id, 0),
    ]
    assert all(e.patient_cpr == "" and CPR not in str(e.details) for e in events)


def test_a_patient_whose_id_is_its_cpr_number_is_refused() -> None:
    resource = patient(CPR, CPR)

    result = ingest_json(resource)

    assert not result.ok
    assert [str(e) for e in result.errors] == [
        "entry 0: Patient.id: must not be the CPR number (ids appear in URLs)"
    ]
    assert counts() == (0, 0, 0)
