"""The whole deep link in a real Chromium: care-system simulator → demo sign-in → snapshot.

Also the refusal pages a nurse may meet: a link that cannot be used, and a citizen whose
record is not available (here: the citizen has blocked access).
"""

from __future__ import annotations

from typing import Any

import pytest

from indblik.access import demo
from indblik.access.models import Grant
from indblik.access.tests.factories import citizen
from indblik.organisations.demo import ensure_demo_organisations

KK = "64942212"


@pytest.fixture
def demo_site(live_server: Any, settings: Any) -> str:
    """The demo set-up on the live server: demo IdP, demo organisations with care-system keys."""
    settings.INDBLIK_BASE_URL = live_server.url
    settings.INDBLIK_SAML_DEMO_IDP = True
    settings.INDBLIK_SAML_IDP_METADATA = []
    settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    ensure_demo_organisations()
    demo.ensure_demo_care_system_keys()
    return str(live_server.url)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_from_the_care_system_to_the_snapshot(demo_site: str, page: Any, screenshot: Any) -> None:
    citizen(municipality="0101", family="Lauritsen")
    page.goto(f"{demo_site}/demo-eoj/{KK}/")
    page.wait_for_selector("text=Lauritsen")
    page.select_option("#eoj-persona", "nurse-kk")
    screenshot(page, "1-care-system")

    row = page.locator("tr", has_text="Lauritsen")
    row.locator("button.eoj-open").click()
    # The simulator's page posts the token to /launch; no session yet → the demo IdP.
    page.wait_for_selector("#persona-nurse-kk")
    screenshot(page, "2-sign-in")
    page.click("#persona-nurse-kk")
    page.wait_for_url(f"{demo_site}/chart/**")
    if "/chart/rules/" in page.url:  # first use: the rules of use, once per user
        screenshot(page, "3-rules-of-use")
        page.locator("form[action*='rules'] button[type=submit]").click()
        page.wait_for_url(f"{demo_site}/chart/**")
    assert "Lauritsen" in page.text_content("body")
    handle = page.url.split("/chart/")[1].split("/")[0]
    grant = Grant.objects.get(handle=handle)
    assert grant.patient_cpr not in page.url
    screenshot(page, "4-snapshot")

    # Pressing the button again for another citizen opens that one (a second launch).
    citizen(municipality="0101", family="Vestergaard")
    page.goto(f"{demo_site}/demo-eoj/{KK}/")
    page.select_option("#eoj-persona", "nurse-kk")
    page.locator("tr", has_text="Vestergaard").locator("button.eoj-open").click()
    page.wait_for_url(f"{demo_site}/chart/**")
    assert "Vestergaard" in page.text_content("body")
    assert "Lauritsen" not in page.text_content("body")
    assert Grant.objects.count() == 2


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_refusal_pages(demo_site: str, page: Any, screenshot: Any) -> None:
    page.goto(f"{demo_site}/launch?launch_token=not-a-token")
    assert "kunne ikke" in page.text_content("main")
    screenshot(page, "1-bad-link")

    citizen(municipality="0101", family="Spaerretsen", block="all")
    page.goto(f"{demo_site}/demo-eoj/{KK}/")
    page.select_option("#eoj-persona", "nurse-kk")
    page.locator("tr", has_text="Spaerretsen").locator("button.eoj-open").click()
    page.wait_for_selector("#persona-nurse-kk")
    page.click("#persona-nurse-kk")
    page.wait_for_url(f"{demo_site}/launch/resume")
    text = page.text_content("main")
    assert "Spaerretsen" not in text
    assert "ikke tilgængelig" in text
    screenshot(page, "2-not-available")
    assert not Grant.objects.exists()
