"""The diagnosis list: active and resolved, ICD-10 codes, onset."""

from __future__ import annotations

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.presenters.diagnoses import icd10_code
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.DIAGNOSES
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def condition(rid, status="active", onset="2026-02-22T07:25:00+01:00", **extra):
    resource = {
        "resourceType": "Condition",
        "id": rid,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "urn:oid:1.2.208.176.2.4", "code": "DJ189", "display": "Pneumoni"},
                {"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"},
            ],
            "text": "Lungebetændelse",
        },
        "subject": PATIENT_REF,
        "onsetDateTime": onset,
        "recordedDate": "2026-02-22",
        "recorder": {"reference": "Practitioner/1", "display": "Søren Pedersen"},
        **extra,
    }
    if status:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": status}]}
    return resource


def test_active_and_resolved_diagnoses_are_separate_with_code_onset_and_status():
    resolved = condition("c2", "resolved", onset="2019", abatementDateTime="2019-05")
    context = present(S, [resolved, condition("c1")])
    (active,) = context["active"]
    assert (active.name, active.code) == ("Lungebetændelse", "J18.9")
    assert (active.status, active.tone) == ("active", "active")
    assert active.date.text == "22.02.2026 07:25"
    assert active.category == "contact diagnosis"
    assert active.recorded_by == "Søren Pedersen"
    (old,) = context["resolved"]
    assert old.date.text == "2019" and old.abated.text == "05.2019"
    assert old.tone == "done"
    html = render(S, context)
    assert html.index("Active diagnoses") < html.index("Resolved diagnoses")
    assert "<code>J18.9</code>" in html


def test_an_sks_code_is_shown_as_icd10():
    only_sks = {"coding": [{"system": "urn:oid:1.2.208.176.2.4", "code": "DI639"}]}
    assert icd10_code(only_sks) == "I63.9"
    assert icd10_code({"coding": [{"system": "local", "code": "X"}]}) == ""
    assert icd10_code("J18.9") == ""


def test_without_clinical_status_abatement_decides_and_otherwise_it_counts_as_active():
    unknown = condition("c3", status=None)
    abated = condition("c4", status=None, abatementString="efter operation")
    context = present(S, [unknown, abated])
    assert [row.id for row in context["active"]] == ["Condition/c3"]
    assert context["active"][0].status == "status not stated"
    assert [row.id for row in context["resolved"]] == ["Condition/c4"]


def test_refuted_is_ruled_out_suspected_is_marked_and_entered_in_error_is_hidden():
    refuted = condition(
        "c5", verificationStatus={"coding": [{"system": VERIFICATION, "code": "refuted"}]}
    )
    suspected = condition(
        "c6", verificationStatus={"coding": [{"system": VERIFICATION, "code": "provisional"}]}
    )
    error = condition(
        "c7", verificationStatus={"coding": [{"system": VERIFICATION, "code": "entered-in-error"}]}
    )
    context = present(S, [refuted, suspected, error])
    assert [row.id for row in context["active"]] == ["Condition/c6"]
    assert context["active"][0].verification == "suspected"
    assert [row.id for row in context["resolved"]] == ["Condition/c5"]
    assert context["resolved"][0].verification == "ruled out"
    assert "Condition/c7" not in context["resource_ids"]


def test_onset_as_age_and_odd_shapes():
    aged = condition("c8", onset=None, onsetAge={"value": 49, "unit": "år"}, recordedDate=None)
    odd = {"resourceType": "Condition", "id": "c9", "clinicalStatus": "active", "code": 5}
    context = present(S, [aged, odd])
    rows = {row.id: row for row in context["active"]}
    assert rows["Condition/c8"].onset_text == "49 år" and rows["Condition/c8"].date is None
    assert rows["Condition/c9"].name == "Diagnosis without a name"
    render(S, context)


def test_filter_by_code():
    other = condition(
        "c10", code={"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}]}
    )
    found = present(S, [condition("c1"), other], filters=Filters(kind="I10"))["active"]
    assert [row.id for row in found] == ["Condition/c10"]
