"""The allowlist middleware: live organisations only, from their own networks only."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_network
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client, RequestFactory, override_settings

from indblik.audit import Action, Actor, Outcome
from indblik.organisations import registry
from indblik.organisations.middleware import SESSION_KEY, organisation_cvr
from indblik.organisations.models import Organisation
from indblik.organisations.tests.conftest import CVR_A, NETWORKS

pytestmark = pytest.mark.django_db

MIDDLEWARE = "indblik.organisations.middleware.NetworkAllowlistMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
Events = Callable[..., list[Any]]
INSIDE_V4, OUTSIDE_V4 = "10.20.1.1", "203.0.113.9"
INSIDE_V6, OUTSIDE_V6 = "2001:db8:1::42", "2001:db8:2::42"


@pytest.fixture(autouse=True)
def wired(settings: Any) -> None:
    """Put the middleware where docs/organisations.md says, whatever settings.py holds now."""
    stack = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE]
    stack.insert(stack.index(AUTH) + 1, MIDDLEWARE)
    settings.MIDDLEWARE = stack
    settings.ROOT_URLCONF = "indblik.organisations.tests.urls"


def nurse_client(cvr: str = CVR_A) -> Client:
    """Return a client signed in as a nurse whose session is bound to the organisation."""
    user = get_user_model().objects.create_user(username=f"nurse-{cvr}")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = cvr
    session.save()
    return client


def get(client: Client, ip: str, **headers: Any) -> Any:
    return client.get("/whoami", REMOTE_ADDR=ip, **headers)


# --- network allowlist ------------------------------------------------------------------------


@pytest.mark.parametrize("ip", [INSIDE_V4, INSIDE_V6, "::ffff:10.20.7.7"])
def test_a_nurse_inside_the_organisations_networks_gets_through(
    live: Organisation, ip: str
) -> None:
    response = get(nurse_client(), ip)
    assert response.status_code == 200
    assert response.content == f"user=nurse-{CVR_A} org={CVR_A}".encode()


@pytest.mark.parametrize("ip", [OUTSIDE_V4, OUTSIDE_V6, "127.0.0.1"])
def test_a_nurse_outside_the_organisations_networks_is_refused_and_audited(
    live: Organisation, events: Events, ip: str
) -> None:
    client = nurse_client()
    response = get(client, ip)
    assert response.status_code == 403
    assert b"Access from this network is not allowed" in response.content
    assert ip.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    (event,) = events(Action.ORGANISATION_ACCESS_REFUSED)
    assert event.outcome == Outcome.REFUSED
    assert event.decision_reasons == ["network-not-allowed"]
    assert (event.organisation_cvr, event.client_ip) == (CVR_A, ip)
    assert event.actor_name == f"nurse-{CVR_A}"
    assert event.details["session_ended"] is False
    # The session stays: the same nurse back on the right network carries on.
    assert get(client, INSIDE_V4).status_code == 200


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(live: Organisation) -> None:
    client = nurse_client()
    spoofed = get(client, OUTSIDE_V4, HTTP_X_FORWARDED_FOR=INSIDE_V4)
    assert spoofed.status_code == 403
    # …both ways: an untrusted peer inside the range is judged by its own address.
    assert get(client, INSIDE_V4, HTTP_X_FORWARDED_FOR=OUTSIDE_V4).status_code == 200


@override_settings(INDBLIK_TRUSTED_PROXIES=[ip_network("192.0.2.0/24")])
def test_x_forwarded_for_from_a_trusted_proxy_is_believed(live: Organisation) -> None:
    client = nurse_client()
    assert get(client, "192.0.2.10", HTTP_X_FORWARDED_FOR=INSIDE_V4).status_code == 200
    assert get(client, "192.0.2.10", HTTP_X_FORWARDED_FOR=INSIDE_V6).status_code == 200
    assert get(client, "192.0.2.10", HTTP_X_FORWARDED_FOR=OUTSIDE_V4).status_code == 403
    # A client cannot prepend an inside address: the hop our proxy saw is the client.
    prepended = f"{INSIDE_V4}, {OUTSIDE_V4}"
    assert get(client, "192.0.2.10", HTTP_X_FORWARDED_FOR=prepended).status_code == 403


def test_a_range_added_later_lets_the_nurse_in_at_once(live: Organisation, alice: Actor) -> None:
    client = nurse_client()
    assert get(client, OUTSIDE_V4).status_code == 403
    registry.allow_network(org=live, cidrs=["203.0.113.0/24"], by=alice)
    assert get(client, OUTSIDE_V4).status_code == 200
    registry.deny_network(org=live, cidrs=["203.0.113.0/24"], by=alice)
    assert get(client, OUTSIDE_V4).status_code == 403


def test_the_organisation_and_its_networks_are_read_in_one_query(live: Organisation) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = nurse_client()
    assert get(client, INSIDE_V4).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert get(client, INSIDE_V4).status_code == 200
    organisation_queries = [
        query["sql"] for query in captured.captured_queries if "organisations_" in query["sql"]
    ]
    assert len(organisation_queries) == 1, organisation_queries


def test_an_organisation_whose_last_range_is_removed_admits_nobody(
    live: Organisation, alice: Actor, events: Events
) -> None:
    client = nurse_client()
    assert get(client, INSIDE_V4).status_code == 200
    registry.deny_network(org=live, cidrs=NETWORKS, by=alice)
    response = get(client, INSIDE_V4)
    assert response.status_code == 403
    assert b"Access from this network is not allowed" in response.content
    (event,) = events(Action.ORGANISATION_ACCESS_REFUSED)
    assert event.decision_reasons == ["network-not-allowed"]


# --- status -----------------------------------------------------------------------------------


def test_suspension_ends_the_session_of_the_organisations_users(
    live: Organisation, alice: Actor, events: Events
) -> None:
    client = nurse_client()
    assert get(client, INSIDE_V4).status_code == 200
    session_key = client.session.session_key
    assert Session.objects.filter(session_key=session_key).exists()

    registry.suspend(org=live, reason="Agreement lapsed", by=alice)
    response = get(client, INSIDE_V4)
    assert response.status_code == 403
    assert b"access is suspended" in response.content
    assert b"logged out" in response.content
    assert not Session.objects.filter(session_key=session_key).exists()
    (event,) = events(Action.ORGANISATION_ACCESS_REFUSED)
    assert event.decision_reasons == ["organisation-suspended"]
    assert event.actor_name == f"nurse-{CVR_A}"
    assert event.details["session_ended"] is True

    # The next request is anonymous: nothing of the old session is left.
    assert get(client, INSIDE_V4).content == b"user=- org=-"
    registry.resume(org=live, by=alice)
    assert get(client, INSIDE_V4).content == b"user=- org=-"


@pytest.mark.parametrize("cvr", ["29190909", "12345678", "not-a-cvr"])
def test_a_session_bound_to_an_unknown_organisation_is_ended(
    db: None, events: Events, cvr: str
) -> None:
    client = nurse_client(cvr)
    response = get(client, INSIDE_V4)
    assert response.status_code == 403
    assert b"does not have access" in response.content
    (event,) = events(Action.ORGANISATION_ACCESS_REFUSED)
    assert event.decision_reasons == ["organisation-unknown"]
    assert event.organisation_cvr == (cvr if cvr.isdigit() else "")
    assert get(client, INSIDE_V4).content == b"user=- org=-"


def test_an_organisation_still_onboarding_admits_nobody(
    ready: Organisation, events: Events
) -> None:
    response = get(nurse_client(), INSIDE_V4)
    assert response.status_code == 403
    assert events(Action.ORGANISATION_ACCESS_REFUSED)[0].decision_reasons == [
        "organisation-not-live"
    ]


def test_users_without_an_organisation_pass_from_anywhere(live: Organisation) -> None:
    staff = get_user_model().objects.create_user(username="hospital-admin", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert get(client, OUTSIDE_V4).content == b"user=hospital-admin org=-"
    assert get(Client(), OUTSIDE_V6).content == b"user=- org=-"


def test_a_refusal_stands_even_if_it_cannot_be_audited(
    live: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indblik.audit.errors import AuditWriteError

    def broken(*args: Any, **kwargs: Any) -> None:
        raise AuditWriteError("the audit event could not be written")

    monkeypatch.setattr("indblik.organisations.middleware.audit.record", broken)
    assert get(nurse_client(), OUTSIDE_V4).status_code == 403


# --- the hook ---------------------------------------------------------------------------------


class NurseWithOrganisation:
    """A user object as the identity app may provide one: with an organisation attribute."""

    is_authenticated = True

    def __init__(self, cvr: str) -> None:
        self.organisation_cvr = cvr


def test_the_users_organisation_attribute_wins_over_the_session(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.user = NurseWithOrganisation(CVR_A)  # type: ignore[assignment]
    request.session = {SESSION_KEY: "11259979"}  # type: ignore[assignment]
    assert organisation_cvr(request) == CVR_A
    request.user = NurseWithOrganisation("")  # type: ignore[assignment]
    assert organisation_cvr(request) == "11259979"


def test_the_hook_finds_no_organisation_without_attribute_or_session_key(
    rf: RequestFactory,
) -> None:
    request = rf.get("/")
    assert organisation_cvr(request) == ""
    request.session = {SESSION_KEY: 64942212}  # type: ignore[assignment]
    assert organisation_cvr(request) == ""


def test_signing_out_works_from_outside_the_allowlist(live: Organisation) -> None:
    client = nurse_client()
    assert get(client, OUTSIDE_V4).status_code == 403
    response = client.get("/saml2/logout/", REMOTE_ADDR=OUTSIDE_V4)
    assert response.status_code == 200
