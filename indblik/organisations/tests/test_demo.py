"""The demo organisations: live, onboarded through the registry, created once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from indblik.audit import Action, Actor
from indblik.organisations import registry
from indblik.organisations.demo import DEMO_ORGANISATIONS, DEMO_ROLE, ensure_demo_organisations
from indblik.organisations.models import Organisation, Status
from indblik.organisations.network import is_allowed
from indblik.organisations.validators import validate_cvr

Events = Callable[..., list[Any]]


@pytest.mark.django_db
def test_the_demo_organisations_are_live_and_admit_loopback() -> None:
    orgs = ensure_demo_organisations()
    assert [org.name for org in orgs] == [
        "Københavns Kommune",
        "Frederiksberg Kommune",
        "Nærklinik Amager",
        "Hospice Sjælland",
        "Akuttelefonen 1813",
    ]
    assert [org.type for org in orgs] == [
        "municipality",
        "municipality",
        "near-clinic",
        "hospice",
        "emergency-line",
    ]
    for org in orgs:
        assert org.status == Status.LIVE
        assert org.open_steps() == []
        assert org.role_uri == DEMO_ROLE
        assert is_allowed(org, "127.0.0.1") and is_allowed(org, "::1")
        assert not is_allowed(org, "10.0.0.1")
    assert (orgs[0].cvr, orgs[0].municipality_code) == ("64942212", "0101")
    assert (orgs[1].cvr, orgs[1].municipality_code) == ("11259979", "0147")


@pytest.mark.django_db
def test_ensuring_them_again_changes_nothing(events: Events, alice: Actor) -> None:
    ensure_demo_organisations()
    written = len(events())
    assert events(Action.ORGANISATION_CHECKLIST_DONE)  # onboarded through the registry
    first = Organisation.objects.get(cvr="29190925")
    registry.suspend(org=first, reason="trying it out", by=alice)
    ensure_demo_organisations()
    assert Organisation.objects.count() == 5
    assert len(events()) == written + 1  # only the suspension
    first.refresh_from_db()
    assert first.status == Status.SUSPENDED  # a second run never resumes anything


@pytest.mark.parametrize("spec", DEMO_ORGANISATIONS, ids=lambda spec: spec.name)
def test_every_demo_cvr_number_is_valid(spec: Any) -> None:
    validate_cvr(spec.cvr)


def _synth_orgs() -> dict[str, Any]:
    from indblik.records.synth import organisations as synth

    return {
        org.name: org
        for org in (
            *synth.MUNICIPALITY_ORGS.values(),
            synth.NEAR_CLINIC,
            synth.HOSPICE,
            synth.EMERGENCY_LINE,
        )
    }


@pytest.mark.parametrize("spec", DEMO_ORGANISATIONS, ids=lambda spec: spec.name)
def test_the_demo_organisations_match_the_synthetic_records(spec: Any) -> None:
    # The access policy matches ingested Organization resources to these by SOR and CVR.
    synth = _synth_orgs()[spec.name]
    assert (synth.kind, synth.sor, synth.municipality_code or "") == (
        spec.type,
        spec.sor_code,
        spec.municipality_code,
    )


@pytest.mark.parametrize("spec", DEMO_ORGANISATIONS, ids=lambda spec: spec.name)
def test_the_demo_cvr_numbers_match_the_synthetic_records(spec: Any) -> None:
    assert _synth_orgs()[spec.name].cvr == spec.cvr
