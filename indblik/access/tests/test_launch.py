"""The deep link end to end: token → /launch → sign-in → bind → decision → grant → chart."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from joserfc.jwk import ECKey

from indblik import audit
from indblik.access import tokens
from indblik.access.launch_keys import public_jwks
from indblik.access.models import Grant
from indblik.access.tests.conftest import Broker, Person
from indblik.access.tests.factories import citizen
from indblik.audit.models import AuditEvent
from indblik.organisations.models import NetworkRange, Organisation

pytestmark = pytest.mark.django_db

NURSE = Person()


def make_token(
    key: ECKey,
    *,
    org: str = "64942212",
    sub: str = NURSE.persistent_id,
    patient: str | None,
    settings: Any,
    **claims: Any,
) -> str:
    return tokens.build_token(
        signing_key=key,
        encryption_key=public_jwks()["keys"][0],
        iss="https://eoj.kk.example.dk",
        aud=settings.INDBLIK_BASE_URL,
        org=org,
        sub=sub,
        patient=patient or "",
        **claims,
    )


def launch(client: Client, token: str, method: str = "post") -> Any:
    if method == "get":
        return client.get("/launch", {"launch_token": token})
    return client.post("/launch", {"launch_token": token})


def follow_sign_in(broker: Broker, client: Client, response: Any, person: Person = NURSE) -> Any:
    """From /launch's redirect through the broker back to /launch/resume; return resume's answer."""
    assert response.status_code == 302, response.content[:300]
    assert response["Location"].startswith("/saml2/login/")
    request = broker.start(client, next_url="/launch/resume")
    acs = broker.post(broker.respond(request, person), client)
    assert acs.status_code == 302 and acs["Location"] == "/launch/resume", acs.content[:300]
    return client.get("/launch/resume")


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


def test_a_nurse_opens_a_citizen_from_the_care_system(
    broker: Broker, client: Client, care_system_keys: dict[str, ECKey], settings: Any
) -> None:
    patient = citizen(municipality="0101")
    token = make_token(care_system_keys["kk"], patient=patient.cpr, settings=settings)
    response = follow_sign_in(broker, client, launch(client, token))
    assert response.status_code == 302
    handle = response["Location"].split("/")[2]
    assert response["Location"] == f"/chart/{handle}/"
    assert patient.cpr not in response["Location"]
    grant = Grant.objects.get(handle=handle)
    assert grant.patient_cpr == patient.cpr
    assert grant.user.persistent_id == NURSE.persistent_id
    assert grant.session_key == client.session.session_key
    assert grant.expires_at > timezone.now()
    sequence = [
        action
        for action in actions()
        if action in (audit.Action.LAUNCH_ACCEPTED, audit.Action.LOGIN, audit.Action.ACCESS_ALLOWED)
    ]
    assert sequence == [
        audit.Action.LAUNCH_ACCEPTED,
        audit.Action.LOGIN,
        audit.Action.ACCESS_ALLOWED,
    ]
    allowed = AuditEvent.objects.get(action=audit.Action.ACCESS_ALLOWED)
    assert "residence:0101" in allowed.decision_reasons


def test_a_signed_in_nurse_goes_straight_through(
    broker: Broker, client: Client, care_system_keys: dict[str, ECKey], settings: Any
) -> None:
    first, second = citizen(municipality="0101"), citizen(municipality="0101")
    follow_sign_in(
        broker,
        client,
        launch(client, make_token(care_system_keys["kk"], patient=first.cpr, settings=settings)),
    )
    response = launch(
        client, make_token(care_system_keys["kk"], patient=second.cpr, settings=settings)
    )
    assert response.status_code == 302
    resumed = client.get(response["Location"], follow=False)  # the login view sends it on
    assert resumed["Location"] == "/launch/resume"
    opened = client.get("/launch/resume")
    assert opened.status_code == 302 and opened["Location"].startswith("/chart/")
    assert Grant.objects.count() == 2  # a second citizen needs a second launch


def test_get_launch_works_and_the_token_is_never_echoed(
    broker: Broker, client: Client, care_system_keys: dict[str, ECKey], settings: Any
) -> None:
    patient = citizen(municipality="0101")
    token = make_token(care_system_keys["kk"], patient=patient.cpr, settings=settings)
    response = launch(client, token, method="get")
    assert response["Referrer-Policy"] == "no-referrer"
    assert token not in response["Location"]
    assert follow_sign_in(broker, client, response).status_code == 302


@pytest.mark.parametrize(
    "case, status, reason",
    [
        ("no-token", 400, "missing-token"),
        ("garbage", 400, None),
        ("replay", 400, "replayed"),
        ("suspended", 403, "organisation-not-live"),
        ("network", 403, "network"),
    ],
)
def test_launch_refusals_are_audited_pages(
    client: Client,
    care_system_keys: dict[str, ECKey],
    organisations: dict[str, Organisation],
    settings: Any,
    case: str,
    status: int,
    reason: str | None,
) -> None:
    patient = citizen(municipality="0101")
    token = make_token(care_system_keys["kk"], patient=patient.cpr, settings=settings)
    if case == "no-token":
        token = ""
    elif case == "garbage":
        token = "a.b.c.d.e"
    elif case == "replay":
        launch(Client(), token)
    elif case == "suspended":
        Organisation.objects.filter(pk=organisations["kk"].pk).update(status="suspended")
    elif case == "network":
        NetworkRange.objects.filter(organisation=organisations["kk"]).delete()
    response = launch(client, token)
    assert response.status_code == status
    assert "Location" not in response
    assert patient.cpr not in response.content.decode()
    refused = AuditEvent.objects.filter(action=audit.Action.LAUNCH_REFUSED).last()
    assert refused is not None
    if reason:
        assert refused.details["reason"] == reason
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "case, reason",
    [
        ("wrong-user", "wrong-user"),
        ("other-organisation", "organisation-mismatch"),
    ],
)
def test_binding_refuses_a_token_for_someone_else(
    broker: Broker,
    client: Client,
    care_system_keys: dict[str, ECKey],
    settings: Any,
    case: str,
    reason: str,
) -> None:
    patient = citizen(municipality="0101")
    if case == "wrong-user":
        token = make_token(
            care_system_keys["kk"],
            patient=patient.cpr,
            sub="urn:uuid:someone-else",
            settings=settings,
        )
        person = NURSE
    else:
        # Signed by Frederiksberg's care system for a Frederiksberg user; a KK user signs in.
        token = make_token(
            care_system_keys["frb"], org="11259979", patient=patient.cpr, settings=settings
        )
        person = NURSE
    response = follow_sign_in(broker, client, launch(client, token), person)
    assert response.status_code == 403
    assert not Grant.objects.exists()
    refused = AuditEvent.objects.filter(action=audit.Action.LAUNCH_REFUSED).last()
    assert refused is not None and refused.details["reason"] == reason


@pytest.mark.parametrize("case", ["unknown", "deceased", "blocked", "no-relationship"])
def test_every_refusal_about_the_citizen_is_the_same_404(
    broker: Broker, client: Client, care_system_keys: dict[str, ECKey], settings: Any, case: str
) -> None:
    if case == "unknown":
        cpr = "0101509999"
    else:
        patient = citizen(
            municipality="0860" if case == "no-relationship" else "0101",
            deceased=case == "deceased",
            block="all" if case == "blocked" else "",
        )
        cpr = patient.cpr or ""
    token = make_token(care_system_keys["kk"], patient=cpr, settings=settings)
    response = follow_sign_in(broker, client, launch(client, token))
    assert response.status_code == 404
    assert not Grant.objects.exists()
    denied = AuditEvent.objects.get(action=audit.Action.ACCESS_DENIED)
    assert denied.patient_cpr == cpr
    body = response.content.decode()
    assert cpr not in body
    # The same page, whatever the reason.
    assert "ikke tilgængelig" in body or "not available" in body.lower()


def test_a_launch_waits_only_so_long_for_the_sign_in(
    broker: Broker, client: Client, care_system_keys: dict[str, ECKey], settings: Any
) -> None:
    patient = citizen(municipality="0101")
    token = make_token(care_system_keys["kk"], patient=patient.cpr, settings=settings)
    response = launch(client, token)
    saml_session = client.cookies.get(settings.SAML_SESSION_COOKIE_NAME)
    assert saml_session is not None
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore(saml_session.value)
    pending = store["indblik_pending_launch"]
    pending["deadline"] = timezone.now().timestamp() - 1
    store["indblik_pending_launch"] = pending
    store.save()
    resumed = follow_sign_in(broker, client, response)
    assert resumed.status_code == 400
    assert not Grant.objects.exists()
