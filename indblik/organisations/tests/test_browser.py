"""A hospital administrator onboards an organisation to live through the admin, in Chromium.

The administrator signs in through the demo identity provider (the broker path, as in
production), registers Frederiksberg Kommune, sets role, network and care-system key, completes
the six checklist steps with evidence, takes it live, and later confirms who they are again
before suspending it. Screenshots go to test-artifacts/ to be looked at.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from indblik import audit
from indblik.chart.tests.test_browser import axe_violations
from indblik.organisations.models import Organisation, Status
from indblik.organisations.tests.conftest import AGREEMENT, ec_key, jwks, public

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CVR = "11259979"
EVIDENCE = {
    "button": "Nexus change 2025-118",
    "network": "SDN ticket 4711",
    "ad-group": "AD group INDBLIK-OPSLAG",
    "job-role": "Context Handler, 2025-03-10",
    "whitelist": "Ranges 10.147.0.0/16 and 2001:db8:147::/48, ticket 4712",
    "agreement": AGREEMENT,
}
ROLE = "http://kombit.dk/roles/jobrole/indblik-opslag/1"


@pytest.fixture
def new_texts_in_danish() -> None:
    """The screenshots are in Danish: the new texts are in the project's catalogues."""


@pytest.fixture
def demo_site(live_server: Any, settings: Any, new_texts_in_danish: None) -> str:
    """The live server with the demo IdP; the administrators' group has the registry's rights."""
    settings.INDBLIK_BASE_URL = live_server.url
    settings.INDBLIK_SAML_DEMO_IDP = True
    settings.INDBLIK_SAML_IDP_METADATA = []
    settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    # What an operator grants the broker's administrators once (docs/organisations.md).
    group, _created = Group.objects.get_or_create(name=settings.INDBLIK_SAML_ADMIN_GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="organisations"))
    return str(live_server.url)


def sign_in_as_administrator(page: Any, site: str, next_url: str) -> None:
    page.goto(f"{site}/saml2/login/?next={next_url}")
    page.click("#persona-admin-hospital")
    page.wait_for_url(f"{site}{next_url}")


def accessibility_problems(browser: Any, page: Any) -> list[dict[str, Any]]:
    """Run axe on the page's URL in a twin context without CSP (axe is injected inline)."""
    twin = browser.new_context(
        storage_state=page.context.storage_state(), bypass_csp=True, locale="da-DK"
    )
    try:
        checked = twin.new_page()
        checked.goto(page.url)
        return [
            problem
            for problem in axe_violations(checked)
            # Django's own admin stylesheet draws breadcrumb links without an underline: the
            # same finding on every admin page, not one of ours.
            if not all(".breadcrumbs" in str(node) for node in problem["nodes"])
        ]
    finally:
        twin.close()


def no_errors(page: Any) -> None:
    errors = page.locator(".errornote, .errorlist, .messagelist .error")
    assert errors.count() == 0, errors.all_inner_texts()


def test_a_hospital_administrator_onboards_an_organisation_to_live(
    demo_site: str, browser: Any, page: Any, screenshot: Any
) -> None:
    site = demo_site
    # The pages run under the real Content-Security-Policy: anything inline would fail here.
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in_as_administrator(page, site, "/admin/")
    greeting = page.text_content("#user-tools")
    assert "Henrik Malling" in greeting and "saml:" not in greeting  # not the derived username
    screenshot(page, "1-admin")

    # Register the organisation, with its first network range.
    page.goto(f"{site}/admin/organisations/organisation/add/")
    page.fill("#id_cvr", CVR)
    page.fill("#id_name", "Frederiksberg Kommune")
    page.select_option("#id_type", "municipality")
    page.select_option("#id_municipality_code", "0147")
    page.fill("#id_sor_code", "471471000016007")
    page.fill("#id_care_system", "Nexus")
    page.fill("#id_security_officer_name", "Sif Sikker")
    page.fill("#id_security_officer_email", "sif@frederiksberg.example.dk")
    page.fill("#id_technical_contact_name", "Tore Teknik")
    page.fill("#id_network_ranges-0-cidr", "10.147.0.0/16")
    screenshot(page, "2-register")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    no_errors(page)
    org = Organisation.objects.get(cvr=CVR)
    assert org.status == Status.ONBOARDING and org.network_ranges.count() == 1
    screenshot(page, "3-registered")

    # Role, a second (IPv6) range and the care system's public key.
    page.fill("#id_role_uri", ROLE)
    page.fill("#id_network_ranges-1-cidr", "2001:db8:147::/48")
    page.fill("#id_add_keys", jwks(public(ec_key("frederiksberg-eoj-2025"))))
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    no_errors(page)
    org.refresh_from_db()
    assert org.role_uri == ROLE
    assert org.network_ranges.count() == 2 and org.keys.filter(removed_at=None).count() == 1

    # The six onboarding steps, each with its evidence.
    for index, step in enumerate(EVIDENCE):
        page.check(f"#id_checklist-{index}-done")
        page.fill(f"#id_checklist-{index}-evidence", EVIDENCE[step])
    screenshot(page, "4-checklist")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    no_errors(page)
    assert org.open_steps() == []
    screenshot(page, "5-checklist-done")

    # Go live from the list.
    page.goto(f"{site}/admin/organisations/organisation/")
    page.check(f"input[name=_selected_action][value='{org.pk}']")
    page.select_option("select[name=action]", "go_live_selected")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    assert "Frederiksberg Kommune er i drift." in page.text_content(".messagelist")
    org.refresh_from_db()
    assert org.status == Status.LIVE
    screenshot(page, "6-live")

    # Eleven minutes later the administrator must confirm who they are before a change.
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=11), tick=True):
        page.goto(f"{site}/admin/organisations/organisation/{org.pk}/change/")
        page.wait_for_selector("#reauth-broker")
        assert "Bekræft, hvem du er" in page.text_content("#content")
        assert accessibility_problems(browser, page) == []
        screenshot(page, "7-confirm-who-you-are")
        page.click("#reauth-broker")  # ForceAuthn: the demo IdP shows its persona page again
        page.click("#persona-admin-hospital")
        page.wait_for_url(f"{site}/admin/organisations/organisation/{org.pk}/change/")
        no_errors(page)
        screenshot(page, "8-back-after-confirming")
    events = audit.AuditEvent.objects.filter(action=audit.Action.REAUTHENTICATE)
    assert [(event.outcome, event.details["method"]) for event in events] == [("success", "broker")]
    done = audit.AuditEvent.objects.filter(action=audit.Action.ORGANISATION_CHECKLIST_DONE)
    assert done.count() == 6 and {event.details["cvr"] for event in done} == {CVR}
    assert audit.AuditEvent.objects.filter(
        action=audit.Action.ORGANISATION_STATUS_CHANGE, outcome="success"
    ).exists()

    # The rollout report shows it.
    page.goto(f"{site}/reports/")
    page.wait_for_selector("#usage-types-table")
    # Organisations and lookups; no sections or feedback charts yet: nothing to show.
    assert page.locator("svg[role=img]").count() == 2
    assert accessibility_problems(browser, page) == []
    screenshot(page, "9-reports")
    assert blocked == []
