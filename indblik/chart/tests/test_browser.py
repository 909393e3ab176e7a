"""A nurse reads every page of a rich synthetic record in a real Chromium: looks, axe, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from indblik.access.testing import grant_client
from indblik.chart.tests.conftest import load_citizens, richest_patient
from indblik.records.sections import PAGES, Section

AXE = Path(__file__).resolve().parents[3] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def nurse(live_server: Any, settings: Any, browser: Any) -> Any:
    """A browser context signed in as a nurse with a grant for the richest citizen."""
    settings.INDBLIK_BASE_URL = live_server.url
    load_citizens()
    granted = grant_client(richest_patient())
    _allow_local_network(granted.organisation)
    context = browser.new_context(locale="da-DK", viewport=DESKTOP)
    cookie = granted.client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield granted, page, f"{live_server.url}/chart/{granted.handle}/"
    context.close()


def _allow_local_network(organisation: Any) -> None:
    from django.utils import timezone

    from indblik.organisations.models import NetworkRange

    NetworkRange.objects.get_or_create(
        organisation=organisation, cidr="127.0.0.0/8", defaults={"added_at": timezone.now()}
    )


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.0/2.1 A and AA rules) on the page; return serious/critical ones."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --ignore-scripts` (make install-test)")
    # Through DevTools, which the page's Content-Security-Policy does not govern: a <script>
    # tag with axe inline would be blocked (script-src 'self' 'nonce-…'), as it should be.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                              'best-practice']}
        })"""
    )
    return [
        {
            "id": item["id"],
            "impact": item["impact"],
            "help": item["help"],
            "nodes": [node["target"] for node in item["nodes"][:5]],
        }
        for item in result["violations"]
        if item["impact"] in ("serious", "critical")
    ]


def test_every_page_reads_well_on_a_desktop_and_passes_axe(nurse: Any, screenshot: Any) -> None:
    _granted, page, base = nurse
    problems = {}
    for index, section in enumerate(PAGES, start=1):
        url = base if section == Section.SNAPSHOT else f"{base}{section.value}/"
        response = page.goto(url)
        assert response is not None and response.status == 200, section
        assert page.locator("h1").first.inner_text().strip()
        assert page.locator("nav a[aria-current='page']").count() == 1
        assert "Kun læseadgang" in (page.locator(".citizen-banner").text_content() or "")
        screenshot(page, f"desktop-{index:02d}-{section.value}")
        found = axe_violations(page)
        if found:
            problems[section.value] = found
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


def test_every_page_works_on_a_phone(nurse: Any, screenshot: Any) -> None:
    _granted, page, base = nurse
    page.set_viewport_size(PHONE)
    problems = {}
    for index, section in enumerate(PAGES, start=1):
        url = base if section == Section.SNAPSHOT else f"{base}{section.value}/"
        page.goto(url)
        screenshot(page, f"phone-{index:02d}-{section.value}")
        # The page never scrolls sideways as a whole (wide tables scroll in their own box).
        width = page.evaluate("document.documentElement.scrollWidth")
        found = axe_violations(page)
        if width > PHONE["width"]:
            found.append({"id": "page-wider-than-phone", "width": width})
        if found:
            problems[section.value] = found
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


def test_the_section_menu_on_a_phone_opens_and_works_by_keyboard(
    nurse: Any, screenshot: Any
) -> None:
    _granted, page, base = nurse
    page.set_viewport_size(PHONE)
    page.goto(base)
    menu = page.locator("details.section-menu")
    assert menu.get_attribute("open") is None  # compact on a phone
    page.locator("details.section-menu > summary").focus()
    page.keyboard.press("Enter")
    assert menu.get_attribute("open") is not None
    screenshot(page, "menu-open")
    page.get_by_role("link", name="Laboratorieprøver", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}lab/")
    assert page.locator("h1").first.inner_text() == "Laboratorieprøver"


def test_the_lab_trend_is_an_accessible_image_without_javascript(
    nurse: Any, browser: Any, settings: Any, live_server: Any, screenshot: Any
) -> None:
    granted, _page, base = nurse
    context = browser.new_context(java_script_enabled=False, locale="da-DK", viewport=DESKTOP)
    cookie = granted.client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )
    bare = context.new_page()
    try:
        bare.goto(f"{base}lab/")
        chart = bare.locator("svg.trend").first
        assert chart.get_attribute("role") == "img"
        assert "Udvikling i" in (chart.locator("title").text_content() or "")
        assert chart.is_visible()
        screenshot(bare, "lab-without-js")
    finally:
        context.close()


def test_the_print_view_carries_the_watermark(nurse: Any, screenshot: Any) -> None:
    granted, page, base = nurse
    page.goto(f"{base}snapshot/print/")
    watermark = page.locator(".watermark").inner_text()
    assert "FORTROLIGT" in watermark
    assert granted.organisation.name in watermark
    screenshot(page, "print-snapshot")
    page.emulate_media(media="print")
    screenshot(page, "print-snapshot-as-printed")
    page.goto(f"{base}lab/print/")
    screenshot(page, "print-lab")
    assert not axe_violations(page)


def test_the_page_when_the_hospital_record_cannot_be_reached(
    nurse: Any, settings: Any, screenshot: Any
) -> None:
    from indblik.records.source import _source
    from indblik.records.tests.hospital import free_port

    _granted, page, base = nurse
    settings.INDBLIK_RECORD_SOURCE = f"http://127.0.0.1:{free_port()}/fhir/r4"
    settings.INDBLIK_FHIR_CLIENT_ID = "indblik-test"
    _source.cache_clear()
    try:
        response = page.goto(f"{base}lab/")
        assert response is not None and response.status == 503
        assert page.locator("h1").inner_text() == "Hospitalsjournalen kan ikke nås"
        assert page.get_by_role("link", name="Prøv igen").is_visible()
        screenshot(page, "source-unavailable")
        assert axe_violations(page) == []
    finally:
        _source.cache_clear()
