"""``POST /fhir/r4/`` with a batch Bundle of GETs: a record-read client's page in one request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext

from indblik.audit.tests.test_fail_closed import refuse_audit_inserts
from indblik.records.models import Patient, Resource
from indblik.records.tests import smart_kit as kit
from indblik.records.tests.test_fhir_read_api import (
    CLIENT,
    ids,
    link,
    local,
    ok,
    problem,
    reads,
    resource_ids,
)

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


def _varied_searches(patient: Patient) -> list[str]:
    """Searches of every shape the one-statement read must answer as a GET does."""
    pid = patient.fhir_id
    observation = Resource.objects.filter(patient=patient, resource_type="Observation")
    category = observation.exclude(category="").values_list("category", flat=True).first()
    code = observation.exclude(code="").values_list("code", flat=True).first()
    dated = observation.exclude(date=None).order_by("date").values_list("date", flat=True)
    assert category and code and dated
    system, _bar, value = category.partition("|")
    moment = dated[len(dated) // 2]
    assert moment is not None
    middle = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        f"Observation?patient={pid}&category={category}",  # exact
        f"Observation?patient={pid}&category={value}",  # any system (the end of the column)
        f"Observation?patient={pid}&category={system}|",  # any code of a system (the start)
        f"Observation?patient={pid}&code={code},nothing|here&_count=3",  # ORed, paged
        f"Observation?patient={pid}&date=ge{middle}&_sort=date",  # oldest first from a date
        f"Observation?patient={pid}&date=lt{middle}&_count=2",
        f"Encounter?subject=Patient/{pid}&_sort=-date&_count=4",
        f"Condition?patient={pid}&_count=100",
        f"DeviceUseStatement?patient={pid}&_include=DeviceUseStatement:device",
        f"Goal?patient={pid}",  # no date: storage order
        f"Observation?patient={pid}&category=no-such-category",  # nothing
    ]


def test_a_batchs_searches_are_read_in_one_statement_and_answered_as_gets(
    reader: Client, rich: Patient
) -> None:
    urls = _varied_searches(rich)
    with CaptureQueriesContext(connection) as queries:
        answer = ok(batch(reader, *urls))
    resource_reads = [
        query["sql"]
        for query in queries.captured_queries
        if "records_resource" in query["sql"] and "INSERT" not in query["sql"]
    ]
    # The eleven searches' pages in one UNION ALL; the include's targets in one more.
    assert len(resource_reads) == 2, resource_reads
    assert resource_reads[0].count("UNION ALL") == len(urls) - 1
    for url, entry in zip(urls, answer["entry"], strict=True):
        assert entry["response"]["status"] == "200 OK", url
        alone = ok(reader.get("/fhir/r4/" + url.split("?")[0], dict(_pairs(url))))
        assert ids(entry["resource"]) == ids(alone), url
        assert ids(entry["resource"], "include") == ids(alone, "include"), url
        # The next page of the batch's answer continues exactly where the GET's does.
        following, alone_following = link(entry["resource"], "next"), link(alone, "next")
        assert (following is None) == (alone_following is None), url
        if following is not None and alone_following is not None:
            assert ids(ok(reader.get(local(following)))) == ids(
                ok(reader.get(local(alone_following)))
            ), url
    assert any(ids(entry["resource"]) for entry in answer["entry"])
    assert ids(answer["entry"][-1]["resource"]) == []


def test_the_page_order_is_the_searchs_own_undated_last(reader: Client, rich: Patient) -> None:
    """Rows without a date come after the dated ones, newest first or oldest first."""
    Resource.objects.filter(
        pk__in=Resource.objects.filter(patient=rich, resource_type="Observation").values("pk")[:2]
    ).update(date=None)
    for sort in ("-date", "date"):
        url = f"Observation?patient={rich.fhir_id}&_sort={sort}&_count=5"
        answer = ok(batch(reader, url, f"Condition?patient={rich.fhir_id}"))["entry"][0]["resource"]
        found = ids(answer)
        following = link(answer, "next")
        while following is not None:  # the later pages continue in the same order
            answer = ok(reader.get(local(following)))
            found += ids(answer)
            following = link(answer, "next")
        expected = list(
            Resource.objects.filter(patient=rich, resource_type="Observation", deleted=False)
            .order_by(
                F("date").desc(nulls_last=True)
                if sort == "-date"
                else F("date").asc(nulls_last=True),
                "-pk" if sort == "-date" else "pk",
            )
            .values_list("fhir_id", flat=True)
        )
        assert found == expected
        assert len(found) > 10  # several pages, the undated rows on the last


def test_counts_in_a_batch_are_answered_and_audited_with_their_numbers(
    reader: Client, rich: Patient
) -> None:
    pid = rich.fhir_id
    observations = Resource.objects.filter(patient=rich, resource_type="Observation").count()
    encounters = Resource.objects.filter(patient=rich, resource_type="Encounter").count()
    answer = ok(
        batch(
            reader,
            f"Observation?patient={pid}&_count=0",
            f"Encounter?patient={pid}&_count=0",
            f"Condition?patient={pid}&_count=2",
        )
    )
    counted, encountered, page = (entry["resource"] for entry in answer["entry"])
    assert counted["total"] == observations and "entry" not in counted
    assert encountered["total"] == encounters and "entry" not in encountered
    assert "total" not in page and len(page["entry"]) == 2
    event = reads()[-1]
    assert event.details["counted"] == {"Observation": observations, "Encounter": encounters}
    assert len(resource_ids(event)) == 2  # only the page's two conditions were disclosed


def test_a_count_needs_the_same_scopes_as_a_page(rich: Patient) -> None:
    key = kit.ec_key()
    kit.register("narrow", key)
    token = kit.access_token(Client(), key, "narrow", scope="system/Patient.read")
    narrow = Client(headers={"Authorization": f"Bearer {token}"})
    refused = narrow.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "_count": "0"})
    assert refused.status_code == 403
    refused = narrow.get(
        "/fhir/r4/Patient", {"_id": rich.fhir_id, "_revinclude": "Consent:patient", "_count": "0"}
    )
    assert "does not cover Consent" in problem(refused, 403)
    answered = ok(narrow.get("/fhir/r4/Patient", {"_id": rich.fhir_id, "_count": "0"}))
    assert answered["total"] == 1


@pytest.mark.parametrize(("given", "page_size"), [("0000000001", 1), ("007", 7), ("000", 0)])
def test_leading_zeros_do_not_change_what_count_means(
    reader: Client, rich: Patient, given: str, page_size: int
) -> None:
    answer = ok(reader.get("/fhir/r4/Observation", {"patient": rich.fhir_id, "_count": given}))
    if page_size:
        assert len(answer["entry"]) == page_size and "total" not in answer
    else:
        assert "entry" not in answer and answer["total"] > 0
