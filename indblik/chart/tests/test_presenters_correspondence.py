"""Outgoing correspondence: who sent what to whom, with the text."""

from __future__ import annotations

import base64

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.CORRESPONDENCE
KOMMUNE = {
    "reference": "Organization/kommune-0101",
    "type": "Organization",
    "display": "Københavns Kommune",
}
AFDELING = {
    "reference": "Organization/lunge",
    "type": "Organization",
    "display": "Lungemedicinsk Afdeling, Bispebjerg Hospital",
}


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def message(rid: str, status: str = "completed", **extra):
    return {
        "resourceType": "Communication",
        "id": rid,
        "status": status,
        "subject": PATIENT_REF,
        "topic": {"text": "Udskrivningsrapport"},
        "sent": "2026-02-25T13:25:00+01:00",
        "recipient": [KOMMUNE],
        "sender": AFDELING,
        "payload": [
            {"contentString": "Udskrives til eget hjem.\nHjemmeplejen bedes observere."},
            {"contentReference": {"reference": "DocumentReference/x"}},
        ],
        **extra,
    }


def letter(rid: str, text: str = "Kære Emil\n\nDu er indkaldt.", content_type="text/plain"):
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "51852-2"}], "text": "Brev"},
        "subject": PATIENT_REF,
        "date": "2026-02-26T10:25:00+01:00",
        "author": [{"reference": "Practitioner/1", "display": "Søren Pedersen"}, AFDELING],
        "description": "Indkaldelse til ambulant kontrol",
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }


def test_a_message_shows_sender_recipient_date_and_text():
    context = present(S, [message("c1")])
    (row,) = context["letters"]
    assert row.title == "Udskrivningsrapport"
    assert row.date.text == "25.02.2026 13:25"
    assert row.sender == "Lungemedicinsk Afdeling, Bispebjerg Hospital"
    assert row.recipients == "Københavns Kommune"
    assert (row.status, row.tone) == ("sent", "done")
    assert "Hjemmeplejen bedes observere." in row.text
    assert row.related == 1
    assert context["resource_ids"] == ["Communication/c1"]


def test_a_letter_document_shows_its_decoded_text_and_author_newest_first():
    context = present(S, [message("c1"), letter("d1")])
    first, second = context["letters"]
    assert first.id == "DocumentReference/d1" and second.id == "Communication/c1"
    assert first.title == "Indkaldelse til ambulant kontrol"
    assert first.author == "Søren Pedersen"
    assert first.text == "Kære Emil\n\nDu er indkaldt."
    assert first.attachments == ()  # the text is on the page already


def test_html_letters_never_pass_markup_through():
    evil = letter("d2", "<p>Hej<script>alert(1)</script> <b>du</b></p>", "text/html")
    context = present(S, [evil])
    assert context["letters"][0].text == "Hej du"
    html = render(S, context)
    assert "<script" not in html and "<b>" not in html


def test_a_message_without_anything_still_renders():
    bare = {"resourceType": "Communication", "id": "c2", "payload": "x", "recipient": [3]}
    context = present(S, [bare])
    (row,) = context["letters"]
    assert row.title == "Message" and row.date is None and row.recipients == ""
    assert "Not stated" in render(S, context)


def test_entered_in_error_and_unsent_messages():
    context = present(S, [message("c3", "entered-in-error"), message("c4", "not-done")])
    (row,) = context["letters"]
    assert row.id == "Communication/c4" and row.tone == "cancelled"


def test_filter_by_recipient_department():
    rows = [message("c1"), letter("d1")]
    found = present(S, rows, filters=Filters(department="københavns"))["letters"]
    assert [row.id for row in found] == ["Communication/c1"]
