"""Fixtures of the follow-up tests: demo organisations, citizens, users and their log.

Events are written through the one writer, ``audit.record``, with the clock moved by
time-machine, exactly as the chart writes them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from indblik import audit
from indblik.access.testing import professional
from indblik.audit import Action, Outcome
from indblik.audit.models import AuditEvent
from indblik.identity.audit_actor import actor_for_user
from indblik.identity.models import User, UserKind
from indblik.organisations.demo import ensure_demo_organisations
from indblik.organisations.models import Organisation
from indblik.records import fhir
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient

KK = "64942212"  # Københavns Kommune, municipality 0101
FRB = "11259979"  # Frederiksberg Kommune, municipality 0147
AMAGER = "29190909"  # Nærklinik Amager (near-clinic)
LINE_1813 = "29190925"
CPH = ZoneInfo("Europe/Copenhagen")
_serial = itertools.count(1)


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A moment in Copenhagen time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=CPH)


def cpr(number: int) -> str:
    """A synthetic CPR number (born 01.02.1960, then a serial)."""
    return f"010260{number % 10000:04d}"


def make_patient(
    *,
    number: int | None = None,
    family: str = "Andersen",
    given: str = "Birthe",
    address: str = "Testvej 1, 2200 København N",
    municipality: str = "0101",
    labels: tuple[tuple[str, str], ...] = (),
    cpr_number: str = "",
) -> Patient:
    """Store a citizen in the record store; return the Patient row."""
    number = number if number is not None else next(_serial) + 1000
    pid = f"followup-test-{number}"
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": fhir.CPR_SYSTEM, "value": cpr_number or cpr(number)}],
        "name": [{"family": family, "given": [given]}],
        "gender": "female",
        "birthDate": "1960-02-01",
        "address": [
            {
                "use": "home",
                "text": address,
                "extension": [
                    {
                        "url": fhir.MUNICIPALITY_EXTENSION,
                        "valueCodeableConcept": {
                            "coding": [{"system": fhir.MUNICIPALITY_SYSTEM, "code": municipality}]
                        },
                    }
                ],
            }
        ],
    }
    if labels:
        resource["meta"] = {"security": [{"system": s, "code": c} for s, c in labels]}
    result = ingest_resources([resource], source="test", validate=False, parallel=False)
    assert result.ok, result.errors
    return Patient.objects.get(fhir_id=pid)


def make_user(
    cvr: str = KK,
    *,
    name: str = "Mette Holm",
    cpr: str | None = "",
    reviewer: bool = False,
    profession: str = "Sygeplejerske",
) -> User:
    """A professional of the organisation ``cvr`` (with the reviewer role if asked)."""
    organisation = Organisation.objects.get(cvr=cvr)
    roles = [settings.INDBLIK_SAML_REVIEWER_ROLE] if reviewer else [organisation.role_uri]
    return professional(
        organisation,
        full_name=name,
        cpr=cpr or "",
        roles=roles,
        access_role=roles[0],
        profession=profession,
    )


def make_citizen(cpr_number: str, name: str = "Karen Sørensen") -> User:
    """A citizen signed in with NemLog-in (CPR from the identity provider)."""
    return User.objects.create(
        username=f"citizen:{uuid.uuid4().hex[:12]}",
        kind=UserKind.CITIZEN,
        persistent_id=f"https://data.gov.dk/model/core/eid/person/uuid/{uuid.uuid4()}",
        full_name=name,
        cpr=cpr_number,
        loa="Substantial",
    )


def log(
    user: User,
    patient_cpr: str | None,
    *,
    at: dt.datetime,
    action: Action = Action.PATIENT_READ,
    section: str = "snapshot",
    purpose: str = "treatment",
    reason: str = "",
    outcome: Outcome = Outcome.SUCCESS,
    decision_reasons: tuple[str, ...] = (),
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event of ``user`` at ``at`` through the audit writer."""
    with time_machine.travel(at, tick=False):
        return audit.record(
            None,
            action,
            outcome=outcome,
            actor=actor_for_user(user),
            patient_cpr=patient_cpr or "",
            section=section,
            purpose=purpose,
            reason=reason,
            decision_reasons=decision_reasons,
            details=details,
        )


def signed_in(user: User, language: str = "en") -> Client:
    """A client signed in as ``user``; English by default, so tests read the msgids."""
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.fixture
def orgs(db: Any) -> dict[str, Organisation]:
    """The demo organisations, live, reachable from loopback."""
    return {org.cvr: org for org in ensure_demo_organisations()}


@pytest.fixture
def reviewer(orgs: dict[str, Organisation]) -> User:
    return make_user(KK, name="Anne Friis", reviewer=True, profession="")


@pytest.fixture
def reviewer_client(reviewer: User) -> Client:
    return signed_in(reviewer)


# --- Danish for screenshots --------------------------------------------------------------


@pytest.fixture
def followup_danish() -> None:
    """The screenshots are in Danish: the app's texts are in the project's Danish catalogue."""
