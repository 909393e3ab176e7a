"""SCIM 2.0 deprovisioning: each organisation reaches its own users, and only those."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from indblik import audit
from indblik.identity import scim
from indblik.identity.models import ScimCredential, User
from indblik.identity.tests.conftest import FRB, KK, NURSE, Broker, assert_refused

pytestmark = pytest.mark.django_db

OTHER = NURSE.but(
    persistent_id="urn:uuid:9f0e8d7c-0000-4000-8000-000000000002",
    full_name="Sara Lund",
    cvr=FRB[0],
    organisation_name=FRB[1],
)
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def signed_in(broker: Broker) -> dict[str, Client]:
    """The KK nurse and a Frederiksberg therapist, each signed in in a browser of their own."""
    nurse, therapist = Client(), Client()
    assert broker.login(client=nurse).status_code == 302
    assert broker.login(OTHER, client=therapist).status_code == 302
    return {"nurse": nurse, "therapist": therapist}


@pytest.fixture
def kk_token(organisations: Any) -> str:
    return scim.issue_credential(KK[0], "kk-idm")


def kk_user() -> User:
    return User.objects.get(persistent_id=NURSE.persistent_id)


def frb_user() -> User:
    return User.objects.get(persistent_id=OTHER.persistent_id)


def patch(client: Client, user: User, token: str, body: dict[str, Any]) -> Any:
    return client.patch(
        f"/scim/v2/Users/{user.pk}",
        json.dumps(body),
        content_type="application/scim+json",
        headers=bearer(token),
    )


def test_a_request_without_a_valid_credential_is_refused(client: Client, kk_token: str) -> None:
    for headers in ({}, bearer("wrong"), {"Authorization": f"Basic {kk_token}"}):
        response = client.get("/scim/v2/Users", headers=headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert json.loads(response.content)["schemas"] == [
            "urn:ietf:params:scim:api:messages:2.0:Error"
        ]


def test_the_credential_is_stored_hashed_and_can_be_revoked(client: Client, kk_token: str) -> None:
    stored = ScimCredential.objects.get()
    assert kk_token not in stored.token_hash and len(stored.token_hash) == 64
    assert client.get("/scim/v2/Users", headers=bearer(kk_token)).status_code == 200
    assert scim.revoke_credential(KK[0], "kk-idm")
    assert client.get("/scim/v2/Users", headers=bearer(kk_token)).status_code == 401


def test_an_organisation_lists_only_its_own_users(
    client: Client, signed_in: dict[str, Client], kk_token: str
) -> None:
    response = client.get("/scim/v2/Users", headers=bearer(kk_token))
    assert response.status_code == 200 and response["Content-Type"] == "application/scim+json"
    listing = json.loads(response.content)
    assert listing["totalResults"] == 1
    (resource,) = listing["Resources"]
    assert resource["externalId"] == NURSE.persistent_id
    assert resource["userName"] == NURSE.persistent_id
    assert resource["active"] is True and resource["displayName"] == "Mette Holm"


def test_a_filter_finds_a_user_by_external_id(
    client: Client, signed_in: dict[str, Client], kk_token: str
) -> None:
    found = client.get(
        "/scim/v2/Users",
        {"filter": f'externalId eq "{NURSE.persistent_id}"'},
        headers=bearer(kk_token),
    )
    assert json.loads(found.content)["totalResults"] == 1
    other = client.get(
        "/scim/v2/Users",
        {"filter": f'externalId eq "{OTHER.persistent_id}"'},
        headers=bearer(kk_token),
    )
    assert json.loads(other.content)["totalResults"] == 0
    bad = client.get("/scim/v2/Users", {"filter": 'name co "x"'}, headers=bearer(kk_token))
    assert bad.status_code == 400 and json.loads(bad.content)["scimType"] == "invalidFilter"


def test_another_organisations_user_is_not_found(
    client: Client, signed_in: dict[str, Client], kk_token: str
) -> None:
    user = frb_user()
    assert client.get(f"/scim/v2/Users/{user.pk}", headers=bearer(kk_token)).status_code == 404
    deactivate = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert patch(client, user, kk_token, deactivate).status_code == 404
    assert client.delete(f"/scim/v2/Users/{user.pk}", headers=bearer(kk_token)).status_code == 404
    user.refresh_from_db()
    assert user.is_active
    assert signed_in["therapist"].get("/saml2/session/").status_code == 200


def test_patch_active_false_deactivates_and_ends_the_sessions(
    client: Client, signed_in: dict[str, Client], kk_token: str
) -> None:
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    response = patch(client, kk_user(), kk_token, body)
    assert response.status_code == 200 and json.loads(response.content)["active"] is False
    user = kk_user()
    assert not user.is_active and user.deactivation_reason == "scim"
    assert signed_in["nurse"].get("/saml2/session/").status_code == 302
    event = audit.AuditEvent.objects.get(action=audit.Action.USER_DEACTIVATED)
    assert event.actor_name == "SCIM kk-idm" and event.organisation_cvr == KK[0]


def test_a_user_deactivated_by_scim_cannot_sign_in_until_reactivated(
    client: Client, broker: Broker, signed_in: dict[str, Client], kk_token: str
) -> None:
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert patch(client, kk_user(), kk_token, off).status_code == 200
    assert_refused(broker.login(client=Client()), "user-deactivated")
    on = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}]}
    assert json.loads(patch(client, kk_user(), kk_token, on).content)["active"] is True
    assert broker.login(client=Client()).status_code == 302


def test_only_active_can_be_changed(
    client: Client, signed_in: dict[str, Client], kk_token: str
) -> None:
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "displayName", "value": "X"}],
    }
    response = patch(client, kk_user(), kk_token, body)
    assert response.status_code == 400 and json.loads(response.content)["scimType"] == "mutability"
    # Not even behind an operation on active: nothing of the request is applied.
    both = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "replace", "path": "active", "value": False},
            {"op": "replace", "path": "displayName", "value": "X"},
        ],
    }
    refused = patch(client, kk_user(), kk_token, both)
    assert refused.status_code == 400 and json.loads(refused.content)["scimType"] == "mutability"
    garbage = client.patch(
        f"/scim/v2/Users/{kk_user().pk}",
        "{not json",
        content_type="application/scim+json",
        headers=bearer(kk_token),
    )
    assert garbage.status_code == 400
    assert kk_user().is_active


def test_delete_removes_the_user_and_ends_the_sessions(
    client: Client, signed_in: dict[str, Client], kk_token: str
) -> None:
    user = kk_user()
    assert client.delete(f"/scim/v2/Users/{user.pk}", headers=bearer(kk_token)).status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert signed_in["nurse"].get("/saml2/session/").status_code == 302
    event = audit.AuditEvent.objects.get(action=audit.Action.USER_DELETED)
    assert event.details["user_id"] == user.pk and event.details["sessions_ended"] == 1


@pytest.mark.parametrize("user_id", ["abc", "99999999999999999999999", "١٢"])
def test_odd_ids_are_simply_not_found(client: Client, kk_token: str, user_id: str) -> None:
    assert client.get(f"/scim/v2/Users/{user_id}", headers=bearer(kk_token)).status_code == 404


def test_users_are_never_created_through_scim(client: Client, kk_token: str) -> None:
    response = client.post(
        "/scim/v2/Users",
        json.dumps({"userName": "x"}),
        content_type="application/scim+json",
        headers=bearer(kk_token),
    )
    assert response.status_code == 501
    assert not User.objects.exists()


def test_the_command_issues_a_working_credential_once(client: Client, organisations: Any) -> None:
    out = StringIO()
    call_command("scim", "issue", KK[0], "--name", "entra", stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    assert client.get("/scim/v2/Users", headers=bearer(token)).status_code == 200
    with pytest.raises(CommandError, match="already has a credential"):
        call_command("scim", "issue", KK[0], "--name", "entra", stdout=StringIO())
    with pytest.raises(CommandError, match="no organisation"):
        call_command("scim", "issue", "12345678", stdout=StringIO())
    call_command("scim", "revoke", KK[0], "entra", stdout=StringIO())
    assert client.get("/scim/v2/Users", headers=bearer(token)).status_code == 401
