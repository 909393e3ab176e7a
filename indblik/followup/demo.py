"""The demo's citizen: a hospital record for the demo IdP's citizen persona.

``indblik demo`` is to call :func:`ensure_demo_citizen`, so that Karen Sørensen (CPR
2108624008, signing in as the "citizen" persona) has a record: a nurse of Københavns Kommune
can then open it from the care-system simulator, and Karen sees those real lookups in Min log
and can block the municipality. No audit events are invented.
"""

from __future__ import annotations

from indblik.records import fhir
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient

CITIZEN_CPR = "2108624008"
PATIENT_ID = "demo-citizen-karen-sorensen"


def ensure_demo_citizen() -> Patient:
    """Store the persona's Patient (idempotent: an existing record is left alone)."""
    existing = Patient.objects.filter(cpr=CITIZEN_CPR).first()
    if existing is not None:
        return existing
    resource = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": fhir.CPR_SYSTEM, "value": CITIZEN_CPR}],
        "name": [{"use": "official", "family": "Sørensen", "given": ["Karen"]}],
        "gender": "female",
        "birthDate": "1962-08-21",
        "address": [
            {
                "use": "home",
                "line": ["Jagtvej 112, 2. th."],
                "postalCode": "2200",
                "city": "København N",
                "extension": [
                    {
                        "url": fhir.MUNICIPALITY_EXTENSION,
                        "valueCodeableConcept": {
                            "coding": [{"system": fhir.MUNICIPALITY_SYSTEM, "code": "0101"}]
                        },
                    }
                ],
            }
        ],
    }
    result = ingest_resources([resource], source="demo", validate=True, parallel=False)
    if not result.ok:
        raise RuntimeError(f"the demo citizen could not be stored: {result.errors[:1]}")
    return Patient.objects.get(cpr=CITIZEN_CPR)
