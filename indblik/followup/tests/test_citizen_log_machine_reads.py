"""Min log shows another system's reads of the record through the FHIR read API.

The reads are made for real: a registered SMART client (another Indblik's live source) gets a
token and reads through ``/fhir/r4/``, so the log is tested against the audit rows the API
really writes, not against rows written to look like them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

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
FORM = "application/x-www-form-urlencoded"
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
    # In a fixed order (a batch's types come from a JSON object, whose keys PostgreSQL's
    # jsonb reorders).
    assert titles == [
        "Demographics",
        "Contacts",
        "Lab tests and measurements",
        "Diagnoses and problems",
    ]

    response = signed_in(make_citizen(cpr_of(patient))).get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert f"{SYSTEM} (FHIR API)" in text
    assert "Another system, through the FHIR interface" in text
    assert "Lab tests and measurements" in text
    assert "the employee who looked is in that system's own log" in text
    assert "patient-portal" not in text
    assert cpr_of(patient) not in text


def test_the_log_in_danish_names_the_system_and_what_it_read(
    system: Client, patient: Patient, followup_danish: None
) -> None:
    a_live_page(system, patient)
    text = signed_in(make_citizen(cpr_of(patient)), language="da").get(URL).content.decode()
    row = text[text.index("<tbody>") : text.index("</tbody>")]
    assert f"{SYSTEM} (FHIR API)" in row
    assert "Et andet system, via FHIR-snitfladen" in row
    assert "Prøvesvar og målinger" in row and "Kontakter" in row
    assert "Læst af et andet system via FHIR-snitfladen" in row


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


def batch(system: Client, *urls: str) -> Any:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": url}} for url in urls],
    }
    answered = system.post("/fhir/r4/", orjson.dumps(bundle), content_type="application/fhir+json")
    assert answered.status_code == 200
    return answered.json()


def test_a_count_beside_an_entry_that_found_nobody_is_shown(
    system: Client, patient: Patient
) -> None:
    # One entry finds nothing (a wrong id), the other counts her diagnoses: the count told
    # the system something about her record, so the read is in her log.
    answer = batch(
        system,
        f"Condition?patient={patient.fhir_id}&_count=0",
        f"Patient?identifier={fhir.CPR_SYSTEM}|{cpr_of(patient)}&_id=no-such-id",
    )
    assert answer["entry"][0]["resource"]["total"] > 0
    row = AuditEvent.objects.get(patient_cpr=cpr_of(patient), section="batch")
    assert row.details["not_found"] == {"Patient": 1} and "patient" not in row.details
    visits = citizen.citizen_log(cpr_of(patient)).visits
    assert len(visits) == 1 and visits[0].machine
    with translation.override("en"):
        # The Patient entry found nothing: only what reached her record is named.
        assert visits[0].section_titles == ["Diagnoses and problems"]


def test_reads_that_are_not_of_the_record_cannot_bury_older_lookups(
    system: Client, patient: Patient
) -> None:
    nurse = make_user(KK, name="Mette Holm", profession="Sygeplejerske")
    log(nurse, cpr_of(patient), at=timezone.now() - dt.timedelta(days=1), section="lab")
    token = auth.create_feed("patient-portal", scope=Feed.Scope.AUDIT_READ).token
    portal = Client(headers={"Authorization": f"Bearer {token}"})
    wanted = {"patient": f"{fhir.CPR_SYSTEM}|{cpr_of(patient)}"}
    # More rows than one batch of the log (400): the portal polling the log by every way
    # it can, and a system searching with an id that finds nothing.
    for _ in range(140):
        assert portal.get("/fhir/r4/AuditEvent", wanted).status_code == 200
        assert portal.get("/fhir/r4/AuditEvent", {**wanted, "_count": "0"}).status_code == 200
        by_form = portal.post("/fhir/r4/AuditEvent/_search", urlencode(wanted), content_type=FORM)
        assert by_form.status_code == 200
    for _ in range(10):
        found = system.get(
            "/fhir/r4/Patient",
            {"identifier": f"{fhir.CPR_SYSTEM}|{cpr_of(patient)}", "_id": "no-such-id"},
        )
        assert found.status_code == 200
    assert AuditEvent.objects.filter(patient_cpr=cpr_of(patient)).count() > citizen.BATCH
    page = citizen.citizen_log(cpr_of(patient))
    assert [visit.actor_name for visit in page.visits] == ["Mette Holm"]
    assert page.next_cursor is None
    text = signed_in(make_citizen(cpr_of(patient))).get(URL).content.decode()
    assert "Mette Holm" in text and "patient-portal" not in text


def test_a_batch_of_more_than_a_rows_ids_is_one_visit(system: Client, patient: Patient) -> None:
    types = ("Observation", "DocumentReference", "ServiceRequest", "Procedure", "Encounter")
    answer = batch(system, *(f"{t}?patient={patient.fhir_id}&_count=200" for t in types))
    shown = sum(len(entry["resource"].get("entry", ())) for entry in answer["entry"])
    assert 100 < shown <= 200  # two audit rows: the second continues the first
    rows = AuditEvent.objects.filter(patient_cpr=cpr_of(patient), section="batch")
    assert [row.details.get("continued", False) for row in rows.order_by("pk")] == [False, True]
    visits = citizen.citizen_log(cpr_of(patient)).visits
    assert len(visits) == 1 and visits[0].lookups == 2
    with translation.override("en"):
        assert visits[0].section_titles == [
            "Contacts",
            "Lab tests and measurements",
            "Procedures",
            "Documents and images",
            "Referrals and orders",
        ]
