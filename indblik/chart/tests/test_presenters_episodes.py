"""Health episodes: ongoing courses first, with their diagnoses named."""

from __future__ import annotations

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters, episodes
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.EPISODES


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def episode(rid: str, status: str = "active", **extra):
    return {
        "resourceType": "EpisodeOfCare",
        "id": rid,
        "status": status,
        "type": [{"coding": [{"code": "kraeft"}], "text": "Kræftpakkeforløb, tyktarm"}],
        "diagnosis": [
            {"condition": {"reference": "Condition/c2"}, "rank": 2},
            {"condition": {"reference": "Condition/c1"}, "rank": 1},
        ],
        "patient": PATIENT_REF,
        "managingOrganization": {
            "reference": "Organization/kir",
            "display": "Kirurgisk Afdeling, Hvidovre Hospital",
        },
        "period": {"start": "2026-02-01T08:00:00+01:00"},
        "careManager": {"reference": "Practitioner/1", "display": "Anne Holm, Overlæge"},
        **extra,
    }


CONDITIONS = [
    {"resourceType": "Condition", "id": "c1", "code": {"text": "Tyktarmskræft"}},
    {"resourceType": "Condition", "id": "c2", "code": {"text": "Blodmangel"}},
]


def test_an_ongoing_episode_names_its_diagnoses_in_rank_order_and_counts_days():
    context = present(S, [episode("e1")], extra={Section.DIAGNOSES: CONDITIONS})
    (row,) = context["running"]
    assert row.name == "Kræftpakkeforløb, tyktarm"
    assert (row.status, row.tone) == ("ongoing", "active")
    assert row.diagnoses == "Tyktarmskræft, Blodmangel"
    assert row.days == 28
    assert row.department == "Kirurgisk Afdeling, Hvidovre Hospital"
    assert row.care_manager == "Anne Holm, Overlæge"
    assert context["resource_ids"] == ["EpisodeOfCare/e1", "Condition/c1", "Condition/c2"]


def test_finished_and_cancelled_episodes_come_after_and_unknown_diagnoses_are_left_out():
    finished = episode("e2", "finished", period={"start": "2025", "end": "2025-06"})
    cancelled = episode("e3", "cancelled")
    context = present(S, [finished, cancelled, episode("e1")])
    assert [row.id for row in context["running"]] == ["EpisodeOfCare/e1"]
    assert [row.id for row in context["closed"]] == ["EpisodeOfCare/e3", "EpisodeOfCare/e2"]
    assert context["closed"][1].days is None  # partial dates: no day count
    assert context["closed"][1].date.text == "2025"
    assert context["running"][0].diagnoses == ""
    assert context["closed"][0].tone == "cancelled"
    html = render(S, context)
    assert html.index("Ongoing") < html.index("Finished")


def test_onhold_is_labelled_and_odd_shapes_do_not_break():
    odd = episode("e4", "onhold", type="cancer", diagnosis=[{"condition": "x"}], period=None)
    (row,) = present(S, [odd])["running"]
    assert row.status == "on hold" and row.name == "Course of care" and row.date is None


def test_entered_in_error_hidden_and_queries_read_the_diagnoses_too():
    assert present(S, [episode("e5", "entered-in-error")])["empty"] is True
    sections = [query.section for query in episodes.queries(Filters())]
    assert sections == [Section.EPISODES, Section.DIAGNOSES]
