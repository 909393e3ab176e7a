"""The reviewer's organisation page and the chart's feedback prompt, in Chromium, looked at."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from indblik.access.testing import grant_client
from indblik.chart.tests.conftest import load_citizens
from indblik.identity.models import User
from indblik.organisations.tests.test_browser import (
    accessibility_problems,
    new_texts_in_danish,  # noqa: F401 - a fixture
)
from indblik.records.models import Patient
from indblik.usage import feedback
from indblik.usage.models import Feedback
from indblik.usage.tests.conftest import FRB, KK, lookup

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("new_texts_in_danish"),
]


@pytest.fixture
def demo_site(live_server: Any, settings: Any, orgs: Any) -> str:
    settings.INDBLIK_BASE_URL = live_server.url
    settings.INDBLIK_SAML_DEMO_IDP = True
    settings.INDBLIK_SAML_IDP_METADATA = []
    settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    return str(live_server.url)


def with_session_of(page: Any, site: str, client: Client) -> None:
    """Give the browser the test client's session cookie."""
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": site, "httpOnly": True}]
    )


def test_the_reviewer_sees_the_organisation_and_deactivates_a_user(
    demo_site: str, browser: Any, page: Any, screenshot: Any, orgs: Any
) -> None:
    from indblik.access.testing import professional

    mette = professional(orgs[KK], full_name="Mette Holm", profession="Sygeplejerske")
    jonas = professional(
        orgs[KK], full_name="Jonas Vestergaard", profession="Social- og sundhedsassistent"
    )
    sara = professional(orgs[FRB], full_name="Sara Lund")
    for user, sections in (
        (mette, ("snapshot", "lab", "notes")),
        (mette, ("snapshot", "care-plans")),
        (jonas, ("snapshot", "lab")),
        (sara, ("snapshot",)),
    ):
        lookup(user, sections=sections)
    feedback.submit(mette, score=5)
    feedback.submit(jonas, score=4)

    page.goto(f"{demo_site}/saml2/login/?next=/organisation/")
    page.click("#persona-reviewer-kk")
    page.wait_for_url(f"{demo_site}/organisation/")
    assert page.locator("h1").inner_text() == "Københavns Kommune"
    assert "Sara Lund" not in page.text_content("main")
    assert page.locator("svg[role=img]").count() == 2
    assert accessibility_problems(browser, page) == []
    screenshot(page, "1-organisation")

    page.click(f"#user-{jonas.pk} a")
    page.wait_for_selector("#confirm-deactivate")
    screenshot(page, "2-confirm")
    page.click("#confirm-deactivate")
    page.wait_for_selector(".usage-message-success")
    assert "Jonas Vestergaard er deaktiveret" in page.text_content(".usage-messages")
    jonas.refresh_from_db()
    assert not jonas.is_active
    screenshot(page, "3-deactivated")


def test_a_nurse_answers_the_feedback_prompt_in_the_chart(
    demo_site: str, browser: Any, page: Any, screenshot: Any
) -> None:
    load_citizens(1)
    granted = grant_client(Patient.objects.get())
    with_session_of(page, demo_site, granted.client)
    page.goto(f"{demo_site}{granted.url()}")
    page.wait_for_selector(".usage-feedback")
    assert "Hvor nyttigt var dette opslag?" in page.text_content(".usage-feedback")
    page.locator(".usage-feedback").scroll_into_view_if_needed()
    screenshot(page, "1-prompt")
    page.check("input[name=score][value='4']")
    page.fill("#usage-feedback-comment", "Sparede et telefonopkald til afdelingen")
    page.click("#usage-feedback-send")
    page.wait_for_selector(".usage-feedback-thanks")
    assert page.url == f"{demo_site}{granted.url()}"
    screenshot(page, "2-thanks")
    answer = Feedback.objects.get()
    assert (answer.score, answer.comment) == (4, "Sparede et telefonopkald til afdelingen")
    page.reload()
    assert page.locator(".usage-feedback, .usage-feedback-thanks").count() == 0
    assert User.objects.get(pk=granted.user.pk).is_active
