"""The care-system simulator and the demo care systems' keys."""

from __future__ import annotations

import html
import os
import re
import stat
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from indblik.access import demo, tokens
from indblik.access.demo_eoj import citizens_of
from indblik.access.tests import factories
from indblik.identity.demo_idp.personas import persona
from indblik.organisations import registry
from indblik.organisations.demo import DEMO_ORGANISATIONS, ensure_demo_organisations
from indblik.organisations.models import CareSystemKey, Organisation
from indblik.records.models import Patient

pytestmark = pytest.mark.django_db

KK, FRB, AMAGER, LINE_1813 = "64942212", "11259979", "29190909", "29190925"
TOKEN = re.compile(r'name="launch_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def english() -> Any:
    with translation.override("en"):
        yield


@pytest.fixture
def organisations(db: None) -> dict[str, Organisation]:
    ensure_demo_organisations()
    return {org.cvr: org for org in Organisation.objects.all()}


@pytest.fixture
def residents(organisations: dict[str, Organisation]) -> dict[str, Patient]:
    """A citizen of København, one of Frederiksberg, one with a care event at Amager."""
    return {
        "kk": factories.citizen(municipality="0101", family="Kbh"),
        "frb": factories.citizen(municipality="0147", family="Frb"),
        "amager": factories.citizen(
            municipality="0147", family="Amagerpatient", care_event_for=[organisations[AMAGER]]
        ),
    }


def test_every_demo_organisation_gets_a_registered_signing_key(
    organisations: dict[str, Organisation],
) -> None:
    keys = demo.ensure_demo_care_system_keys()
    assert set(keys) == {spec.cvr for spec in DEMO_ORGANISATIONS}
    for cvr, key in keys.items():
        assert key.is_private
        row = CareSystemKey.objects.get(organisation__cvr=cvr, kid=key.kid)
        assert row.is_active and "d" not in row.jwk
        path = demo.key_file(cvr)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Idempotent: the same keys, nothing registered twice.
    again = demo.ensure_demo_care_system_keys()
    assert {cvr: key.kid for cvr, key in again.items()} == {
        cvr: key.kid for cvr, key in keys.items()
    }
    assert CareSystemKey.objects.count() == len(keys)


def test_a_removed_demo_key_stays_removed(organisations: dict[str, Organisation]) -> None:
    key = demo.ensure_demo_care_system_keys()[KK]
    registry.remove_key(org=organisations[KK], kid=key.kid or "", by=demo.DEMO_ACTOR)
    demo.ensure_demo_care_system_keys()
    assert not CareSystemKey.objects.filter(organisation__cvr=KK, removed_at__isnull=True).exists()


def test_the_index_lists_the_demo_organisations(
    client: Client, organisations: dict[str, Organisation]
) -> None:
    response = client.get("/demo-eoj/", headers={"accept-language": "en"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Simulated care system — demo only" in text
    danish = client.get("/demo-eoj/", headers={"accept-language": "da"}).content.decode()
    assert "Simuleret omsorgssystem — kun demo" in danish
    for spec in DEMO_ORGANISATIONS:
        assert f"/demo-eoj/{spec.cvr}/" in text


def test_a_municipality_lists_only_its_residents(
    client: Client, residents: dict[str, Patient]
) -> None:
    response = client.get(f"/demo-eoj/{KK}/")
    assert response.status_code == 200
    text = response.content.decode()
    assert residents["kk"].name in text
    assert residents["frb"].name not in text
    assert residents["amager"].name not in text
    assert "Mette Holm" in text  # a persona of København
    assert "Sara Lund" not in text  # Frederiksberg's
    for patient in residents.values():  # no CPR number anywhere on the page
        assert patient.cpr and patient.cpr not in text and patient.cpr[:6] not in text


def test_another_organisation_lists_the_citizens_whose_records_reference_it(
    residents: dict[str, Patient], organisations: dict[str, Organisation]
) -> None:
    listed = [citizen.name for citizen in citizens_of(organisations[AMAGER])]
    assert listed == [residents["amager"].name]
    frb = {citizen.name for citizen in citizens_of(organisations[FRB])}
    assert frb == {residents["frb"].name, residents["amager"].name}


def test_the_list_shows_birth_date_and_age(
    residents: dict[str, Patient], organisations: dict[str, Organisation]
) -> None:
    import datetime as dt

    (citizen,) = citizens_of(organisations[KK], today=dt.date(2025, 1, 1))
    assert citizen.birth_date == dt.date(1950, 1, 1)
    assert citizen.age == 75
    (citizen,) = citizens_of(organisations[KK], today=dt.date(2024, 12, 31))
    assert citizen.age == 74


def test_the_button_posts_a_token_that_verifies(
    client: Client, residents: dict[str, Patient]
) -> None:
    page = client.get(f"/demo-eoj/{KK}/")
    assert page.status_code == 200
    response = client.post(
        f"/demo-eoj/{KK}/open/", {"persona": "nurse-kk", "citizen": residents["kk"].pk}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    assert 'action="/launch"' in text
    assert residents["kk"].cpr and residents["kk"].cpr not in text
    token = html.unescape(TOKEN.search(text).group(1))  # type: ignore[union-attr]
    claims = tokens.verify_token(token)
    nurse = persona("nurse-kk")
    assert nurse is not None
    assert (claims.org, claims.sub, claims.patient, claims.purpose) == (
        KK,
        nurse.persistent_id,
        residents["kk"].cpr,
        "treatment",
    )


def test_the_simulator_opens_only_its_own_citizens_for_its_own_people(
    client: Client, residents: dict[str, Patient]
) -> None:
    # Another municipality's citizen, or another organisation's persona: 404.
    other = client.post(
        f"/demo-eoj/{KK}/open/", {"persona": "nurse-kk", "citizen": residents["frb"].pk}
    )
    assert other.status_code == 404
    stranger = client.post(
        f"/demo-eoj/{KK}/open/", {"persona": "therapist-frb", "citizen": residents["kk"].pk}
    )
    assert stranger.status_code == 404
    assert client.post(f"/demo-eoj/{KK}/open/", {"persona": "nurse-kk"}).status_code == 404
    assert (
        client.post(f"/demo-eoj/{KK}/open/", {"persona": "nurse-kk", "citizen": "x"}).status_code
        == 404
    )
    assert client.get(f"/demo-eoj/{KK}/open/").status_code == 405


def test_an_unknown_organisation_is_not_found(client: Client, residents: Any) -> None:
    assert client.get("/demo-eoj/25052943/").status_code == 404
    assert client.get("/demo-eoj/x/").status_code == 404


def test_the_emergency_line_needs_a_reason(client: Client, residents: dict[str, Patient]) -> None:
    page = client.get(f"/demo-eoj/{LINE_1813}/")
    assert 'name="reason"' in page.content.decode()
    patient = residents["frb"].pk
    missing = client.post(
        f"/demo-eoj/{LINE_1813}/open/", {"persona": "doctor-1813", "citizen": patient}
    )
    assert missing.status_code == 400
    response = client.post(
        f"/demo-eoj/{LINE_1813}/open/",
        {"persona": "doctor-1813", "citizen": patient, "reason": "Borger ringer med brystsmerter"},
    )
    token = html.unescape(TOKEN.search(response.content.decode()).group(1))  # type: ignore[union-attr]
    claims = tokens.verify_token(token)
    assert (claims.purpose, claims.reason) == ("emergency", "Borger ringer med brystsmerter")


def test_the_simulator_is_not_there_in_production(
    client: Client, residents: Any, settings: Any
) -> None:
    settings.PRODUCTION = True
    assert client.get("/demo-eoj/").status_code == 404
    assert client.get(f"/demo-eoj/{KK}/").status_code == 404
