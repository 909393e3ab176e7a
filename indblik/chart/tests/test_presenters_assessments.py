"""Assessment forms: vital signs flow sheet, scores, and questionnaire answers."""

from __future__ import annotations

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.ASSESSMENTS
CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
LOINC = "http://loinc.org"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def vital(rid, code, text, when="2026-02-25T10:25:00+01:00", **value):
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [{"coding": [{"system": CAT, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code}], "text": text},
        "subject": PATIENT_REF,
        "effectiveDateTime": when,
        **value,
    }


def bp(rid, systolic, diastolic, when="2026-02-25T10:25:00+01:00"):
    def part(code, value):
        return {
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": {"value": value, "unit": "mmHg"},
        }

    return vital(
        rid,
        "85354-9",
        "Blodtryk",
        when,
        component=[part("8480-6", systolic), part("8462-4", diastolic)],
    )


def score(rid, text, value, when, category="survey"):
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [{"coding": [{"system": CAT, "code": category}]}],
        "code": {"coding": [{"system": "local", "code": rid}], "text": text},
        "effectiveDateTime": when,
        "valueInteger": value,
    }


QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "id": "smerte",
    "url": "https://hospital.example/fhir/Questionnaire/smerte",
    "version": "2",
    "title": "Smerter og funktion",
    "item": [
        {"linkId": "hvile", "text": "Smerter i hvile (0-10)", "type": "integer"},
        {
            "linkId": "gang",
            "text": "Hvor langt kan du gå?",
            "type": "choice",
            "answerOption": [{"valueCoding": {"system": "s", "code": "3", "display": "100-500 m"}}],
        },
    ],
}


def response(rid, **extra):
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "questionnaire": "https://hospital.example/fhir/Questionnaire/smerte|2",
        "status": "completed",
        "subject": PATIENT_REF,
        "authored": "2026-02-20T08:00:00+01:00",
        "author": {"reference": "Patient/p1"},
        "item": [
            {"linkId": "hvile", "answer": [{"valueInteger": 4}]},
            {"linkId": "gang", "answer": [{"valueCoding": {"system": "s", "code": "3"}}]},
            {
                "linkId": "gruppe",
                "text": "Hjælp i hjemmet",
                "item": [
                    {
                        "linkId": "hjaelp",
                        "text": "Får du hjælp?",
                        "answer": [{"valueBoolean": True}],
                    }
                ],
            },
        ],
        **extra,
    }


def test_vital_signs_form_a_flow_sheet_with_blood_pressure_first_and_abnormal_marked():
    pulse = vital(
        "o2",
        "8867-4",
        "Puls",
        valueQuantity={"value": 118, "unit": "/min"},
        interpretation=[{"coding": [{"code": "H"}]}],
    )
    temp = vital("o3", "8310-5", "Temperatur", valueQuantity={"value": 38.2, "unit": "°C"})
    earlier = bp("o4", 120, 80, when="2026-02-24T10:25:00+01:00")
    toks = score("toks", "TOKS", 3, "2026-02-25T10:25:00+01:00")
    context = present(S, [temp, pulse, bp("o1", 141, 94), earlier, toks])
    assert context["columns"] == ["Blodtryk", "Puls", "Temperatur", "TOKS"]
    latest, older = context["rounds"]
    assert [cell.text if cell else None for cell in latest.cells] == [
        "141/94 mmHg",
        "118 /min",
        "38,2 °C",
        "3",
    ]
    assert latest.cells[1].abnormal and not latest.cells[0].abnormal
    assert older.cells[0].text == "120/80 mmHg" and older.cells[1] is None
    assert context["scores"] == []  # TOKS joined the round it was taken with
    html = render(S, context)
    assert "(abnormal)" in html and "<caption" in html


def test_a_score_taken_alone_is_listed_with_its_value():
    barthel = score("barthel", "Barthel-100", 65, "2026-02-10")
    context = present(S, [barthel])
    (row,) = context["scores"]
    assert (row.name, row.value, row.date.text) == ("Barthel-100", "65", "10.02.2026")
    assert context["rounds"] == []


def test_questionnaire_answers_resolve_texts_and_codes_from_the_questionnaire():
    context = present(S, [response("q1")], extra={Section.OTHER: [QUESTIONNAIRE]})
    (form,) = context["forms"]
    assert form.title == "Smerter og funktion"
    assert form.patient_reported and form.author == "The citizen"
    assert [(a.question, a.answer, a.depth) for a in form.answers] == [
        ("Smerter i hvile (0-10)", "4", 0),
        ("Hvor langt kan du gå?", "100-500 m", 0),
        ("Hjælp i hjemmet", "", 0),
        ("Får du hjælp?", "yes", 1),
    ]
    assert context["resource_ids"] == ["QuestionnaireResponse/q1"]
    html = render(S, context)
    assert "Answered by the citizen" in html and 'scope="rowgroup"' in html


def test_without_the_questionnaire_the_link_ids_and_codes_still_show():
    (form,) = present(S, [response("q2")])["forms"]
    assert form.title == "Smerte"
    assert form.answers[0].question == "hvile"
    assert form.answers[1].answer == "3"


def test_a_contained_questionnaire_is_used_and_a_clinician_author_named():
    contained = {**QUESTIONNAIRE, "id": "form1"}
    qr = response(
        "q3",
        questionnaire="#form1",
        contained=[contained],
        author={"reference": "Practitioner/1", "display": "Lise Holm, sygeplejerske"},
        status="in-progress",
    )
    (form,) = present(S, [qr])["forms"]
    assert form.answers[0].question == "Smerter i hvile (0-10)"
    assert form.author == "Lise Holm, sygeplejerske" and not form.patient_reported
    assert form.status == "not finished"


def test_entered_in_error_hidden_and_unanswered_questions_say_so():
    broken = response("q4", item=[{"linkId": "x", "text": "Spørgsmål"}])
    context = present(S, [broken, response("q5", status="entered-in-error")])
    (form,) = context["forms"]
    assert form.answers[0].answer == "not answered"


def test_filter_by_kind_narrows_both_vitals_and_forms():
    context = present(
        S,
        [bp("o1", 141, 94), vital("o2", "8867-4", "Puls", valueQuantity={"value": 60})],
        filters=Filters(kind="puls"),
    )
    assert context["columns"] == ["Puls"]
    assert context["resource_ids"] == ["Observation/o2"]
