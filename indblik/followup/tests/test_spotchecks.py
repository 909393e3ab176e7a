"""Spot checks: random, per ended week, drawn once and stored, within the organisation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from indblik.audit import Action
from indblik.audit.models import AuditEvent
from indblik.followup import spotchecks
from indblik.followup.models import Case, Rule, SpotCheckDraw
from indblik.followup.tests.conftest import FRB, KK, local, log, make_patient, make_user

pytestmark = pytest.mark.django_db

WEEK = dt.date(2025, 3, 3)  # Monday


@pytest.fixture
def week_of_lookups(orgs: Any) -> dict[str, list[int]]:
    """Thirty lookups by Københavns Kommune in the week, some by Frederiksberg and outside it."""
    kk = [make_user(KK, name=f"KK {n}") for n in range(3)]
    frb = make_user(FRB, name="FRB")
    patients = [make_patient() for _ in range(10)]
    inside: list[int] = []
    for index in range(30):
        at = local(2025, 3, 3 + index % 7, 8 + index % 10, index)
        inside.append(log(kk[index % 3], patients[index % 10].cpr, at=at).pk)
    outside = [
        log(frb, patients[0].cpr, at=local(2025, 3, 5)).pk,
        log(kk[0], patients[1].cpr, at=local(2025, 3, 2, 23)).pk,  # Sunday before
        log(kk[0], patients[2].cpr, at=local(2025, 3, 10, 0, 1)).pk,  # Monday after
    ]
    return {"inside": inside, "outside": outside}


def test_a_week_is_drawn_once_from_its_own_lookups_and_stored(
    week_of_lookups: dict[str, list[int]], settings: Any
) -> None:
    settings.INDBLIK_FOLLOWUP_SPOT_CHECKS_PER_WEEK = 4
    draw = spotchecks.draw(KK, WEEK + dt.timedelta(days=3))
    assert draw is not None and draw.week == WEEK
    assert (draw.requested, draw.drawn, draw.population) == (4, 4, 30)
    cases = list(Case.objects.filter(rule=Rule.SPOT_CHECK))
    assert len(cases) == 4 and {case.organisation_cvr for case in cases} == {KK}
    assert {case.event_id for case in cases} <= set(week_of_lookups["inside"])
    assert len({(case.user_id, case.patient_cpr, case.at.date()) for case in cases}) == 4
    assert cases[0].details == {"week": "2025-W10"}

    again = spotchecks.draw(KK, WEEK)
    assert again is not None and again.pk == draw.pk
    assert Case.objects.filter(rule=Rule.SPOT_CHECK).count() == 4
    event = AuditEvent.objects.get(action=Action.FOLLOWUP_SPOT_CHECK_DRAW)
    assert event.organisation_cvr == KK and event.details["population"] == 30
    assert sorted(event.details["events"]) == sorted(case.event_id or 0 for case in cases)


def test_draws_are_random(week_of_lookups: dict[str, list[int]], settings: Any) -> None:
    settings.INDBLIK_FOLLOWUP_SPOT_CHECKS_PER_WEEK = 3
    samples = set()
    for _ in range(6):
        SpotCheckDraw.objects.all().delete()
        Case.objects.all().delete()
        spotchecks.draw(KK, WEEK)
        samples.add(frozenset(Case.objects.values_list("event_id", flat=True)))
    # Six draws of 3 from 30 lookups: all the same would happen with odds below 1 in 10^13.
    assert len(samples) > 1


def test_the_draw_uses_the_operating_systems_randomness(
    week_of_lookups: dict[str, list[int]], monkeypatch: Any, settings: Any
) -> None:
    settings.INDBLIK_FOLLOWUP_SPOT_CHECKS_PER_WEEK = 2
    calls = []

    def randbelow(n: int) -> int:
        calls.append(n)
        return len(calls) - 1

    monkeypatch.setattr(spotchecks.secrets, "randbelow", randbelow)
    spotchecks.draw(KK, WEEK)
    assert calls[:2] == [30, 30]


def test_a_week_that_has_not_ended_is_not_drawn(week_of_lookups: Any) -> None:
    with time_machine.travel(local(2025, 3, 9, 23, 59), tick=False):
        assert spotchecks.draw(KK, WEEK) is None
    assert not SpotCheckDraw.objects.exists()
    with time_machine.travel(local(2025, 3, 10, 0, 0), tick=False):
        assert spotchecks.draw(KK, WEEK) is not None


def test_another_organisations_draw_never_holds_our_lookups(
    week_of_lookups: dict[str, list[int]],
) -> None:
    draw = spotchecks.draw(FRB, WEEK)
    assert draw is not None and draw.population == 1 and draw.drawn == 1
    [case] = Case.objects.filter(organisation_cvr=FRB)
    assert case.event_id == week_of_lookups["outside"][0]


def test_a_quiet_week_gives_what_there_is(orgs: Any) -> None:
    draw = spotchecks.draw(KK, WEEK)
    assert draw is not None and (draw.drawn, draw.population) == (0, 0)


def test_the_draw_command_draws_the_ended_weeks_once(week_of_lookups: Any) -> None:
    with time_machine.travel(local(2025, 3, 12), tick=False):
        call_command("followup", "draw", "--org", KK)
        call_command("followup", "draw", "--org", KK)
    weeks = list(SpotCheckDraw.objects.filter(organisation_cvr=KK).values_list("week", flat=True))
    assert sorted(weeks) == [WEEK - dt.timedelta(days=7 * n) for n in (3, 2, 1, 0)]
    # Five from the week of 3 March, one (the only lookup) from the week before.
    assert Case.objects.filter(rule=Rule.SPOT_CHECK).count() == 6
