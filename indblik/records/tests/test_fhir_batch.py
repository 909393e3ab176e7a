"""``POST /fhir/r4/`` with a batch Bundle of GETs: a record-read client's page in one request."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client

from indblik.audit.tests.test_fail_closed import refuse_audit_inserts
from indblik.records.models import Patient
from indblik.records.tests import smart_kit as kit
from indblik.records.tests.test_fhir_read_api import CLIENT, ids, ok, problem, reads

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich() -> Patient:
    kit.load_citizens(2)
    patient = Patient.objects.order_by("pk").first()
    assert patient is not None
    return patient


@pytest.fixture
def reader() -> Client:
    key = kit.ec_key()
    kit.register(CLIENT, key)
    token = kit.access_token(Client(), key, CLIENT)
    return Client(headers={"Authorization": f"Bearer {token}"})


def batch(client: Client, *urls: str, method: str = "GET") -> Any:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": method, "url": url}} for url in urls],
    }
    return client.post("/fhir/r4/", orjson.dumps(bundle), content_type="application/fhir+json")


def test_each_entry_is_answered_as_the_same_get_in_order(reader: Client, rich: Patient) -> None:
    urls = [
        f"Observation?patient={rich.fhir_id}&_count=5",
        f"Encounter?patient=Patient/{rich.fhir_id}&_sort=-date",
        f"Patient/{rich.fhir_id}",
        "Observation?patient=nobody-here",
        "Observation?patient=x&bogus=1",
    ]
    before = len(reads())
    answer = ok(batch(reader, *urls))
    assert answer["type"] == "batch-response"
    entries = answer["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["200", "200", "200", "200", "400"]
    # One audit row per citizen read, naming every entry's reads (the refused one read
    # nothing): the citizen's three, and the search for a patient who is not there.
    rows = reads()[before:]
    assert len(rows) == 2
    mine = next(row for row in rows if row.patient_cpr == rich.cpr)
    assert mine.details == {
        "interaction": "batch",
        "entries": 3,
        "search": 2,
        "read": 1,
        "types": {"Observation": 1, "Encounter": 1, "Patient": 1},
    }
    assert f"Patient/{rich.fhir_id}" in orjson.loads(mine.resource_ids)
    nobody = next(row for row in rows if row.patient_cpr == "")
    assert nobody.details["patient"] == "not found"
    for url, entry in zip(urls[:2], entries, strict=False):
        alone = ok(reader.get("/fhir/r4/" + url.split("?")[0], dict(_pairs(url))))
        assert ids(entry["resource"]) == ids(alone)
    assert entries[2]["resource"]["id"] == rich.fhir_id
    assert entries[4]["resource"]["resourceType"] == "OperationOutcome"


def _pairs(url: str) -> list[tuple[str, str]]:
    query = url.split("?", 1)[1] if "?" in url else ""
    return [tuple(part.split("=", 1)) for part in query.split("&") if part]  # type: ignore[misc]


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.example/fhir/r4/Observation?patient=x",
        "//elsewhere.example/Observation",
        "Observation/_search",
        "Observation/a/b",
        "",
    ],
)
def test_anything_but_a_get_of_this_api_refuses_the_whole_batch(
    reader: Client, rich: Patient, url: str
) -> None:
    before = len(reads())
    assert "only GET" in problem(batch(reader, f"Encounter?patient={rich.fhir_id}", url))
    assert len(reads()) == before


def test_a_write_inside_a_read_batch_is_refused(reader: Client, rich: Patient) -> None:
    assert "only GET" in problem(batch(reader, f"Encounter?patient={rich.fhir_id}", method="PUT"))


def test_a_batch_whose_audit_cannot_be_written_returns_nothing(
    reader: Client, rich: Patient
) -> None:
    with connection.execute_wrapper(refuse_audit_inserts):
        response = batch(reader, f"Encounter?patient={rich.fhir_id}", f"Patient/{rich.fhir_id}")
    assert "logged" in problem(response, 503)
    assert rich.fhir_id not in response.content.decode()
    assert reads() == []


def test_too_many_entries_and_bad_bundles_are_refused(reader: Client, rich: Patient) -> None:
    assert "1 to 50" in problem(batch(reader, *[f"Patient/{rich.fhir_id}"] * 51))
    for body in (b"not json", b'{"resourceType": "Bundle", "type": "transaction", "entry": []}'):
        response = reader.post("/fhir/r4/", body, content_type="application/fhir+json")
        assert response.status_code == 400


def test_without_a_reader_token_the_base_url_is_ingestion(rich: Patient) -> None:
    response = batch(Client(), f"Patient/{rich.fhir_id}")
    assert response.status_code == 401


def test_a_patient_search_can_bring_the_patients_consents(reader: Client, rich: Patient) -> None:
    from indblik.records import fhir
    from indblik.records.ingest import ingest_resources
    from indblik.records.tests.test_live_source import consent_of

    assert ingest_resources([consent_of(rich.fhir_id)], source="test", validate=True).ok
    other = Patient.objects.exclude(pk=rich.pk).first()
    assert other is not None
    assert ingest_resources([consent_of(other.fhir_id, "theirs")], source="test").ok
    found = ok(
        reader.get(
            "/fhir/r4/Patient",
            {"identifier": f"{fhir.CPR_SYSTEM}|{rich.cpr}", "_revinclude": "Consent:patient"},
        )
    )
    assert ids(found) == [rich.fhir_id]
    assert ids(found, "include") == ["block-1"]
    event = reads()[-1]
    assert "Consent/block-1" in orjson.loads(event.resource_ids)
    refused = reader.get("/fhir/r4/Patient", {"_id": rich.fhir_id, "_revinclude": "Flag:patient"})
    assert "_revinclude" in problem(refused)
    statement = orjson.loads(reader.get("/fhir/r4/metadata").content)
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert patient["searchRevInclude"] == ["Consent:patient"]


def test_a_reader_has_no_long_lived_token(rich: Patient) -> None:
    import io

    from django.core.management import CommandError, call_command

    from indblik.records import auth
    from indblik.records.models import Feed

    kit.register("hospital-reader", kit.ec_key())
    with pytest.raises(CommandError, match="no long-lived token"):
        call_command("feed", "rotate", "hospital-reader", stdout=io.StringIO())
    # One issued anyway (an old version, the admin, a scope changed later) does not read.
    feed = Feed.objects.get(name="hospital-reader")
    static = auth.issue_credential(feed).token
    response = Client(headers={"Authorization": f"Bearer {static}"}).get(
        "/fhir/r4/Observation", {"patient": rich.fhir_id}
    )
    assert response.status_code == 401


def test_an_include_the_token_may_not_read_is_refused_not_left_out(rich: Patient) -> None:
    from indblik.records import fhir

    key = kit.ec_key()
    kit.register("narrow", key)
    token = kit.access_token(Client(), key, "narrow", scope="system/Patient.read")
    narrow = Client(headers={"Authorization": f"Bearer {token}"})
    response = narrow.get(
        "/fhir/r4/Patient",
        {"identifier": f"{fhir.CPR_SYSTEM}|{rich.cpr}", "_revinclude": "Consent:patient"},
    )
    assert "does not cover Consent" in problem(response, 403)
