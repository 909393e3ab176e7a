"""The front page and the administration open in a real Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_signs_in_to_the_administration(
    live_server: Any, page: Any, screenshot: Any
) -> None:
    get_user_model().objects.create_superuser("hospital-admin", password="pw-for-this-test-only")
    page.goto(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Indblik i hospitalets journal"
    screenshot(page, "home")
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "hospital-admin")
    page.fill("#id_password", "pw-for-this-test-only")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "Klinisk journal" in page.content()
    screenshot(page, "admin")
