"""Results review: imaging and pathology answers with the full report text."""

from __future__ import annotations

import base64

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.RESULTS_REVIEW
V2 = "http://terminology.hl7.org/CodeSystem/v2-0074"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def report(rid: str, status: str = "final", category: str = "RAD", **extra):
    return {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": status,
        "category": [{"coding": [{"system": V2, "code": category}]}],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "36643-5", "display": "XR Chest"}],
            "text": "Røntgen af thorax",
        },
        "subject": PATIENT_REF,
        "effectiveDateTime": "2026-02-22T10:25:00+01:00",
        "issued": "2026-02-22T13:25:00+01:00",
        "performer": [
            {"reference": "Organization/rad", "display": "Radiologisk Afdeling, Bispebjerg"}
        ],
        "resultsInterpreter": [{"reference": "Practitioner/9", "display": "Gitte Sørensen"}],
        "imagingStudy": [{"reference": "ImagingStudy/i1"}],
        "conclusion": "Infiltrat i venstre underlap.\nKonklusion: Pneumoni.",
        **extra,
    }


STUDY = {
    "resourceType": "ImagingStudy",
    "id": "i1",
    "status": "available",
    "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CR"}],
    "subject": PATIENT_REF,
    "started": "2026-02-22T10:25:00+01:00",
    "numberOfInstances": 4,
    "description": "Røntgen af thorax",
}


def test_a_report_shows_its_conclusion_department_interpreter_and_images():
    context = present(S, [report("r1"), STUDY])
    (row,) = context["reports"]
    assert row.name == "Røntgen af thorax" and row.kind == "Imaging"
    assert row.conclusion == "Infiltrat i venstre underlap.\nKonklusion: Pneumoni."
    assert row.department == "Radiologisk Afdeling, Bispebjerg"
    assert row.interpreter == "Gitte Sørensen"
    assert row.images == "CR, 4 images"
    assert row.issued.text == "22.02.2026 13:25"
    assert context["resource_ids"] == ["DiagnosticReport/r1", "ImagingStudy/i1"]
    assert "Konklusion: Pneumoni." in render(S, context)


def test_report_text_comes_from_the_presented_form_and_html_is_stripped():
    form = {
        "contentType": "text/html",
        "data": base64.b64encode(
            b"<div><p>Beskrivelse: <b>normal</b></p><script>x()</script></div>"
        ).decode(),
    }
    pathology = report("r2", category="PAT", conclusion=None, presentedForm=[form])
    (row,) = present(S, [pathology])["reports"]
    assert row.kind == "Pathology"
    assert row.conclusion == "Beskrivelse: normal"


def test_the_narrative_is_the_last_resort_and_never_html():
    narrative = report(
        "r3",
        conclusion="",
        text={
            "status": "generated",
            "div": "<div xmlns='x'>Ingen fraktur &amp; ingen luksation</div>",
        },
    )
    context = present(S, [narrative])
    assert context["reports"][0].conclusion == "Ingen fraktur & ingen luksation"
    assert "<div xmlns" not in render(S, context)


def test_preliminary_reports_are_marked_and_a_study_without_report_awaits_one():
    context = present(S, [report("r4", "preliminary", imagingStudy=[]), STUDY])
    rows = {row.id: row for row in context["reports"]}
    assert rows["DiagnosticReport/r4"].status == "preliminary"
    assert rows["DiagnosticReport/r4"].tone == "pending"
    assert rows["ImagingStudy/i1"].status == "awaiting report"
    assert rows["ImagingStudy/i1"].tone == "pending"
    assert "No report text yet." in render(S, context)


def test_an_open_imaging_order_is_ordered_and_a_cancelled_one_cancelled():
    order = {
        "resourceType": "ServiceRequest",
        "id": "o1",
        "status": "active",
        "category": [{"coding": [{"system": V2, "code": "RAD"}]}],
        "code": {"text": "MR af columna"},
        "authoredOn": "2026-02-27",
        "requester": {"display": "Anne Holm"},
        "reasonCode": [{"text": "Rygsmerter"}],
    }
    cancelled = {**order, "id": "o2", "status": "revoked"}
    rows = {row.id: row for row in present(S, [order, cancelled])["reports"]}
    assert (rows["ServiceRequest/o1"].status, rows["ServiceRequest/o1"].tone) == (
        "ordered",
        "pending",
    )
    assert rows["ServiceRequest/o1"].reason == "Rygsmerter"
    assert rows["ServiceRequest/o2"].tone == "cancelled"


def test_entered_in_error_hidden_and_unknown_category_shown_as_given():
    odd = report("r5", category="XYZ", code={"coding": [{"system": "local", "code": "U1"}]})
    context = present(S, [report("r6", "entered-in-error"), odd])
    (row,) = context["reports"]
    assert row.name == "U1" and row.kind == "XYZ"


def test_filter_by_text_in_the_report():
    rows = [report("r1"), report("r7", conclusion="Normal hjertestørrelse")]
    found = present(S, rows, filters=Filters(text="pneumoni"))["reports"]
    assert [row.id for row in found] == ["DiagnosticReport/r1"]
