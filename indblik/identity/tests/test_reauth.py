"""Re-authentication before sensitive admin changes: required, honoured, audited."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import saml2
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from indblik import audit
from indblik.identity import reauth
from indblik.identity.models import User
from indblik.identity.tests.conftest import NURSE, Broker, Person, now
from indblik.organisations.models import Organisation

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
REAUTH = reverse("identity:reauthenticate")


def change_url(org: Organisation) -> str:
    return reverse("admin:organisations_organisation_change", args=[org.pk])


def changelist() -> str:
    return reverse("admin:organisations_organisation_changelist")


def later(minutes: float) -> Any:
    """Travel ``minutes`` ahead (within the idle timeout, so the session itself lives)."""
    return time_machine.travel(now() + datetime.timedelta(minutes=minutes), tick=False)


def reauth_events(outcome: str | None = None) -> list[audit.AuditEvent]:
    events = audit.AuditEvent.objects.filter(action=audit.Action.REAUTHENTICATE).order_by("pk")
    return list(events.filter(outcome=outcome) if outcome else events)


@pytest.fixture
def org(organisations: dict[str, Organisation]) -> Organisation:
    """A live organisation for the administrator to change."""
    return organisations["kk"]


@pytest.fixture
def staff(client: Client) -> Client:
    """A local hospital administrator (superuser), signed in with a password just now."""
    User.objects.create_superuser("hanne", "hanne@example.dk", PASSWORD)
    assert client.login(username="hanne", password=PASSWORD)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def suspend(client: Client, org: Organisation, **extra: Any) -> Any:
    data = {
        "action": "suspend_selected",
        "_selected_action": [org.pk],
        "apply": "yes",
        "reason": "Agreement lapsed",
    }
    return client.post(changelist(), data, **extra)


# --- the guard ------------------------------------------------------------------------------


def test_a_fresh_sign_in_lets_the_administrator_change_things(
    staff: Client, org: Organisation
) -> None:
    response = suspend(staff, org)
    assert response.status_code == 302 and response["Location"] == changelist()
    org.refresh_from_db()
    assert org.status == "suspended"


def test_a_change_after_the_limit_is_refused_and_sent_to_reauthenticate(
    staff: Client, org: Organisation
) -> None:
    with later(11):
        response = suspend(staff, org)
        assert response.status_code == 302
        assert response["Location"] == REAUTH + "?" + urlencode({"next": changelist()})
        assert "no-store" in response["Cache-Control"]
        page = staff.get(response["Location"])
    org.refresh_from_db()
    assert org.status == "live"  # nothing happened
    assert page.status_code == 200
    body = page.content.decode()
    assert "Nothing was saved: confirm who you are first" in body
    assert 'name="password"' in body and 'type="password"' in body


def test_the_limit_is_the_setting(staff: Client, org: Organisation, settings: Any) -> None:
    settings.INDBLIK_SESSION_IDLE_MINUTES = 60
    settings.INDBLIK_ADMIN_REAUTH_MINUTES = 30
    with later(25):
        assert suspend(staff, org)["Location"] == changelist()
    settings.INDBLIK_ADMIN_REAUTH_MINUTES = 1
    with later(2):
        assert suspend(staff, org)["Location"].startswith(REAUTH)


def test_forms_that_could_change_something_ask_first_lists_and_read_only_pages_do_not(
    staff: Client, org: Organisation
) -> None:
    event = audit.record(None, audit.Action.LOGIN)
    with later(11):
        assert staff.get(change_url(org))["Location"].startswith(REAUTH)
        assert staff.get(reverse("admin:organisations_organisation_add")).status_code == 302
        assert staff.get(reverse("admin:password_change")).status_code == 302
        user = User.objects.get(username="hanne")
        assert staff.get(reverse("admin:identity_user_change", args=[user.pk])).status_code == 302
        # Looking is not changing.
        assert staff.get(changelist()).status_code == 200
        assert staff.get(reverse("admin:index")).status_code == 200
        detail = reverse("admin:audit_auditevent_change", args=[event.pk])
        assert staff.get(detail).status_code == 200  # a read-only page: nothing to save


def test_every_admin_post_is_guarded_even_on_read_only_models(staff: Client) -> None:
    event = audit.record(None, audit.Action.LOGIN)
    with later(11):
        detail = reverse("admin:audit_auditevent_change", args=[event.pk])
        assert staff.post(detail, {})["Location"].startswith(REAUTH)
        # Signing out of the admin always works.
        signed_out = staff.post(reverse("admin:logout"))
        assert signed_out["Location"] == reverse("identity:logged-out")


def test_people_who_are_not_staff_are_left_to_the_admin_itself(client: Client) -> None:
    User.objects.create_user("nina", password=PASSWORD)
    client.login(username="nina", password=PASSWORD)
    with later(11):
        response = client.post(changelist(), {})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- password re-entry ------------------------------------------------------------------------


def test_the_right_password_stamps_the_session_and_is_audited(
    staff: Client, org: Organisation
) -> None:
    with later(11):
        assert suspend(staff, org)["Location"].startswith(REAUTH)
        response = staff.post(REAUTH, {"password": PASSWORD, "next": changelist()})
        assert response.status_code == 302 and response["Location"] == changelist()
        assert suspend(staff, org)["Location"] == changelist()
    org.refresh_from_db()
    assert org.status == "suspended"
    (event,) = reauth_events()
    assert event.outcome == "success"
    assert event.details == {"method": "password", "minutes": 10}
    assert event.actor_name == "hanne" or event.user_id == User.objects.get(username="hanne").pk


def test_a_wrong_password_is_refused_and_audited(staff: Client, org: Organisation) -> None:
    with later(11):
        response = staff.post(REAUTH, {"password": "hunter2-guess", "next": changelist()})
        assert response.status_code == 400
        assert "That password is not right." in response.content.decode()
        assert suspend(staff, org)["Location"].startswith(REAUTH)
    (event,) = reauth_events()
    assert event.outcome == "refused"
    assert event.details["reason"] == "wrong-password"
    assert "hunter2" not in str(event.details)


def test_five_wrong_passwords_end_the_session(staff: Client) -> None:
    with later(11):
        for _attempt in range(reauth.MAX_FAILURES - 1):
            assert staff.post(REAUTH, {"password": "nope"}).status_code == 400
        response = staff.post(REAUTH, {"password": "nope"})
        assert response["Location"] == reverse("identity:logged-out")
        assert response["Clear-Site-Data"]
        assert staff.get(reverse("admin:index"))["Location"].startswith(reverse("admin:login"))
    assert [event.details["reason"] for event in reauth_events("refused")][-1] == (
        "too-many-attempts"
    )


def test_next_must_stay_on_this_site(staff: Client) -> None:
    with later(11):
        response = staff.post(REAUTH, {"password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == reverse("admin:index")


def test_the_page_needs_a_signed_in_user(client: Client) -> None:
    response = client.get(REAUTH)
    assert response.status_code == 302
    assert response["Location"] == reverse("identity:login")


def test_the_password_form_needs_a_csrf_token(org: Organisation) -> None:
    client = Client(enforce_csrf_checks=True)
    User.objects.create_superuser("hanne", "hanne@example.dk", PASSWORD)
    client.login(username="hanne", password=PASSWORD)
    assert client.post(REAUTH, {"password": PASSWORD}).status_code == 403


def test_authentication_instants_from_the_broker_are_read_with_care() -> None:
    assert reauth._instant("2025-03-14T10:00:00Z") == datetime.datetime(
        2025, 3, 14, 10, tzinfo=datetime.UTC
    )
    assert reauth._instant("2025-03-14T10:00:00.123456Z") is not None
    assert reauth._instant("2025-03-14T10:00:00") is not None  # no zone: UTC
    assert reauth._instant("yesterday") is None
    assert reauth._instant("") is None and reauth._instant(None) is None


# --- broker users: ForceAuthn and AuthnInstant ------------------------------------------------


@pytest.fixture
def administrator(settings: Any) -> Person:
    return NURSE.but(
        persistent_id="urn:uuid:6b0a3c55-1f7e-4a59-9d57-0f1d7b6f0a01",
        full_name="Henrik Malling",
        cvr=settings.INDBLIK_SAML_ADMIN_CVR,
        organisation_name="Region Hovedstaden",
        roles=(settings.INDBLIK_SAML_ADMIN_ROLE,),
    )


def authenticated(minutes_ago: float) -> Any:
    """Return a mutator that dates the assertion's AuthnInstant ``minutes_ago``."""
    instant = (now() - datetime.timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def mutate(response: Any) -> None:
        response.assertion.authn_statement[0].authn_instant = instant

    return mutate


def broker_admin(broker: Broker, person: Person, *, minutes_ago: float = 0) -> User:
    request = broker.start()
    answer = broker.respond(request, person, mutate=authenticated(minutes_ago))
    assert broker.post(answer).status_code == 302
    user = User.objects.get(persistent_id=person.persistent_id)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="organisations"))
    return user


