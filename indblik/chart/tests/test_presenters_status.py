"""The status the chart labels a resource by, beside the status the FHIR API searches.

The API's ``status`` of a DocumentReference is ``DocumentReference.status`` (current,
superseded); the chart still labels a document by how final its content is (``docStatus``),
and marks one a newer document replaced as superseded, on the notes and documents pages alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from indblik.chart.presenters import common, documents, notes

PHOTO = {"contentType": "image/jpeg", "url": "Binary/b1", "title": "Foto"}


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def document(**fields: object) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": "d1",
        "status": "current",
        "docStatus": "final",
        "content": [{"attachment": PHOTO}],
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "code", "shown"),
    [
        ({}, "final", ""),
        ({"docStatus": "preliminary"}, "preliminary", "preliminary"),
        ({"docStatus": "amended"}, "amended", "amended"),
        ({"status": "superseded"}, "superseded", "superseded"),
        ({"status": "superseded", "docStatus": "amended"}, "superseded", "superseded"),
    ],
)
def test_a_document_is_labelled_by_doc_status_or_as_superseded(
    fields: dict[str, object], code: str, shown: str
) -> None:
    resource = document(**fields)
    assert common.document_status(resource) == code
    assert documents.document_of(resource).status == shown
    assert notes.note_of(resource).status == shown


def test_the_chart_reads_doc_status_where_the_api_searches_status() -> None:
    resource = document(docStatus="amended")
    assert common.status_code(resource) == "amended"
    assert common.status_code({"resourceType": "DocumentReference", "status": "current"}) == ""
    assert common.status_code({"resourceType": "Goal", "lifecycleStatus": "on-hold"}) == "on-hold"
    assert common.status_code({"resourceType": "Media", "status": "completed"}) == "completed"


def test_entered_in_error_documents_and_goals_are_not_shown() -> None:
    goal: dict[str, Any] = {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active"}
    rows = [
        document(id="ok"),
        document(id="wrong-content", docStatus="entered-in-error"),
        document(id="wrong-reference", status="entered-in-error"),
        goal,
        {**goal, "id": "g2", "lifecycleStatus": "entered-in-error"},
    ]
    assert [row["id"] for row in common.visible(rows)] == ["ok", "g1"]
