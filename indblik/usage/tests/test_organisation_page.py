"""The organisation's own page: its reviewer only, its own data only, deactivation that bites."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from indblik import audit
from indblik.identity.models import User, UserSession
from indblik.organisations import registry
from indblik.organisations.models import Organisation
from indblik.usage.tests.conftest import FRB, KK, lookup, signed_in

pytestmark = pytest.mark.django_db
PAGE = reverse("usage:organisation")


def deactivate_url(user: User) -> str:
    return reverse("usage:deactivate", args=[user.pk])


def test_the_reviewer_sees_status_checklist_users_and_usage(
    reviewer: User, nurse: User, other_nurse: User
) -> None:
    lookup(nurse, sections=("snapshot", "lab", "lab"))
    lookup(other_nurse, sections=("notes",))
    response = signed_in(reviewer).get(PAGE)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "Københavns Kommune" in body and "Live" in body
    assert "6 of 6 steps done" in body
    assert "Mette Holm" in body and "Sygeplejerske" in body
    assert "Sara Lund" not in body  # Frederiksberg's user
    weeks = response.context["weeks"]
    assert weeks[-1].lookups == 1 and weeks[-1].users == 1  # Frederiksberg's lookup not counted
    sections = {use.section: use.count for use in response.context["sections"]}
    assert sections == {"lab": 2, "snapshot": 1}
    assert body.count('role="img"') == 2 and "<title" in body
    assert 'id="usage-weeks-table"' in body and 'id="usage-sections-table"' in body


@pytest.mark.parametrize("who", ["nurse", "other_nurse"])
def test_users_without_the_reviewer_role_are_refused(
    who: str, request: pytest.FixtureRequest
) -> None:
    response = signed_in(request.getfixturevalue(who)).get(PAGE)
    assert response.status_code == 403
    assert "log reviewers only" in response.content.decode()


def test_staff_and_anonymous_visitors_do_not_get_in(staff: Client, client: Client) -> None:
    assert staff.get(PAGE).status_code == 403
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/saml2/login/")


def test_a_reviewer_sees_only_their_own_organisation(
    other_reviewer: User, nurse: User, reviewer: User
) -> None:
    lookup(nurse)
    client = signed_in(other_reviewer)
    response = client.get(PAGE)
    body = response.content.decode()
    assert "Frederiksberg Kommune" in body
    assert "Mette Holm" not in body and "Anne Friis" not in body
    assert sum(week.lookups for week in response.context["weeks"]) == 0
    # Another organisation's user is a 404, for the confirmation page and the POST alike.
    assert client.get(deactivate_url(nurse)).status_code == 404
    assert client.post(deactivate_url(nurse)).status_code == 404
    nurse.refresh_from_db()
    assert nurse.is_active


def test_a_suspended_organisations_reviewer_is_shut_out(reviewer: User, orgs: dict) -> None:
    client = signed_in(reviewer)
    registry.suspend(org=orgs[KK], reason="test", by=audit.Actor(name="test"))
    # Suspension ends the organisation's sessions at once: back to sign-in, which refuses.
    assert not UserSession.objects.filter(user=reviewer).exists()
    response = client.get(PAGE)
    assert response.status_code == 302 and "/saml2/login/" in response["Location"]


def test_deactivation_asks_first_then_ends_the_users_sessions_and_is_audited(
    reviewer: User, nurse: User
) -> None:
    nurse_client = signed_in(nurse)
    assert UserSession.objects.filter(user=nurse).exists()
    client = signed_in(reviewer)
    confirm = client.get(deactivate_url(nurse))
    assert confirm.status_code == 200
    assert "Deactivate Mette Holm?" in confirm.content.decode()
    nurse.refresh_from_db()
    assert nurse.is_active  # a GET changes nothing
    done = client.post(deactivate_url(nurse), follow=True)
    assert done.redirect_chain[-1][0] == PAGE
    assert "Mette Holm is deactivated; 1 session(s) ended." in done.content.decode()
    nurse.refresh_from_db()
    assert not nurse.is_active and nurse.deactivation_reason == "organisation"
    assert not UserSession.objects.filter(user=nurse).exists()
    assert nurse_client.get("/saml2/session/").status_code == 302  # signed out at once
    event = audit.AuditEvent.objects.get(action=audit.Action.USER_DEACTIVATED)
    assert event.user_id == reviewer.pk
    assert event.details["user_id"] == nurse.pk and event.organisation_cvr == KK


def test_deactivation_needs_a_csrf_token(reviewer: User, nurse: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    assert client.post(deactivate_url(nurse)).status_code == 403
    nurse.refresh_from_db()
    assert nurse.is_active


def test_a_reviewer_cannot_deactivate_themselves(reviewer: User) -> None:
    response = signed_in(reviewer).post(deactivate_url(reviewer), follow=True)
    assert "You cannot deactivate yourself here." in response.content.decode()
    reviewer.refresh_from_db()
    assert reviewer.is_active


def test_a_deactivated_user_is_listed_as_such_without_a_button(reviewer: User, nurse: User) -> None:
    from indblik.identity import users

    users.deactivate(nurse, reason="scim")
    body = signed_in(reviewer).get(PAGE).content.decode()
    row = body[body.index(f'id="user-{nurse.pk}"') :].split("</tr>")[0]
    assert "Deactivated" in row and "Deactivate" not in row.replace("Deactivated", "")


def test_the_period_can_be_chosen_and_bad_values_fall_back(reviewer: User) -> None:
    client = signed_in(reviewer)
    assert len(client.get(PAGE, {"weeks": "4"}).context["weeks"]) == 4
    assert len(client.get(PAGE, {"weeks": "9999"}).context["weeks"]) == 12
    assert client.post(PAGE).status_code == 405


def test_frederiksberg_reviewer_sees_frederiksberg_users(
    other_reviewer: User, other_nurse: User, orgs: dict[str, Organisation]
) -> None:
    body = signed_in(other_reviewer).get(PAGE).content.decode()
    assert "Sara Lund" in body and orgs[FRB].name in body