def test_a_broker_sign_in_counts_from_when_the_person_authenticated_at_the_broker(
    broker: Broker, administrator: Person, org: Organisation
) -> None:
    broker_admin(broker, administrator, minutes_ago=0)
    assert suspend(broker.client, org)["Location"] == changelist()


def test_a_sign_in_from_an_old_broker_session_must_reauthenticate(
    broker: Broker, administrator: Person, org: Organisation
) -> None:
    broker_admin(broker, administrator, minutes_ago=45)
    response = suspend(broker.client, org)
    assert response["Location"].startswith(REAUTH)
    page = broker.client.get(response["Location"]).content.decode()
    assert 'id="reauth-broker"' in page and 'name="password"' not in page
    # A broker user has no password to give.
    assert broker.client.post(REAUTH, {"password": "x"}).status_code == 200
    assert not reauth_events()


def start_reauthentication(broker: Broker, next_url: str) -> Any:
    response = broker.client.get(reverse("identity:reauthenticate-broker"), {"next": next_url})
    assert response.status_code == 302, response.content[:300]
    query = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    return broker.idp.parse_authn_request(
        query["SAMLRequest"],
        saml2.BINDING_HTTP_REDIRECT,
        sigalg=query.get("SigAlg"),
        signature=query.get("Signature"),
    )


