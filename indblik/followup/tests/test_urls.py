"""Every URL of the app: named as INTERFACES.md says, CSRF-protected, closed to anonymous users."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from indblik.followup import urls

pytestmark = pytest.mark.django_db


def test_the_paths_are_the_documented_ones_and_none_is_csrf_exempt() -> None:
    assert reverse("followup:citizen-log") == "/min-log/"
    assert reverse("followup:overview") == "/follow-up/"
    for pattern in urls.urlpatterns:
        assert not getattr(pattern.callback, "csrf_exempt", False), pattern.name


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/min-log/", "get", 302),
        ("/min-log/block/", "post", 302),
        ("/min-log/block/", "get", 405),
        ("/min-log/unblock/", "post", 302),
        ("/follow-up/", "get", 302),
        ("/follow-up/cases/1/", "get", 302),
        ("/follow-up/cases/1/", "post", 302),
        ("/follow-up/search/", "post", 302),
        ("/follow-up/search/export/?f=x", "get", 302),
    ],
)
def test_anonymous_requests_go_to_sign_in(orgs: Any, path: str, method: str, status: int) -> None:
    response = getattr(Client(), method)(path)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/saml2/login/?next=")


def test_the_demo_citizen_has_a_record_once(orgs: Any) -> None:
    from indblik.followup.demo import CITIZEN_CPR, ensure_demo_citizen
    from indblik.identity.demo_idp.personas import persona

    citizen = persona("citizen")
    assert citizen is not None and citizen.cpr == CITIZEN_CPR
    first = ensure_demo_citizen()
    assert first.municipality_code == "0101" and first.name == "Karen Sørensen"
    assert ensure_demo_citizen().pk == first.pk
