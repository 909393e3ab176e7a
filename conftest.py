"""Fixtures shared by every app's tests: the real browser and screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Empties the append-only audit tables before transactional tests tear down (their triggers
# refuse Django's flush otherwise).
pytest_plugins = ["indblik.audit.testing"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Yield a headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install-test` (installs Debian's chromium)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
    # test itself are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Yield a fresh page (own context: no cookies shared between tests), Danish locale."""
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Any:
    """Return ``shot(page, name)`` that saves a full-page PNG under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


@pytest.fixture(scope="session")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second Indblik process serving the synthetic story over FHIR (live-source tests)."""
    from indblik.records.tests.hospital import HospitalServer, story_resources

    server = HospitalServer(tmp_path_factory.mktemp("hospital"), story_resources())
    server.start()
    try:
        yield server
    finally:
        server.stop()
