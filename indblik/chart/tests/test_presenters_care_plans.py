"""Care plans and goals: current plans first, with activities and their goals."""

from __future__ import annotations

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters, care_plans
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.CARE_PLANS


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def plan(rid, status="active", **extra):
    return {
        "resourceType": "CarePlan",
        "id": rid,
        "status": status,
        "intent": "plan",
        "category": [{"text": "Pleje- og behandlingsplan"}],
        "title": "Mobilisering efter hoftenær fraktur",
        "subject": PATIENT_REF,
        "period": {"start": "2026-02-20T12:30:00+01:00"},
        "author": {"reference": "Practitioner/1", "display": "Lone Frederiksen, Overlæge"},
        "addresses": [{"reference": "Condition/c1"}],
        "goal": [{"reference": "Goal/g1"}],
        "activity": [
            {"detail": {"status": "in-progress", "description": "Fuld vægtbæring tilladt"}},
            {"detail": {"status": "scheduled", "code": {"text": "Gangtræning dagligt"}}},
            {"detail": {"status": "entered-in-error", "description": "Fejl"}},
            {"reference": {"display": "Henvisning til genoptræning"}},
            "junk",
        ],
        **extra,
    }


def goal(rid, lifecycle="active", **extra):
    return {
        "resourceType": "Goal",
        "id": rid,
        "lifecycleStatus": lifecycle,
        "achievementStatus": {"coding": [{"code": "in-progress"}], "text": "I gang"},
        "description": {"text": "Gå selvstændigt med rollator"},
        "subject": PATIENT_REF,
        "startDate": "2026-02-20",
        "target": [{"dueDate": "2026-05-19", "detailString": "50 meter"}],
        **extra,
    }


DIAGNOSES = [{"resourceType": "Condition", "id": "c1", "code": {"text": "Collum femoris-fraktur"}}]


def test_a_current_plan_shows_its_activities_goals_and_what_it_addresses():
    context = present(S, [plan("p1"), goal("g1")], extra={Section.DIAGNOSES: DIAGNOSES})
    (row,) = context["running_plans"]
    assert row.title == "Mobilisering efter hoftenær fraktur"
    assert (row.status, row.tone) == ("active", "active")
    assert row.addresses == "Collum femoris-fraktur"
    assert row.author == "Lone Frederiksen, Overlæge"
    assert [(a.text, a.status, a.tone) for a in row.activities] == [
        ("Fuld vægtbæring tilladt", "in progress", "active"),
        ("Gangtræning dagligt", "planned", "pending"),
        ("Henvisning til genoptræning", "", ""),
    ]
    (plan_goal,) = row.goals
    assert plan_goal.text == "Gå selvstændigt med rollator"
    assert plan_goal.due.text == "19.05.2026" and plan_goal.targets == "50 meter"
    assert context["loose_goals"] == []
    assert context["resource_ids"] == ["CarePlan/p1", "Goal/g1", "Condition/c1"]
    html = render(S, context)
    assert "Current plans" in html and "Gå selvstændigt med rollator" in html


def test_completed_and_revoked_plans_come_after_and_loose_goals_are_listed():
    context = present(
        S, [plan("p2", "completed", goal=[]), plan("p3", "revoked", goal=[]), goal("g2")]
    )
    assert context["running_plans"] == []
    assert {row.id for row in context["closed_plans"]} == {"CarePlan/p2", "CarePlan/p3"}
    revoked = next(row for row in context["closed_plans"] if row.id == "CarePlan/p3")
    assert revoked.tone == "cancelled"
    assert [goal.id for goal in context["loose_goals"]] == ["Goal/g2"]
    assert "Completed and cancelled plans" in render(S, context)


def test_entered_in_error_plans_and_goals_are_hidden():
    context = present(S, [plan("p4", "entered-in-error"), goal("g3", "entered-in-error")])
    assert context["empty"] is True and context["resource_ids"] == []


def test_odd_shapes_and_missing_titles():
    odd = {"resourceType": "CarePlan", "id": "p5", "activity": {"detail": 3}, "goal": "Goal/x"}
    odd_goal = {"resourceType": "Goal", "id": "g4", "target": [None, {"dueDate": "2026"}]}
    context = present(S, [odd, odd_goal])
    (row,) = context["running_plans"]
    assert row.title == "Care plan" and row.activities == ()
    assert context["loose_goals"][0].due.text == "2026"
    assert context["loose_goals"][0].text == "Goal without a description"
    render(S, context)


def test_filters_and_queries():
    found = present(S, [plan("p1"), plan("p6", title="Ernæring")], filters=Filters(kind="ernæring"))
    assert [row.id for row in found["running_plans"]] == ["CarePlan/p6"]
    sections = [query.section for query in care_plans.queries(Filters())]
    assert sections == [Section.CARE_PLANS, Section.DIAGNOSES]
