"""Patient history: earlier illnesses and operations, family and social history."""

from __future__ import annotations

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.HISTORY
RECORD = "https://indblik.dk/fhir/CodeSystem/record-category"
CAT = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


ILLNESS = {
    "resourceType": "Condition",
    "id": "c1",
    "clinicalStatus": {"coding": [{"code": "resolved"}]},
    "category": [{"coding": [{"system": RECORD, "code": "medical-history"}]}],
    "code": {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "K35.8"}],
        "text": "Akut blindtarmsbetændelse",
    },
    "subject": PATIENT_REF,
    "onsetDateTime": "2022",
    "abatementDateTime": "2022",
}
OPERATION = {
    "resourceType": "Procedure",
    "id": "p1",
    "status": "completed",
    "category": {"coding": [{"system": RECORD, "code": "surgical-history"}]},
    "code": {"text": "Appendektomi"},
    "subject": PATIENT_REF,
    "performedDateTime": "2022-06",
}
RELATIVE = {
    "resourceType": "FamilyMemberHistory",
    "id": "f1",
    "status": "completed",
    "patient": PATIENT_REF,
    "date": "2024-05-17",
    "relationship": {"coding": [{"code": "BRO", "display": "brother"}], "text": "Bror"},
    "deceasedBoolean": True,
    "condition": [
        {
            "code": {"text": "Tyktarmskræft"},
            "onsetAge": {"value": 49, "unit": "år"},
        },
        {"code": {"text": "Sukkersyge"}},
    ],
}


def social(rid, code, **value):
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [{"coding": [{"system": CAT, "code": "social-history"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": "English"}]},
        "effectiveDateTime": "2026-01-20T10:25:00+01:00",
        **value,
    }


def test_each_kind_of_history_lands_in_its_group():
    smoking = social(
        "o1", "72166-2", valueCodeableConcept={"coding": [{"code": "x"}], "text": "Aldrig røget"}
    )
    housing = social("o2", "71802-3", valueString="Bor med ægtefælle, 4. sal med elevator")
    context = present(S, [ILLNESS, OPERATION, RELATIVE, smoking, housing])
    (illness,) = context["illnesses"]
    assert (illness.name, illness.code, illness.date.text) == (
        "Akut blindtarmsbetændelse",
        "K35.8",
        "2022",
    )
    (operation,) = context["operations"]
    assert (operation.name, operation.date.text, operation.status) == (
        "Appendektomi",
        "06.2022",
        "",
    )
    (relative,) = context["relatives"]
    assert relative.relationship == "Bror" and relative.deceased == "deceased"
    assert relative.conditions == ("Tyktarmskræft (onset 49 år)", "Sukkersyge")
    topics = {row.topic: row.value for row in context["social"]}
    assert topics == {
        "Smoking": "Aldrig røget",
        "Housing": "Bor med ægtefælle, 4. sal med elevator",
    }
    assert len(context["resource_ids"]) == 5
    html = render(S, context)
    for heading in ("Earlier illnesses", "Earlier operations", "Family history", "Social history"):
        assert heading in html


def test_an_unknown_social_topic_uses_the_source_display_and_empty_groups_say_so():
    context = present(S, [social("o3", "99999-9", valueBoolean=False)])
    (row,) = context["social"]
    assert (row.topic, row.value) == ("English", "no")
    html = render(S, context)
    assert "No earlier illnesses recorded." in html and "No family history recorded." in html


def test_an_operation_not_done_says_so_and_entered_in_error_is_hidden():
    not_done = {**OPERATION, "id": "p2", "status": "not-done"}
    error = {**OPERATION, "id": "p3", "status": "entered-in-error"}
    context = present(S, [not_done, error])
    (row,) = context["operations"]
    assert row.status == "not done" and row.tone == "cancelled"


def test_odd_shapes_do_not_break():
    odd_relative = {"resourceType": "FamilyMemberHistory", "id": "f2", "condition": "x"}
    odd_operation = {"resourceType": "Procedure", "id": "p4", "performedString": "som barn"}
    context = present(S, [odd_relative, odd_operation])
    assert context["relatives"][0].relationship == "Relative"
    assert context["operations"][0].date_text == "som barn"
    render(S, context)


def test_filter_by_text():
    found = present(S, [ILLNESS, OPERATION, RELATIVE], filters=Filters(text="tyktarm"))
    assert found["resource_ids"] == ["FamilyMemberHistory/f1"]
