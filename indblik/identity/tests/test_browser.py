"""A nurse signs in through the demo IdP in a real Chromium, and signs out again."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from indblik.identity.demo_idp import personas
from indblik.organisations.models import NetworkRange, Organisation


@pytest.fixture
def demo_site(live_server: Any, settings: Any) -> str:
    """Serve the demo set-up on the live server: demo IdP, encryption, a live municipality."""
    settings.INDBLIK_BASE_URL = live_server.url
    settings.INDBLIK_SAML_DEMO_IDP = True
    settings.INDBLIK_SAML_IDP_METADATA = []
    settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    (cvr, name) = personas.KOBENHAVN
    organisation = Organisation(
        cvr=cvr,
        name=name,
        type="municipality",
        municipality_code="0101",
        role_uri=personas.DEMO_ROLE,
    )
    organisation.status = "live"
    organisation.save()
    NetworkRange.objects.create(
        organisation=organisation, cidr="127.0.0.0/8", added_at=timezone.now()
    )
    return str(live_server.url)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_nurse_signs_in_through_the_demo_idp_and_back_shows_nothing_after_sign_out(
    demo_site: str, page: Any, screenshot: Any
) -> None:
    page.goto(f"{demo_site}/saml2/login/?next=/saml2/session/")
    page.wait_for_selector("text=Demo-login: vælg en person")
    screenshot(page, "1-personas")

    page.click("#persona-nurse-kk")  # the answer page submits itself (static JS)
    page.wait_for_url(f"{demo_site}/saml2/session/")
    assert page.text_content("#session-name") == "Mette Holm"
    assert "Københavns Kommune (CVR 64942212)" in page.text_content("main")
    screenshot(page, "2-signed-in")

    page.click("#sign-out")
    page.wait_for_url(f"{demo_site}/saml2/logged-out/")
    assert "Du er logget ud" in page.text_content("main")
    screenshot(page, "3-signed-out")

    # Back: the signed-in page was never stored (no-store), so the browser asks again and the
    # server, seeing no session, starts a new sign-in instead of showing the old page.
    page.go_back()
    page.wait_for_load_state()
    assert page.query_selector("#session-name") is None
    assert "Du er logget ind" not in page.content()
    assert "/saml2/session/" not in page.url
    screenshot(page, "4-back")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_sign_in_works_without_javascript(demo_site: str, browser: Any, screenshot: Any) -> None:
    context = browser.new_context(java_script_enabled=False, locale="da-DK")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{demo_site}/saml2/login/?next=/saml2/session/")
        page.click("#persona-therapist-frb")  # Frederiksberg is not live here: a refusal page
        page.wait_for_selector("text=Fortsæt")
        screenshot(page, "1-continue-button")
        page.click("text=Fortsæt")
        page.wait_for_selector("text=Du kunne ikke logges ind")
        assert "ikke tilsluttet Indblik" in page.text_content("main")
        screenshot(page, "2-refused")
    finally:
        context.close()