def test_reauthentication_asks_the_broker_for_force_authn_and_is_audited(
    broker: Broker, administrator: Person, org: Organisation
) -> None:
    user = broker_admin(broker, administrator, minutes_ago=45)
    request = start_reauthentication(broker, changelist())
    assert request.message.force_authn == "true"
    answer = broker.respond(request, administrator, mutate=authenticated(0))
    done = broker.post(answer)
    assert done.status_code == 302
    assert done["Location"].startswith(reverse("identity:reauthenticate-done"))
    back = broker.client.get(done["Location"])
    assert back["Location"] == changelist()
    assert suspend(broker.client, org)["Location"] == changelist()
    org.refresh_from_db()
    assert org.status == "suspended"
    (event,) = reauth_events()
    assert event.outcome == "success" and event.details["method"] == "broker"
    assert event.user_id == user.pk


def test_a_broker_that_ignores_force_authn_does_not_count(
    broker: Broker, administrator: Person, org: Organisation
) -> None:
    broker_admin(broker, administrator, minutes_ago=45)
    request = start_reauthentication(broker, changelist())
    # The broker answered from its own single sign-on session, 45 minutes old.
    done = broker.post(broker.respond(request, administrator, mutate=authenticated(45)))
    page = broker.client.get(done["Location"], headers={"accept-language": "en"})
    assert page.status_code == 403
    assert "did not ask you to sign in again" in page.content.decode()
    assert suspend(broker.client, org)["Location"].startswith(REAUTH)
    (event,) = reauth_events()
    assert event.outcome == "refused"
    assert event.details["reason"] == "authn-instant-too-old"


def test_a_password_user_cannot_start_a_broker_reauthentication(staff: Client) -> None:
    response = staff.get(reverse("identity:reauthenticate-broker"))
    assert response["Location"] == REAUTH
