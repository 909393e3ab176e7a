"""The strict Content-Security-Policy in a real Chromium: the main pages run without a single
violation, the auto-submitting forms still submit, and same-origin POST forms pass CSRF."""

from __future__ import annotations

from typing import Any

import pytest

from indblik.access import demo
from indblik.access.tests.factories import citizen
from indblik.organisations.demo import ensure_demo_organisations

KK = "64942212"
# Recorded in every document before its own scripts run (init scripts are not subject to CSP).
LISTEN = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


@pytest.fixture
def demo_site(live_server: Any, settings: Any) -> str:
    settings.INDBLIK_BASE_URL = live_server.url
    settings.INDBLIK_SAML_DEMO_IDP = True
    settings.INDBLIK_SAML_IDP_METADATA = []
    ensure_demo_organisations()
    demo.ensure_demo_care_system_keys()
    return str(live_server.url)


@pytest.fixture
def violations(page: Any) -> list[str]:
    """Collect every CSP complaint Chromium makes on ``page``, on any document it loads."""
    found: list[str] = []
    page.add_init_script(LISTEN)

    def console(message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "CSP violation" in text:
            found.append(f"{page.url}: {text}")

    page.on("console", console)
    return found


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_main_pages_run_without_a_csp_violation(
    demo_site: str, page: Any, violations: list[str], screenshot: Any
) -> None:
    citizen(municipality="0101", family="Lauritsen")
    # The care-system simulator; its launch page auto-submits the token with a static script.
    page.goto(f"{demo_site}/demo-eoj/{KK}/")
    page.select_option("#eoj-persona", "nurse-kk")
    page.locator("tr", has_text="Lauritsen").locator("button.eoj-open").click()
    # /launch → sign-in → the demo IdP's login page.
    page.wait_for_selector("#persona-nurse-kk")
    screenshot(page, "1-demo-idp")
    # The demo IdP answers with a form that auto-posts the SAML response to the ACS.
    page.click("#persona-nurse-kk")
    page.wait_for_url(f"{demo_site}/chart/rules/**")
    # The rules page's POST form: accepted only if Chromium sent a real Origin (CSRF).
    page.locator("form[action*='rules'] button[type=submit]").click()
    page.wait_for_url(f"{demo_site}/chart/**")
    assert "/rules/" not in page.url
    assert "Lauritsen" in page.text_content("body")
    screenshot(page, "2-snapshot")
    handle = page.url.split("/chart/")[1].split("/")[0]
    page.goto(f"{demo_site}/chart/{handle}/lab/")
    page.wait_for_selector("main")
    page.goto(f"{demo_site}/chart/{handle}/lab/print/")
    page.wait_for_selector("main")
    page.goto(f"{demo_site}/chart/rules/")
    page.wait_for_selector("article.rules")
    # Sign out with the POST form of the session page (CSRF again) → logged-out page.
    page.goto(f"{demo_site}/saml2/session/")
    page.click("#sign-out")
    page.wait_for_url(f"{demo_site}/saml2/logged-out/**")
    screenshot(page, "3-signed-out")
    assert violations == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_inline_script_is_blocked_and_reported(
    demo_site: str, page: Any, violations: list[str]
) -> None:
    # The control for the test above: the listener does see a violation when there is one.
    page.goto(f"{demo_site}/chart/rules/")
    with pytest.raises(Exception):  # noqa: B017 - Playwright reports the blocked script
        page.add_script_tag(content="window.indblikInline = true;")
    assert page.evaluate("window.indblikInline") is None
    assert any("script-src" in text for text in violations), violations
