"""A grant is re-checked on every request: permission changes take effect at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from indblik import audit
from indblik.access.models import Grant
from indblik.access.testing import grant_client
from indblik.access.tests.factories import citizen
from indblik.audit.models import AuditEvent
from indblik.identity.models import User
from indblik.organisations.models import Organisation, Status
from indblik.records.ingest import ingest_resources

pytestmark = pytest.mark.django_db


def last_denial() -> AuditEvent:
    event = AuditEvent.objects.filter(action=audit.Action.ACCESS_DENIED).last()
    assert event is not None
    return event


def test_a_granted_page_is_shown_and_audited_once() -> None:
    granted = grant_client(citizen(municipality="0101", family="Grantsen"))
    before = AuditEvent.objects.count()
    response = granted.client.get(granted.url())
    assert response.status_code == 200
    assert "Grantsen" in response.content.decode()
    reads = AuditEvent.objects.filter(pk__gt=0).order_by("pk")[before:]
    assert [event.action for event in reads] == [audit.Action.PATIENT_READ]


def block(patient: Any, suffix: str = "new-block") -> None:
    """Ingest the citizen's block of every external organisation."""
    ingest_resources(
        [
            {
                "resourceType": "Consent",
                "id": f"{patient.fhir_id}-{suffix}",
                "status": "active",
                "scope": {"coding": [{"code": "patient-privacy"}]},
                "category": [{"coding": [{"code": "59284-0"}]}],
                "patient": {"reference": f"Patient/{patient.fhir_id}"},
                "provision": {"type": "deny"},
            }
        ],
        source="test",
        validate=False,
        parallel=False,
    )


# The snapshot reads eight sections in the statement that reads the blocks; notes one.
@pytest.mark.parametrize("page", ["notes", ""])
@pytest.mark.parametrize(
    "change, reason",
    [
        ("expired", "grant-expired"),
        ("role-removed", "role-missing"),
        ("block-added", "blocked"),
        ("deceased", "patient-deceased"),
    ],
)
def test_a_change_ends_the_grant_at_the_next_request(change: str, reason: str, page: str) -> None:
    patient = citizen(municipality="0101", family="Endsen")
    granted = grant_client(patient)
    assert granted.client.get(granted.url()).status_code == 200
    if change == "expired":
        Grant.objects.filter(pk=granted.grant.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    elif change == "role-removed":
        User.objects.filter(pk=granted.user.pk).update(roles=[])
    elif change == "block-added":
        block(patient)
    elif change == "deceased":
        resource = patient.resource
        resource["deceasedDateTime"] = timezone.now().isoformat()
        ingest_resources([resource], source="test", validate=False, parallel=False)
    response = granted.client.get(granted.url(page))
    assert response.status_code == 404
    assert "Endsen" not in response.content.decode()
    assert last_denial().decision_reasons == [f"deny:{reason}"]
    grant = Grant.objects.get(pk=granted.grant.pk)
    assert grant.revoked_at is not None and grant.revoked_reason == reason
    # Revoked for good: undoing the change does not bring the grant back.
    User.objects.filter(pk=granted.user.pk).update(roles=[granted.organisation.role_uri])
    assert granted.client.get(granted.url()).status_code == 404


def test_an_emergency_override_still_shows_a_blocked_citizen() -> None:
    patient = citizen(municipality="0101", family="Overridesen")
    granted = grant_client(patient)
    Grant.objects.filter(pk=granted.grant.pk).update(emergency_override=True)
    block(patient)
    for page in ("", "notes"):
        response = granted.client.get(granted.url(page))
        assert response.status_code == 200
        assert "Overridesen" in response.content.decode()


def test_a_deactivated_user_is_signed_out() -> None:
    granted = grant_client(citizen(municipality="0101"))
    User.objects.filter(pk=granted.user.pk).update(is_active=False)
    response = granted.client.get(granted.url())
    assert response.status_code in (302, 404)
    assert response.status_code == 404 or "/chart/" not in response["Location"]


def test_a_suspended_organisation_ends_the_session() -> None:
    granted = grant_client(citizen(municipality="0101", family="Suspendsen"))
    Organisation.objects.filter(pk=granted.organisation.pk).update(status=Status.SUSPENDED)
    response = granted.client.get(granted.url())
    assert response.status_code == 403
    assert "Suspendsen" not in response.content.decode()
    Organisation.objects.filter(pk=granted.organisation.pk).update(status=Status.LIVE)
    # The session ended: the grant is bound to it, so it is gone too.
    assert granted.client.get(granted.url()).status_code in (302, 404)


def test_a_grant_is_bound_to_its_session() -> None:
    granted = grant_client(citizen(municipality="0101", family="Sessionsen"))
    granted.client.logout()
    granted.client.force_login(granted.user)
    response = granted.client.get(granted.url())
    assert response.status_code == 404
    assert last_denial().decision_reasons == ["deny:grant-unknown"]


def test_another_users_handle_is_a_plain_404() -> None:
    mine = grant_client(citizen(municipality="0101", family="Minesen"))
    theirs = grant_client(citizen(municipality="0101", family="Theirsen"))
    response = mine.client.get(theirs.url())
    assert response.status_code == 404
    assert "Theirsen" not in response.content.decode()
    # Not revoked: it is still the other nurse's grant.
    assert theirs.client.get(theirs.url()).status_code == 200


def test_the_admin_shows_grants_read_only_without_the_cpr_number() -> None:
    from django.test import Client

    patient = citizen(municipality="0101", family="Adminsen")
    granted = grant_client(patient)
    admin = User.objects.create_superuser("hospital-admin", password="not-used-here")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/access/grant/")
    detail = client.get(f"/admin/access/grant/{granted.grant.pk}/change/")
    assert listing.status_code == 200 and detail.status_code == 200
    for page in (listing, detail):
        body = page.content.decode()
        assert (patient.cpr or "?") not in body
        assert granted.handle not in body
    assert client.post(f"/admin/access/grant/{granted.grant.pk}/delete/").status_code == 403
    assert Grant.objects.filter(pk=granted.grant.pk).exists()
