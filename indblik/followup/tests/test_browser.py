"""Min log and log follow-up in a real Chromium, signed in through the demo identity provider."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from indblik.audit import Action, Outcome
from indblik.chart.tests.test_browser import axe_violations
from indblik.followup.models import Case, Status
from indblik.followup.tests.conftest import (
    AMAGER,
    FRB,
    KK,
    LINE_1813,
    log,
    make_patient,
    make_user,
)
from indblik.followup.tests.test_citizen_log_machine_reads import a_live_page, system_client
from indblik.identity.demo_idp import personas
from indblik.records.models import Resource

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KAREN = "2108624008"  # the demo IdP's citizen persona


@pytest.fixture
def demo_site(live_server: Any, settings: Any, orgs: Any, followup_danish: None) -> str:
    """The demo set-up on the live server: demo IdP, live demo organisations on loopback."""
    settings.INDBLIK_BASE_URL = live_server.url
    settings.INDBLIK_SAML_DEMO_IDP = True
    settings.INDBLIK_SAML_IDP_METADATA = []
    settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    return str(live_server.url)


def ago(days: int, hour: int, minute: int = 0) -> dt.datetime:
    now = timezone.localtime(timezone.now())
    day = now - dt.timedelta(days=days)
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0)


def sign_in(page: Any, site: str, persona: str, next_url: str) -> None:
    page.goto(f"{site}/saml2/login/?next={next_url}")
    page.click(f"#persona-{persona}")
    page.wait_for_url(f"{site}{next_url}")


def test_a_citizen_reads_min_log_prints_it_and_blocks_an_organisation(
    demo_site: str, page: Any, screenshot: Any
) -> None:
    karen = make_patient(family="Sørensen", given="Karen", cpr_number=KAREN)
    mette = make_user(KK, name="Mette Holm", profession="Sygeplejerske")
    sara = make_user(FRB, name="Sara Lund", profession="Fysioterapeut")
    peter = make_user(LINE_1813, name="Peter Dahl", profession="Læge")
    lars = make_user(AMAGER, name="Lars Bech", profession="Sygeplejerske")
    for minute, section in enumerate(("snapshot", "notes", "discharge-summaries", "devices")):
        log(mette, karen.cpr, at=ago(1, 9, 12 + minute * 3), section=section)
    log(mette, karen.cpr, at=ago(1, 9, 25), action=Action.PAGE_PRINT, section="devices")
    log(sara, karen.cpr, at=ago(3, 13, 40), section="snapshot")
    log(sara, karen.cpr, at=ago(3, 13, 42), section="lab")
    log(
        peter,
        karen.cpr,
        at=ago(6, 22, 47),
        action=Action.ACCESS_ALLOWED,
        purpose="emergency",
        reason="Borger ringer med åndenød, ønsker overblik over medicin og diagnoser",
    )
    log(peter, karen.cpr, at=ago(6, 22, 48), purpose="emergency")
    log(peter, karen.cpr, at=ago(6, 22, 50), purpose="emergency", section="diagnoses")
    log(
        lars,
        karen.cpr,
        at=ago(9, 10, 5),
        action=Action.ACCESS_DENIED,
        outcome=Outcome.REFUSED,
        decision_reasons=("type:near-clinic", "deny:no-treatment-relationship"),
        details={"stage": "decide"},
    )

    with time_machine.travel(ago(2, 11, 5)):
        # Another Indblik reads her record through this one's FHIR API, as a live page does.
        a_live_page(system_client(), karen)

    sign_in(page, demo_site, "citizen", "/min-log/")
    assert page.locator("h1").inner_text() == "Min log"
    rows = page.locator("table.fu-log tbody tr")
    assert rows.count() == 5
    first = rows.nth(0).inner_text()
    assert "Mette Holm" in first and "Sygeplejerske" in first and "Udskrevet" in first
    assert "Notater" in first and "Epikriser" in first
    machine = rows.nth(1).inner_text()
    assert "FHIR-snitfladen" in machine and "Prøvesvar og målinger" in machine
    assert "Akut adgang" in rows.nth(3).inner_text()
    assert "åndenød" in rows.nth(3).inner_text()
    assert "Afvist" in rows.nth(4).inner_text()
    assert axe_violations(page) == []
    screenshot(page, "1-min-log")

    page.emulate_media(media="print")
    screenshot(page, "2-print")
    page.emulate_media(media="screen")

    page.select_option("#id_target", label="Københavns Kommune")
    page.click("text=Bloker…")
    page.wait_for_selector("text=Bekræft blokeringen")
    screenshot(page, "3-confirm")
    page.click("#confirm")
    page.wait_for_selector("text=Københavns Kommune er nu blokeret")
    assert page.url.endswith("/min-log/")
    screenshot(page, "4-blocked")
    consent = Resource.objects.get(resource_type="Consent", patient=karen).resource
    assert consent["status"] == "active"
    assert consent["provision"]["actor"][0]["reference"]["identifier"]["value"] == KK


def test_a_reviewer_reviews_flagged_lookups_and_searches_by_cpr(
    demo_site: str, page: Any, screenshot: Any
) -> None:
    mette = make_user(KK, name="Mette Holm", profession="Sygeplejerske")
    jonas = make_user(KK, name="Jonas Vestergaard", profession="Social- og sundhedsassistent")
    inger = make_patient(family="Holm", given="Inger", address="Tagensvej 12, 2200 København N")
    outside = make_patient(family="Nielsen", given="Poul", municipality="0147")
    ordinary = make_patient(family="Andersen", given="Birthe")
    log(mette, inger.cpr, at=ago(2, 10, 15), section="notes")
    log(mette, inger.cpr, at=ago(2, 10, 17), section="lab")
    log(jonas, outside.cpr, at=ago(1, 23, 40), section="snapshot")
    for days in range(8, 30, 2):
        log(jonas, ordinary.cpr, at=ago(days, 9, 30), section="snapshot")
        log(mette, ordinary.cpr, at=ago(days, 11, 0), section="care-plans")

    sign_in(page, demo_site, personas.persona("reviewer-kk").key, "/follow-up/")  # type: ignore[union-attr]
    assert page.locator("h1").inner_text() == "Logopfølgning"
    assert Case.objects.filter(organisation_cvr=KK, status=Status.OPEN).count() >= 3
    assert axe_violations(page) == []
    screenshot(page, "1-overview")

    page.click("a.fu-case-link >> nth=0")
    page.wait_for_selector("#save-decision")
    assert axe_violations(page) == []
    screenshot(page, "2-case")
    page.check("input[value='justified']")
    page.fill("#id_note", "Borgeren får hjemmepleje; opslaget var en del af besøget.")
    page.click("#save-decision")
    page.wait_for_selector("text=Afgørelsen er gemt.")
    assert Case.objects.exclude(status=Status.OPEN).count() == 1

    page.click("text=Søg i loggen")
    page.fill("#id_citizen", f"{inger.cpr[:6]}-{inger.cpr[6:]}")  # type: ignore[index]
    page.click("#search")
    page.wait_for_selector("table.fu-table")
    assert str(inger.cpr) not in page.url and str(inger.cpr)[:6] not in page.url
    assert page.locator("table.fu-table tbody tr").count() == 2
    assert "Inger Holm" in page.locator("table.fu-table").inner_text()
    assert axe_violations(page) == []
    screenshot(page, "3-search")
