"""Blocking from Min log: confirmed, audited, stored as FHIR Consent, effective at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from indblik.access import policy
from indblik.access.testing import grant_client
from indblik.audit import Action, AuditWriteError
from indblik.audit.models import AuditEvent
from indblik.followup import blocks
from indblik.followup.tests.conftest import (
    FRB,
    KK,
    cpr,
    make_citizen,
    make_patient,
    signed_in,
)
from indblik.records.ingest import IngestResult, ingest_resources
from indblik.records.models import Patient, Resource
from indblik.records.source import source

pytestmark = pytest.mark.django_db


@pytest.fixture
def karen(orgs: Any) -> Any:
    return make_patient(family="Sørensen", given="Karen")


@pytest.fixture
def client(karen: Any) -> Client:
    return signed_in(make_citizen(karen.cpr))


def consents(patient: Any) -> list[dict[str, Any]]:
    return [
        row.resource
        for row in Resource.objects.filter(patient=patient, resource_type="Consent", deleted=False)
    ]


def block(client: Client, target: str, *, confirm: bool = True) -> Any:
    data = {"target": target, **({"confirm": "on"} if confirm else {})}
    return client.post("/min-log/block/", data)


def test_a_block_asks_for_confirmation_first_and_stores_nothing(client: Client, karen: Any) -> None:
    response = block(client, KK, confirm=False)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Københavns Kommune" in text and 'name="confirm"' in text
    assert consents(karen) == []
    assert not AuditEvent.objects.filter(action=Action.CITIZEN_BLOCK).exists()


def test_a_confirmed_block_is_an_active_deny_consent_and_is_audited(
    client: Client, karen: Any, orgs: Any
) -> None:
    response = block(client, KK)
    assert response.status_code == 302 and response["Location"] == "/min-log/"
    [consent] = consents(karen)
    assert consent["status"] == "active" and consent["provision"]["type"] == "deny"
    assert consent["provision"]["actor"][0]["reference"]["identifier"] == {
        "system": "http://cvr.dk",
        "value": KK,
    }
    event = AuditEvent.objects.get(action=Action.CITIZEN_BLOCK)
    assert event.patient_cpr == karen.cpr and event.organisation_cvr == ""
    assert event.details["change"] == "block" and event.details["target_cvr"] == KK
    patient = source().find_patient(karen.cpr)
    assert patient is not None
    assert policy.blocks(patient, orgs[KK]) and not policy.blocks(patient, orgs[FRB])
    page = client.get("/min-log/").content.decode()
    assert "is now blocked" in page and "Lift block" in page


def test_a_nurses_next_chart_request_is_a_404_after_the_citizen_blocks(
    client: Client, karen: Any
) -> None:
    nurse = grant_client(karen)
    assert nurse.client.get(nurse.url()).status_code == 200
    block(client, KK)
    assert nurse.client.get(nurse.url()).status_code == 404
    denial = AuditEvent.objects.filter(action=Action.ACCESS_DENIED).latest("id")
    assert denial.decision_reasons == ["deny:blocked"] and denial.patient_cpr == karen.cpr
    # A nurse of another organisation is not affected.
    other = grant_client(karen, cvr=FRB)
    assert other.client.get(other.url()).status_code == 200


def test_block_all_and_lift_it_again_round_trip(client: Client, karen: Any, orgs: Any) -> None:
    block(client, blocks.ALL)
    nurse = grant_client(karen)
    assert nurse.client.get(nurse.url()).status_code == 404
    [consent] = consents(karen)
    assert "actor" not in consent["provision"]

    confirm = client.post("/min-log/unblock/", {"target": blocks.ALL})
    assert confirm.status_code == 200 and "Yes, lift the block" in confirm.content.decode()
    assert consents(karen)[0]["status"] == "active"
    done = client.post("/min-log/unblock/", {"target": blocks.ALL, "confirm": "on"})
    assert done.status_code == 302
    row = Resource.objects.get(patient=karen, resource_type="Consent")
    assert row.version == 2 and row.resource["status"] == "inactive"  # a new version
    assert blocks.current_blocks(karen) == []
    again = grant_client(karen)
    assert again.client.get(again.url()).status_code == 200
    changes = AuditEvent.objects.filter(action=Action.CITIZEN_BLOCK).order_by("id")
    assert [event.details["change"] for event in changes] == ["block", "unblock"]


def test_nothing_is_stored_when_the_audit_row_cannot_be_written(
    client: Client, karen: Any, monkeypatch: Any
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise AuditWriteError("the audit event could not be written")

    monkeypatch.setattr(blocks.audit, "record", failing)
    response = block(client, KK)
    assert response.status_code == 503
    assert consents(karen) == []


def test_nothing_is_audited_when_the_consent_cannot_be_stored(
    client: Client, karen: Any, monkeypatch: Any
) -> None:
    def refused(*args: Any, **kwargs: Any) -> IngestResult:
        result = IngestResult(source="min-log", channel="min-log", kind="resources")
        result.failed = 1
        return result

    monkeypatch.setattr(blocks, "ingest_resources", refused)
    response = block(client, KK)
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action=Action.CITIZEN_BLOCK).exists()
    assert consents(karen) == []
    assert "could not be saved" in client.get("/min-log/").content.decode()


def test_a_block_registered_by_the_hospital_cannot_be_lifted_here(
    client: Client, karen: Any
) -> None:
    from indblik.records.ingest import ingest_resources

    hospital = blocks.consent_resource(karen, "hospital-block-1", None, active=True)
    assert ingest_resources([hospital], source="hospital", validate=True, parallel=False).ok
    page = client.get("/min-log/").content.decode()
    assert "Registered by the hospital" in page
    response = client.post("/min-log/unblock/", {"target": blocks.ALL, "confirm": "on"})
    assert response.status_code == 302
    assert consents(karen)[0]["status"] == "active"
    assert not AuditEvent.objects.filter(action=Action.CITIZEN_BLOCK).exists()


def test_only_live_organisations_can_be_chosen(client: Client, karen: Any) -> None:
    assert block(client, "12345678").status_code == 302
    assert consents(karen) == []


def test_the_forms_need_post_and_csrf(karen: Any) -> None:
    person = make_citizen(karen.cpr)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(person)
    assert strict.post("/min-log/block/", {"target": KK, "confirm": "on"}).status_code == 403
    assert strict.get("/min-log/block/").status_code == 405
    assert consents(karen) == []


def test_professionals_cannot_block(karen: Any) -> None:
    from indblik.followup.tests.conftest import make_user

    nurse = signed_in(make_user(KK))
    assert nurse.post("/min-log/block/", {"target": KK, "confirm": "on"}).status_code == 403
    assert consents(karen) == []


def test_without_a_record_here_a_citizen_can_block_only_when_the_record_is_read_live(
    orgs: Any, settings: Any
) -> None:
    number = cpr(4242)
    citizen = signed_in(make_citizen(number))
    # The record is stored here, and this citizen is not in it: nothing to block.
    assert "nothing to block" in citizen.get("/min-log/").content.decode()
    block(citizen, blocks.ALL)
    assert not Patient.objects.filter(cpr=number).exists()
    # Read live, this store holds no record of anyone: the block gets a row of its own.
    settings.INDBLIK_RECORD_SOURCE = "https://hospital.example.dk/fhir/r4"
    assert block(citizen, blocks.ALL).status_code == 302
    holder = Patient.objects.get(cpr=number)
    assert holder.source == blocks.SOURCE and holder.family == ""
    [consent] = consents(holder)
    assert consent["provision"] == {"type": "deny"}
    # Should the record later be fed here, the citizen's Patient fills that row (matched by
    # CPR number), and the block stays with them.
    arrived = {
        "resourceType": "Patient",
        "id": "hospital-4242",
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": number}],
        "name": [{"family": "Holm", "given": ["Inger"]}],
    }
    assert ingest_resources([arrived], source="test", parallel=False).ok
    row = Patient.objects.get(cpr=number)
    assert (row.pk, row.family) == (holder.pk, "Holm")
    assert len(consents(row)) == 1
