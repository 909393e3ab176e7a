"""Notes and discharge summaries: readable text, never the record's own markup."""

from __future__ import annotations

import base64
import datetime as dt

from indblik.chart.presenters import Filters, discharge_summaries, notes
from indblik.chart.tests.presenting import page
from indblik.records.sections import Section


def note(body: str | None = "Linje 1\nLinje 2", **fields: object) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "DocumentReference",
        "id": "n1",
        "status": "current",
        "type": {
            "coding": [{"code": "11506-3", "display": "Progress note"}],
            "text": "Sygeplejenotat",
        },
        "date": "2026-02-01T21:30:00+01:00",
        "author": [
            {"reference": "Practitioner/1", "display": "Anne Sygeplejerske"},
            {
                "reference": "Organization/2",
                "type": "Organization",
                "display": "Geriatrisk Afdeling",
            },
        ],
    }
    if body is not None:
        resource["content"] = [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(body.encode()).decode(),
                }
            }
        ]
    resource.update(fields)
    return resource


def test_a_note_keeps_its_lines_author_department_and_date() -> None:
    item = notes.note_of(note())
    assert item.text == "Linje 1\nLinje 2"
    assert item.author == "Anne Sygeplejerske"
    assert item.department == "Geriatrisk Afdeling"
    assert item.date == "01.02.2026 21:30"
    assert item.title == "Sygeplejenotat"


def test_narrative_html_is_reduced_to_text() -> None:
    div = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Pt. har det <b>godt</b></p>'
        "<script>alert(1)</script><p>Ses igen &amp; følges</p><img src=x onerror=alert(1)></div>"
    )
    item = notes.note_of(note(None, text={"status": "generated", "div": div}))
    assert item.text == "Pt. har det godt\n\nSes igen & følges"
    assert "<" not in item.text and "alert" not in item.text


def test_a_composition_shows_its_sections() -> None:
    composition = {
        "resourceType": "Composition",
        "id": "c1",
        "status": "final",
        "type": {"text": "Epikrise"},
        "date": "2026-02",
        "section": [
            {"title": "Forløb", "text": {"div": "<div>Indlagt med <i>pneumoni</i>.</div>"}},
            {"title": "Plan", "text": {"div": "<div>Kontrol hos egen læge.</div>"}},
        ],
    }
    item = notes.note_of(composition)
    assert item.text == "Forløb\nIndlagt med pneumoni.\n\nPlan\nKontrol hos egen læge."
    assert item.date == "02.2026"
    assert item.author == "" and item.department == ""


def test_missing_everything_still_gives_a_note() -> None:
    item = notes.note_of({"resourceType": "DocumentReference"})
    assert item.title and item.text == "" and item.date == "" and item.links == []


def test_entered_in_error_notes_are_hidden_and_filters_apply() -> None:
    wrong = note(id="bad", docStatus="entered-in-error")
    other = note("Noget om sår", id="n2", author=[{"display": "Bo", "type": "Organization"}])
    context = notes.present(
        page(Section.NOTES, {Section.NOTES: [wrong, note(), other]}, filters=Filters(text="SÅR"))
    )
    assert [n.resource_id for n in context["notes"]] == ["n2"]


def test_keyset_paging_moves_rows_sharing_the_last_date_to_the_next_page() -> None:
    rows = [
        note(id="a", date="2026-02-03T10:00:00+01:00"),
        note(id="b", date="2026-02-02T10:00:00+01:00"),
        note(id="c", date="2026-02-02T10:00:00+01:00"),
    ]
    context = notes.present(page(Section.NOTES, {Section.NOTES: rows}, has_more=True))
    assert [n.resource_id for n in context["notes"]] == ["a"]
    cursor = context["next_before"]
    assert cursor == dt.datetime(2026, 2, 2, 9, 0, 0, 1, tzinfo=dt.UTC)


def test_discharge_summaries_show_the_recipient() -> None:
    summary = note(
        id="e1",
        context={
            "related": [{"display": "Lægehuset København K"}],
            "period": {"start": "2026-02-05"},
        },
    )
    context = discharge_summaries.present(
        page(Section.DISCHARGE_SUMMARIES, {Section.DISCHARGE_SUMMARIES: [summary]})
    )
    [item] = context["notes"]
    assert item.recipient == "Lægehuset København K"
    assert item.date == "05.02.2026"


def test_a_note_of_many_large_attachments_is_shortened_not_shown_whole() -> None:
    from django.utils import translation

    from indblik.chart.presenters import common

    chunk = base64.b64encode(b"A" * 500_000).decode()
    note = {
        "resourceType": "DocumentReference",
        "id": "huge",
        "status": "current",
        "content": [{"attachment": {"contentType": "text/plain", "data": chunk}}] * 40,
    }
    with translation.override("en"):
        text = common.long_text(note)
    # 40 x 500 kB would be 20 MB on one page (20 notes a page: 400 MB).
    assert len(text) < common.MAX_LONG_TEXT + 200
    assert text.endswith("[The text is shortened here: the rest is longer than Indblik shows.]")
    short = {**note, "content": note["content"][:1]}
    assert common.long_text(short) == "A" * 500_000  # one attachment under the bound: whole


def test_a_huge_note_keeps_the_notes_page_small(db: object) -> None:
    from indblik.access.testing import grant_client
    from indblik.chart.tests.conftest import load_citizens, smallest_patient
    from indblik.records.ingest import ingest_resources

    load_citizens(1)
    patient = smallest_patient()
    granted = grant_client(patient)
    chunk = base64.b64encode(b"A" * 500_000).decode()
    note = {
        "resourceType": "DocumentReference",
        "id": "probe-note-big",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "category": [
            {
                "coding": [
                    {"system": "https://indblik.dk/fhir/CodeSystem/record-category", "code": "note"}
                ]
            }
        ],
        "subject": {"reference": f"Patient/{patient.fhir_id}"},
        "date": "2026-01-10T10:00:00+01:00",
        "content": [{"attachment": {"contentType": "text/plain", "data": chunk}}] * 40,
    }
    assert ingest_resources([note], source="test", validate=True).errors == []
    from indblik.records.models import Resource

    section = Resource.objects.get(fhir_id="probe-note-big").section
    assert section == "notes"
    response = granted.client.get(granted.url(section))
    assert response.status_code == 200
    assert len(response.content) < 2_000_000
