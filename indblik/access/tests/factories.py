"""Small FHIR records for access tests: a citizen, care events, blocks, written to the store."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from indblik.organisations.models import Organisation
from indblik.records import fhir
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient

_serial = itertools.count(1)


def cpr_for(number: int) -> str:
    """A synthetic CPR number (birth date 01.01.1950, then a serial)."""
    return f"010150{number % 10000:04d}"


def citizen(
    *,
    municipality: str = "0101",
    deceased: bool = False,
    care_event_for: list[Organisation] | None = None,
    care_event_age_days: int = 3,
    block: str = "",  # "", "all", or a CVR number
    family: str = "Testsen",
    now: dt.datetime | None = None,
) -> Patient:
    """Store a citizen with the given evidence and block; return the Patient row."""
    number = next(_serial)
    moment = now or dt.datetime.now(dt.UTC)
    pid = f"access-test-{number}"
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": fhir.CPR_SYSTEM, "value": cpr_for(number)}],
        "name": [{"family": family, "given": [f"Borger{number}"]}],
        "gender": "female",
        "birthDate": "1950-01-01",
        "address": [
            {
                "extension": [
                    {
                        "url": fhir.MUNICIPALITY_EXTENSION,
                        "valueCodeableConcept": {
                            "coding": [{"system": fhir.MUNICIPALITY_SYSTEM, "code": municipality}]
                        },
                    }
                ],
                "use": "home",
            }
        ],
    }
    if deceased:
        patient["deceasedDateTime"] = (moment - dt.timedelta(days=1)).isoformat()
    resources = [patient]
    if care_event_for:
        sent = moment - dt.timedelta(days=care_event_age_days)
        resources.append(
            {
                "resourceType": "Communication",
                "id": f"{pid}-notification",
                "status": "completed",
                "subject": {"reference": f"Patient/{pid}"},
                "sent": sent.isoformat(),
                "recipient": [
                    {
                        "type": "Organization",
                        "identifier": {"system": "urn:oid:1.2.208.176.1.1", "value": org.sor_code}
                        if org.sor_code
                        else {"system": "http://cvr.dk", "value": org.cvr},
                    }
                    for org in care_event_for
                ],
            }
        )
    if block:
        provision: dict[str, Any] = {"type": "deny"}
        if block != "all":
            provision["actor"] = [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {
                        "type": "Organization",
                        "identifier": {"system": "http://cvr.dk", "value": block},
                    },
                }
            ]
        resources.append(
            {
                "resourceType": "Consent",
                "id": f"{pid}-block",
                "status": "active",
                "scope": {"coding": [{"code": "patient-privacy"}]},
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "patient": {"reference": f"Patient/{pid}"},
                "dateTime": (moment - dt.timedelta(days=30)).isoformat(),
                "provision": provision,
            }
        )
    result = ingest_resources(resources, source="test", validate=False, parallel=False)
    assert result.ok, result.errors
    return Patient.objects.get(fhir_id=pid)
