"""Min log shows another system's reads of the record through the FHIR read API.

The reads are made for real: a registered SMART client (another Indblik's live source) gets a
token and reads through ``/fhir/r4/``, so the log is tested against the audit rows the API
really writes, not against rows written to look like them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from django.test import Client
from django.utils import timezone, translation

from indblik.audit.models import AuditEvent
from indblik.followup import citizen
from indblik.followup.tests.conftest import KK, log, make_citizen, make_user, signed_in
from indblik.records import auth, fhir
from indblik.records.models import Feed, Patient
from indblik.records.tests import smart_kit as kit

pytestmark = pytest.mark.django_db

URL = "/min-log/"
SYSTEM = "lyngby-taarbaek-indblik"  # a client id is the feed's name, a slug


@pytest.fixture
def patient(orgs: Any) -> Patient:
    kit.load_citizens(2)
    found = Patient.objects.order_by("pk").first()
    assert found is not None and found.cpr
    return found


def cpr_of(patient: Patient) -> str:
    assert patient.cpr
    return patient.cpr


@pytest.fixture
def system() -> Client:
    return system_client()


def system_client() -> Client:
    """Another Indblik's live source: a record-read client with a token."""
    key = kit.ec_key()
    kit.register(SYSTEM, key)
    token = kit.access_token(Client(), key, SYSTEM)
    return Client(headers={"Authorization": f"Bearer {token}"})


def a_live_page(system: Client, patient: Patient) -> None:
    """What a live snapshot sends: the patient by CPR number, then a batch of searches."""
    found = system.get(
        "/fhir/r4/Patient",
        {"identifier": f"{fhir.CPR_SYSTEM}|{patient.cpr}", "_revinclude": "Consent:patient"},
    )
    assert found.status_code == 200
    pid = patient.fhir_id
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": url}}
            for url in (
                f"Observation?patient={pid}&_count=5",
                f"Encounter?subject=Patient/{pid}&_count=3",
                f"Condition?patient={pid}&_count=0",  # a count tells something too
            )
        ],
    }
    answered = system.post("/fhir/r4/", orjson.dumps(bundle), content_type="application/fhir+json")
    assert answered.status_code == 200


def test_a_systems_reads_are_one_visit_with_what_it_read(system: Client, patient: Patient) -> None:
    a_live_page(system, patient)
    a_live_page(system, patient)
    # The hospital's patient portal reading the citizen's log is not a lookup of the record.
    portal = auth.create_feed("patient-portal", scope=Feed.Scope.AUDIT_READ).token
    read_log = Client(headers={"Authorization": f"Bearer {portal}"}).get(
        "/fhir/r4/AuditEvent", {"patient": f"{fhir.CPR_SYSTEM}|{patient.cpr}"}
    )
    assert read_log.status_code == 200
    assert AuditEvent.objects.filter(patient_cpr=patient.cpr, section="AuditEvent").exists()

    visits = citizen.citizen_log(cpr_of(patient)).visits
    assert len(visits) == 1
    visit = visits[0]
    assert visit.machine and visit.actor_name == f"{SYSTEM} (FHIR API)"
    assert visit.lookups == 4  # two patient searches, two batches
    with translation.override("en"):
        titles = visit.section_titles
    assert titles == [
        "Demographics",
        "Lab tests and measurements",
        "Contacts",
        "Diagnoses and problems",
    ]

    response = signed_in(make_citizen(cpr_of(patient))).get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert f"{SYSTEM} (FHIR API)" in text
    assert "Another system, through the FHIR interface" in text
    assert "Lab tests and measurements" in text
    assert "who looked is in that system's own log" in text
    assert "patient-portal" not in text
    assert cpr_of(patient) not in text


def test_the_log_in_danish_names_the_system_and_what_it_read(
    system: Client, patient: Patient, followup_danish: None
) -> None:
    a_live_page(system, patient)
    text = signed_in(make_citizen(cpr_of(patient)), language="da").get(URL).content.decode()
    assert "Et andet system, via FHIR-snitfladen" in text
    assert "Prøvesvar og målinger" in text
    assert "Læsninger fra andre systemer" in text


def test_a_search_that_found_no_record_is_no_lookup(system: Client, patient: Patient) -> None:
    nobody = "0101011234"  # no record in the store: the system learnt only that
    answered = system.get("/fhir/r4/Patient", {"identifier": f"{fhir.CPR_SYSTEM}|{nobody}"})
    assert answered.status_code == 200
    assert AuditEvent.objects.filter(patient_cpr=nobody).exists()  # audited as an attempt
    assert citizen.citizen_log(nobody).visits == []


def test_staff_and_system_reads_stay_separate_visits(system: Client, patient: Patient) -> None:
    nurse = make_user(KK, name="Mette Holm", profession="Sygeplejerske")
    now = timezone.now()
    log(nurse, patient.cpr, at=now - dt.timedelta(minutes=10), section="lab")
    a_live_page(system, patient)
    log(nurse, patient.cpr, at=now + dt.timedelta(minutes=1), section="notes")
    visits = citizen.citizen_log(cpr_of(patient)).visits
    assert [(visit.machine, visit.actor_name) for visit in visits] == [
        (False, "Mette Holm"),
        (True, f"{SYSTEM} (FHIR API)"),
        (False, "Mette Holm"),
    ]
    assert visits[0].profession == "Sygeplejerske"
    with translation.override("en"):
        assert visits[0].section_titles == ["Notes"]
