"""Test helpers: a signed-in professional with a grant, without going through a launch.

For tests of the chart and of grants only. The product opens grants only through the launch
(:mod:`indblik.access.launch`); nothing here is reachable over HTTP.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.test import Client
from django.utils import timezone

from indblik.access import policy
from indblik.access.models import Grant
from indblik.identity.models import User, UserKind
from indblik.organisations.demo import DEMO_ROLE, ensure_demo_organisations
from indblik.organisations.models import Organisation
from indblik.records.models import Patient

KOBENHAVN = "64942212"


@dataclass
class Granted:
    """A signed-in test client with a grant for one patient."""

    client: Client
    user: User
    organisation: Organisation
    grant: Grant

    @property
    def handle(self) -> str:
        return self.grant.handle

    def url(self, section: str = "") -> str:
        return f"/chart/{self.grant.handle}/" + (f"{section}/" if section else "")


def professional(
    organisation: Organisation, *, rules_acknowledged: bool = True, **fields: Any
) -> User:
    """Create a broker user of ``organisation`` holding its role (rules of use accepted)."""
    persistent_id = (
        f"https://data.gov.dk/model/core/eid/professional/uuid/persistent/{uuid.uuid4()}"
    )
    defaults: dict[str, Any] = {
        "username": f"professional:{uuid.uuid4().hex[:12]}",
        "kind": UserKind.PROFESSIONAL,
        "persistent_id": persistent_id,
        "full_name": "Test Sygeplejerske",
        "organisation_cvr": organisation.cvr,
        "organisation_name": organisation.name,
        "roles": [organisation.role_uri or DEMO_ROLE],
        "access_role": organisation.role_uri or DEMO_ROLE,
        "loa": "Substantial",
    }
    defaults.update(fields)
    user = User.objects.create(**defaults)
    if rules_acknowledged:
        from indblik.chart import rules

        rules.acknowledge(user)
    return user


def grant_client(
    patient: Patient,
    *,
    cvr: str = KOBENHAVN,
    client: Client | None = None,
    user: User | None = None,
    minutes: int = 60,
    purpose: str = policy.TREATMENT,
    patient_key: str | None = None,
    patient_origin: str = "",
) -> Granted:
    """Sign a professional of the demo organisation ``cvr`` in and grant them ``patient``.

    ``patient_key`` and ``patient_origin``: the record source's id of the patient and which
    source it is of, as the grant remembers them (default: the local store's; a grant opened
    on a live source has the hospital's FHIR id, e.g. ``patient.fhir_id``, and
    ``live.source.origin_of(<its base URL>)``).
    """
    ensure_demo_organisations()
    organisation = Organisation.objects.get(cvr=cvr)
    client = client or Client()
    user = user or professional(organisation)
    if client.session.get("_auth_user_id") != str(user.pk):
        client.force_login(user)  # a new session: earlier grants of this client end with it
    session_key = client.session.session_key
    assert session_key
    grant = Grant.objects.create(
        handle=secrets.token_urlsafe(24),
        user=user,
        session_key=session_key,
        organisation=organisation,
        patient_cpr=patient.cpr or "",
        patient_key=str(patient.pk) if patient_key is None else patient_key,
        patient_origin=patient_origin,
        purpose=purpose,
        decision_reasons=["contextual:test-fixture"],
        expires_at=timezone.now() + dt.timedelta(minutes=minutes),
    )
    return Granted(client, user, organisation, grant)
