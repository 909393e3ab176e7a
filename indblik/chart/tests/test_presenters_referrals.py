"""Referrals: from, to, reason, status and priority; open ones first."""

from __future__ import annotations

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.REFERRALS
REFERRAL = [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def referral(rid: str, status: str = "active", **extra):
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "category": REFERRAL,
        "code": {"text": "Henvisning til kommunal sygepleje"},
        "subject": PATIENT_REF,
        "authoredOn": "2026-02-25T12:25:00+01:00",
        "requester": {"reference": "Practitioner/1", "display": "Søren Pedersen, Afdelingslæge"},
        "performer": [
            {"reference": "Organization/k", "type": "Organization", "display": "Københavns Kommune"}
        ],
        "reasonCode": [
            {
                "coding": [
                    {"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"},
                    {"system": "urn:oid:1.2.208.176.2.4", "code": "DJ189", "display": "Pneumoni"},
                ],
            }
        ],
        "note": [{"text": "Observation af almentilstand."}],
        **extra,
    }


def test_an_open_referral_shows_from_to_reason_and_note():
    context = present(S, [referral("r1")])
    (row,) = context["open_referrals"]
    assert row.name == "Henvisning til kommunal sygepleje"
    assert row.sender == "Søren Pedersen, Afdelingslæge"
    assert row.receiver == "Københavns Kommune"
    assert row.reason == "J18.9"  # the first coding names it when there is no text
    assert (row.status, row.tone) == ("open", "active")
    assert row.date.text == "25.02.2026 12:25"
    assert row.note == "Observation af almentilstand."
    assert context["resource_ids"] == ["ServiceRequest/r1"]


def test_urgent_priority_is_marked_and_routine_is_quiet():
    urgent = present(S, [referral("r2", priority="urgent")])["open_referrals"][0]
    routine = present(S, [referral("r3", priority="routine")])["open_referrals"][0]
    assert (urgent.priority, urgent.priority_tone) == ("urgent", "active")
    assert routine.priority_tone == ""
    html = render(S, present(S, [referral("r2", priority="urgent")]))
    assert '<span class="status status-active">urgent</span>' in html


def test_revoked_and_completed_referrals_are_closed_newest_first():
    old = referral("r4", "completed", authoredOn="2025-11")
    revoked = referral("r5", "revoked", authoredOn="2026-01-10")
    context = present(S, [old, revoked])
    assert context["open_referrals"] == []
    rows = context["closed_referrals"]
    assert [row.id for row in rows] == ["ServiceRequest/r5", "ServiceRequest/r4"]
    assert rows[0].status == "cancelled" and rows[0].tone == "cancelled"
    assert rows[1].date.text == "11.2025"


def test_entered_in_error_is_hidden_and_missing_parties_say_so():
    bare = {"resourceType": "ServiceRequest", "id": "r6", "status": "draft", "priority": 5}
    context = present(S, [referral("r7", "entered-in-error"), bare])
    (row,) = context["open_referrals"]
    assert row.name == "Referral" and row.sender == "" and row.priority == ""
    assert "Not stated" in render(S, context)


def test_filter_by_receiver():
    rows = [referral("r1"), referral("r8", performer=[{"display": "Hospice Søndergård"}])]
    found = present(S, rows, filters=Filters(department="hospice"))["open_referrals"]
    assert [row.id for row in found] == ["ServiceRequest/r8"]
