"""Procedures: orders and what was done, one row each, open orders first."""

from __future__ import annotations

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.PROCEDURES
SURGICAL = [{"coding": [{"system": "http://snomed.info/sct", "code": "387713003"}]}]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def order(rid: str, status: str = "active", **extra):
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "category": SURGICAL,
        "code": {"text": "Pleuradræn"},
        "subject": PATIENT_REF,
        "authoredOn": "2026-02-20T10:00:00+01:00",
        "requester": {"reference": "Practitioner/1", "display": "Søren Pedersen, Afdelingslæge"},
        **extra,
    }


def procedure(rid: str, status: str = "completed", **extra):
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": status,
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "80146002", "display": "Appendectomy"},
                {"system": "urn:oid:1.2.208.176.2.1", "code": "KJEA00"},
            ],
            "text": "Appendektomi",
        },
        "subject": PATIENT_REF,
        "performedDateTime": "2026-02-21T08:30:00+01:00",
        "performer": [
            {
                "actor": {"reference": "Practitioner/2", "display": "Anne Holm, Overlæge"},
                "onBehalfOf": {
                    "reference": "Organization/kir",
                    "display": "Kirurgisk Afdeling, Hvidovre Hospital",
                },
            }
        ],
        **extra,
    }


def test_an_order_and_the_procedure_that_carried_it_out_are_one_done_row():
    context = present(
        S, [order("o1", "completed"), procedure("p1", basedOn=[{"reference": "ServiceRequest/o1"}])]
    )
    assert context["open_rows"] == []
    (row,) = context["closed_rows"]
    assert row.name == "Appendektomi"
    assert (row.status, row.tone) == ("done", "done")
    assert row.date.text == "21.02.2026 08:30" and row.date_kind == "performed"
    assert row.ordered.text == "20.02.2026 10:00"
    assert row.requester == "Søren Pedersen, Afdelingslæge"
    assert row.performer == "Anne Holm, Overlæge"
    assert row.department == "Kirurgisk Afdeling, Hvidovre Hospital"
    assert context["resource_ids"] == ["Procedure/p1", "ServiceRequest/o1"]


def test_an_open_order_is_ordered_not_active_and_comes_first():
    planned = order("o2", occurrenceDateTime="2026-03-10T09:00:00+01:00", priority="urgent")
    context = present(S, [planned, procedure("p1")])
    (row,) = context["open_rows"]
    assert (row.status, row.tone) == ("ordered", "pending")
    assert row.date_kind == "planned" and row.date.text == "10.03.2026 09:00"
    assert row.priority == "urgent"
    html = render(S, context)
    assert html.index("Ordered and in progress") < html.index("Done and cancelled")
    assert '<span class="status status-pending">ordered</span>' in html


def test_cancelled_orders_and_procedures_not_done_show_as_cancelled_with_the_reason():
    revoked = order("o3", "revoked")
    not_done = procedure("p3", "not-done", statusReason={"text": "Patienten ønskede ikke"})
    context = present(S, [revoked, not_done])
    rows = {row.id: row for row in context["closed_rows"]}
    assert rows["ServiceRequest/o3"].tone == "cancelled"
    assert rows["ServiceRequest/o3"].status == "cancelled"
    assert rows["Procedure/p3"].status == "not done"
    assert rows["Procedure/p3"].status_reason == "Patienten ønskede ikke"


def test_entered_in_error_is_hidden_and_not_audited():
    context = present(S, [procedure("p4", "entered-in-error"), order("o4", "entered-in-error")])
    assert context["empty"] is True
    assert context["resource_ids"] == []


def test_rows_are_newest_first_and_partial_dates_show_only_what_is_known():
    old = procedure("p5", performedDateTime="2019")
    month = procedure("p6", performedDateTime="2019-05")
    new = procedure("p7")
    rows = present(S, [old, new, month])["closed_rows"]
    assert [row.id for row in rows] == ["Procedure/p7", "Procedure/p6", "Procedure/p5"]
    assert [row.date.text for row in rows] == ["21.02.2026 08:30", "05.2019", "2019"]
    assert [row.date.iso for row in rows][1:] == ["2019-05", "2019"]


def test_missing_fields_and_unknown_status_do_not_break_the_row():
    bare = {"resourceType": "Procedure", "id": "p8", "status": "weird-local-code"}
    (row,) = present(S, [bare])["closed_rows"]
    assert row.name == "Procedure without a name"
    assert row.status == "weird-local-code"
    assert row.date is None
    render(S, present(S, [bare]))


def test_the_filters_match_type_department_and_text():
    rows = [procedure("p1"), order("o1", code={"text": "Knoglemarvsbiopsi"})]
    assert [r.id for r in present(S, rows, filters=Filters(kind="appendek"))["closed_rows"]] == [
        "Procedure/p1"
    ]
    by_department = present(S, rows, filters=Filters(department="kirurgisk"))
    assert by_department["open_rows"] == [] and len(by_department["closed_rows"]) == 1
    assert present(S, rows, filters=Filters(text="knoglemarv"))["open_rows"][0].id == (
        "ServiceRequest/o1"
    )


def test_queries_page_with_the_filters():
    import datetime as dt

    from indblik.chart.presenters import procedures

    cursor = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    (query,) = procedures.queries(Filters(before=cursor))
    assert query.section == S and query.before == cursor and 0 < query.limit <= 100
