"""The live FHIR source against a real second Indblik server process (``hospital`` fixture).

Everything here goes over real HTTP to a real gunicorn: SMART Backend Services tokens, searches,
paging through ``next`` links, ``_include``. Misbehaviour (slow, down, error statuses, broken or
oversized answers) comes from a loopback proxy in front of that server.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.test import override_settings

from indblik.chart.tests.conftest import load_citizens
from indblik.records import fhir, searchparams
from indblik.records.live import client as live_client
from indblik.records.live import source as live_source
from indblik.records.live.client import CircuitBreaker
from indblik.records.live.source import PLANS, FhirServerSource
from indblik.records.models import Patient
from indblik.records.sections import PAGES, Section
from indblik.records.source import (
    AmbiguousPatient,
    LocalStore,
    SectionQuery,
    SourceUnavailable,
    _source,
)
from indblik.records.tests.hospital import (
    CLIENT_ID,
    Fault,
    FaultProxy,
    HospitalServer,
    dripping,
    flooding,
)

pytestmark = pytest.mark.django_db


def live_settings(hospital: HospitalServer, base: str, **extra: Any) -> override_settings:
    values: dict[str, Any] = {
        "INDBLIK_RECORD_SOURCE": base,
        "INDBLIK_FHIR_CLIENT_ID": CLIENT_ID,
        "INDBLIK_FHIR_CLIENT_KEY_FILE": str(hospital.client_key),
        # Through the proxy the token still comes from the server itself: the assertion's
        # audience is the token endpoint the server knows (its own address).
        "INDBLIK_FHIR_TOKEN_URL": "" if base == hospital.fhir_base else hospital.token_url,
    }
    return override_settings(**(values | extra))


@pytest.fixture
def proxy(hospital: HospitalServer) -> Iterator[FaultProxy]:
    server = FaultProxy(hospital.base)
    yield server
    server.close()


def make_source(hospital: HospitalServer, base: str, **extra: Any) -> FhirServerSource:
    with live_settings(hospital, base, **extra):
        return FhirServerSource.from_settings(base)


@pytest.fixture
def live(hospital: HospitalServer) -> Iterator[FhirServerSource]:
    reader = make_source(hospital, hospital.fhir_base)
    yield reader
    reader.http.close()


@pytest.fixture
def via_proxy(hospital: HospitalServer, proxy: FaultProxy) -> Iterator[FhirServerSource]:
    reader = make_source(hospital, proxy.fhir_base, INDBLIK_FHIR_TIMEOUT_MS=1500)
    yield reader
    reader.http.close()


@pytest.fixture
def local_citizens(db: Any) -> Patient:
    load_citizens()
    return Patient.objects.order_by("pk").first()  # type: ignore[return-value]


def ids(resources: Any) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


# --- the patient ----------------------------------------------------------------------------------


def test_the_patient_is_found_by_cpr_number_with_a_post_search(
    live: FhirServerSource, local_citizens: Patient, hospital: HospitalServer
) -> None:
    cpr = local_citizens.cpr
    assert cpr
    found = live.find_patient(cpr)
    assert found is not None
    assert found.cpr == cpr
    assert found.key == local_citizens.fhir_id
    assert found.name == local_citizens.name
    assert found.municipality_code == local_citizens.municipality_code
    # The CPR number went in a form body, never in a URL the server logs.
    assert cpr not in hospital.log_tail()


def test_an_unknown_cpr_number_is_no_patient(live: FhirServerSource) -> None:
    assert live.find_patient("0101010000") is None


def with_a_twin(bundle: dict[str, Any]) -> dict[str, Any]:
    """A Patient search's answer with a second record of the same citizen (another id)."""
    entry = bundle["entry"][0]
    twin = {**entry, "resource": {**entry["resource"], "id": "twin"}}
    return {**bundle, "entry": [entry, twin]}


def test_two_patients_with_the_same_cpr_number_are_refused_not_guessed(
    hospital: HospitalServer,
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
) -> None:
    proxy.faults.append(Fault(match="Patient/_search", rewrite=with_a_twin))
    with pytest.raises(AmbiguousPatient):
        via_proxy.find_patient(local_citizens.cpr or "")


@pytest.mark.parametrize("more", ["next link", "total"])
def test_a_patient_search_that_says_there_is_more_is_refused_not_guessed(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient, more: str
) -> None:
    # One match on this page, but the server says there are others (on a page not read):
    # a second record with the same CPR number may be among them.
    def paged(bundle: dict[str, Any]) -> dict[str, Any]:
        assert len(bundle["entry"]) == 1
        if more == "total":
            return {**bundle, "total": 2}
        link = {"relation": "next", "url": f"{proxy.fhir_base}/Patient?_cursor=page-2"}
        return {**bundle, "link": [*bundle.get("link", []), link]}

    proxy.faults.append(Fault(match="Patient/_search", rewrite=paged))
    before = len(proxy.seen)
    with pytest.raises(AmbiguousPatient):
        via_proxy.find_patient(local_citizens.cpr or "")
    assert not any("_cursor" in request for request in proxy.seen[before:])  # not followed


def test_a_patient_answered_with_another_cpr_number_is_not_taken(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    def other(bundle: dict[str, Any]) -> dict[str, Any]:
        resource = bundle["entry"][0]["resource"]
        identifiers = [
            {**i, "value": "0101010000"} if i.get("system") == fhir.CPR_SYSTEM else i
            for i in resource["identifier"]
        ]
        bundle["entry"][0]["resource"] = {**resource, "identifier": identifiers}
        return bundle

    proxy.faults.append(Fault(match="Patient/_search", rewrite=other))
    assert via_proxy.find_patient(local_citizens.cpr or "") is None


# --- sections -------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", ["on", "off"])
def test_every_section_reads_the_same_resources_as_the_local_store(
    live: FhirServerSource, local_citizens: Patient, batch: str, settings: Any
) -> None:
    # In one batch of searches (one round trip), or one request per search, concurrently.
    settings.INDBLIK_FHIR_BATCH = batch
    for patient_row in Patient.objects.all():
        local = LocalStore()
        local_patient = local.find_patient(patient_row.cpr or "")
        live_patient = live.find_patient(patient_row.cpr or "")
        assert local_patient and live_patient
        sections = [s for s in Section if s not in (Section.SNAPSHOT, Section.OTHER)]
        queries = [SectionQuery(s, limit=200) for s in sections]
        mine = local.sections(local_patient, queries)
        theirs = live.sections(live_patient, queries)
        for section in sections:
            assert sorted(ids(theirs[section].resources)) == sorted(ids(mine[section].resources)), (
                section
            )
            assert theirs[section].notices == ()


def test_newest_first_with_a_limit_and_dated_bounds_as_the_local_store(
    live: FhirServerSource, local_citizens: Patient
) -> None:
    local = LocalStore()
    cpr = local_citizens.cpr or ""
    mine_patient, live_patient = local.find_patient(cpr), live.find_patient(cpr)
    assert mine_patient and live_patient
    newest = local.section(mine_patient, SectionQuery(Section.LAB, limit=200)).resources
    middle = fhir.clinical_date(dict(newest[len(newest) // 2]))
    assert middle is not None
    for query in (
        SectionQuery(Section.LAB, limit=5),
        SectionQuery(Section.LAB, limit=7, before=middle),
        # The chart's older-page cursor: the last row's date + 1 µs (rows of that second stay).
        SectionQuery(Section.LAB, limit=7, before=middle + dt.timedelta(microseconds=1)),
        SectionQuery(Section.LAB, limit=200, since=middle),
        SectionQuery(Section.LAB, limit=200, until=middle),
        SectionQuery(Section.APPOINTMENTS, limit=2, upcoming=True),
        SectionQuery(Section.ENCOUNTERS, limit=1),
    ):
        mine = local.section(mine_patient, query)
        theirs = live.section(live_patient, query)
        dates = [fhir.clinical_date(dict(r)) for r in theirs.resources]
        assert dates == [fhir.clinical_date(dict(r)) for r in mine.resources], query
        assert theirs.has_more == mine.has_more, query


def test_paging_follows_next_links_without_gaps_or_duplicates(
    hospital: HospitalServer,
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pages of three: the notes (12 document references, thinned by section) take several.
    monkeypatch.setattr(searchparams, "MAX_COUNT", 3)
    local = LocalStore()
    cpr = local_citizens.cpr or ""
    mine_patient, live_patient = local.find_patient(cpr), via_proxy.find_patient(cpr)
    assert mine_patient and live_patient
    query = SectionQuery(Section.NOTES, limit=4)
    theirs = via_proxy.section(live_patient, query)
    mine = local.section(mine_patient, query)
    assert ids(theirs.resources) == ids(mine.resources)
    assert theirs.has_more == mine.has_more
    assert any("_cursor=" in request for request in proxy.seen), proxy.seen


def test_a_search_stops_at_the_page_bound_and_says_older_entries_may_be_missing(
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(searchparams, "MAX_COUNT", 1)
    monkeypatch.setattr(live_source, "PAGE_SIZE_FLOOR", 1)
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    result = via_proxy.section(patient, SectionQuery(Section.DEVICES, limit=50))
    # Devices have no date to sort by: every page must be read, and there are few.
    assert result.resources
    lab = via_proxy.section(patient, SectionQuery(Section.LAB, limit=50))
    assert 0 < len(lab.resources) < 50
    assert lab.has_more
    assert str(live_source.INCOMPLETE_NOTICE) in lab.notices


def test_include_brings_the_device_with_its_use_statement(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient, settings: Any
) -> None:
    settings.INDBLIK_FHIR_BATCH = "off"
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    result = via_proxy.section(patient, SectionQuery(Section.DEVICES))
    assert {r["resourceType"] for r in result.resources} == {"Device", "DeviceUseStatement"}
    assert any("_include=DeviceUseStatement%3Adevice" in r for r in proxy.seen), proxy.seen


def test_a_page_is_one_batch_when_the_server_offers_it(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    queries = [SectionQuery(s) for s in (Section.LAB, Section.DEVICES, Section.DIAGNOSES)]
    before = len(proxy.seen)
    results = via_proxy.sections(patient, queries)
    assert all(results[q.section].resources for q in queries)
    # One POST for the first pages of all six searches (the CapabilityStatement that says the
    # server takes batches was read once, with the patient).
    assert proxy.seen[before:] == ["POST /fhir/r4/"]
    via_proxy.sections(patient, queries)
    assert proxy.seen[before:] == ["POST /fhir/r4/", "POST /fhir/r4/"]
    assert proxy.seen.count("GET /fhir/r4/metadata") == 1


PAGE_QUERIES = [SectionQuery(s) for s in (Section.LAB, Section.DEVICES, Section.CONSENTS)]


def test_a_page_read_beside_the_patient_search_is_the_page_read_after_it(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    cpr = local_citizens.cpr or ""
    via_proxy.capabilities()
    before = len(proxy.seen)
    patient, read = via_proxy.find_patient_reading(cpr, local_citizens.fhir_id, PAGE_QUERIES)
    # The search by CPR number and the page's batch, sent together.
    assert sorted(proxy.seen[before:]) == ["POST /fhir/r4/", "POST /fhir/r4/Patient/_search"]
    assert patient is not None and read is not None
    assert patient == via_proxy.find_patient(cpr)
    after = via_proxy.sections(patient, PAGE_QUERIES)
    for query in PAGE_QUERIES:
        assert ids(read[query.section].resources) == ids(after[query.section].resources)
    assert read[Section.LAB].resources


def test_beside_the_remembered_id_two_patients_with_the_cpr_number_are_still_refused(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    # A duplicate record of the citizen appeared at the hospital since the grant was opened.
    proxy.faults.append(Fault(match="Patient/_search", rewrite=with_a_twin))
    with pytest.raises(AmbiguousPatient):
        via_proxy.find_patient_reading(
            local_citizens.cpr or "", local_citizens.fhir_id, PAGE_QUERIES
        )


@pytest.mark.parametrize("answer", ["empty", "404 entries", "broken"])
def test_a_remembered_id_that_no_longer_names_the_citizen_is_dropped(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient, answer: str
) -> None:
    # The hospital merged or renumbered the citizen: some servers answer searches of an id
    # they no longer know with 404 entries (HAPI), others with nothing.
    def gone(bundle: dict[str, Any]) -> dict[str, Any]:
        if answer == "broken":
            return {"resourceType": "Bundle", "type": "searchset"}
        if answer == "empty":
            return bundle
        entries = [{"response": {"status": "404 Not Found"}} for _ in bundle["entry"]]
        return {**bundle, "entry": entries}

    proxy.faults.append(Fault(match="/fhir/r4/", exact=True, rewrite=gone, times=1))
    patient, read = via_proxy.find_patient_reading(
        local_citizens.cpr or "", "merged-away-1", PAGE_QUERIES
    )
    assert read is None  # nothing read for the old id is used
    assert patient is not None and patient.key == local_citizens.fhir_id
    assert patient.origin == via_proxy.origin


def test_a_failed_page_search_beside_the_right_patient_fails_the_page(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    def refused_entry(bundle: dict[str, Any]) -> dict[str, Any]:
        first = {**bundle["entry"][0], "response": {"status": "500 Internal Server Error"}}
        return {**bundle, "entry": [first, *bundle["entry"][1:]]}

    proxy.faults.append(Fault(match="/fhir/r4/", exact=True, rewrite=refused_entry))
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.find_patient_reading(
            local_citizens.cpr or "", local_citizens.fhir_id, PAGE_QUERIES
        )
    assert caught.value.kind == "http-5xx"


@pytest.mark.parametrize(
    ("rewrite", "kind"),
    [
        (lambda b: {**b, "type": "searchset"}, "malformed"),
        (lambda b: {**b, "entry": b["entry"][:-1]}, "malformed"),
        (
            lambda b: {
                **b,
                "entry": [
                    {**b["entry"][0], "response": {"status": "500 Internal"}},
                    *b["entry"][1:],
                ],
            },
            "http-5xx",
        ),
        (
            lambda b: {**b, "entry": [{"response": {"status": "200 OK"}}, *b["entry"][1:]]},
            "malformed",
        ),
    ],
)
def test_a_broken_batch_response_makes_the_page_unavailable(
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
    rewrite: Any,
    kind: str,
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    # Only the batch POST (the base URL itself) is rewritten.
    proxy.faults.append(Fault(match="/fhir/r4/", exact=True, rewrite=rewrite))
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.sections(patient, [SectionQuery(Section.LAB), SectionQuery(Section.DIAGNOSES)])
    assert caught.value.kind == kind


@pytest.mark.parametrize("status", [405, 501])
def test_a_server_that_refuses_batches_is_searched_one_by_one(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient, status: int
) -> None:
    # The CapabilityStatement offers batch, but the POST to the base URL is refused as such
    # (a gateway in front of the server, say): the page is still read, search by search.
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    proxy.faults.append(Fault(match="/fhir/r4/", exact=True, status=status))
    queries = [SectionQuery(s) for s in (Section.LAB, Section.DIAGNOSES)]
    before = len(proxy.seen)
    results = via_proxy.sections(patient, queries)
    assert results[Section.LAB].resources and results[Section.DIAGNOSES].resources
    sent = proxy.seen[before:]
    assert sent[0] == "POST /fhir/r4/"
    assert len(sent) == 1 + 4  # the refused batch, then the four searches one by one
    # Not asked again for the rest of the process's life.
    before = len(proxy.seen)
    via_proxy.sections(patient, queries)
    assert "POST /fhir/r4/" not in proxy.seen[before:]
    assert len(proxy.seen[before:]) == 4


def test_an_entry_refused_inside_a_batch_still_fails_the_page(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    # Only a refusal of the batch itself falls back: an entry's 404 is the page's problem.
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient

    def refused_entry(bundle: dict[str, Any]) -> dict[str, Any]:
        first = {**bundle["entry"][0], "response": {"status": "404 Not Found"}}
        return {**bundle, "entry": [first, *bundle["entry"][1:]]}

    proxy.faults.append(Fault(match="/fhir/r4/", exact=True, rewrite=refused_entry))
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.sections(patient, [SectionQuery(Section.LAB), SectionQuery(Section.DIAGNOSES)])
    assert caught.value.kind == "http-4xx"
    assert via_proxy.batches()


def test_the_sections_of_a_page_are_fetched_concurrently(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    proxy.faults.append(Fault(match="/fhir/r4/", delay=0.3))
    queries = [SectionQuery(s) for s in (Section.ENCOUNTERS, Section.LAB, Section.DIAGNOSES)]
    started = dt.datetime.now()
    via_proxy.sections(patient, queries)
    elapsed = (dt.datetime.now() - started).total_seconds()
    # Five searches of 0.3 s each: about 0.3 s together, not 1.5 s one after the other.
    assert elapsed < 1.0, elapsed


def test_shared_resources_are_resolved_by_reference(live: FhirServerSource) -> None:
    found = live.resolve(["Organization/hospital-rh", "Organization/nope", "Patient/synth-0"])
    assert list(found) == ["Organization/hospital-rh"]
    assert found["Organization/hospital-rh"]["resourceType"] == "Organization"


def test_care_events_name_the_organisation(live: FhirServerSource, local_citizens: Patient) -> None:
    local = LocalStore()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=3650)
    for row in Patient.objects.all():
        mine_patient = local.find_patient(row.cpr or "")
        live_patient = live.find_patient(row.cpr or "")
        assert mine_patient and live_patient
        for key in ("cvr:29189846", "sor:6071000016008", "cvr:64942212"):
            mine = {r["id"] for r in local.care_events(mine_patient, [key], since)}
            theirs = {r["id"] for r in live.care_events(live_patient, [key], since)}
            assert theirs == mine, key


@pytest.mark.parametrize("batch", ["auto", "off"])
def test_the_care_events_of_a_launch_are_one_batch_when_the_server_offers_it(
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
    settings: Any,
    batch: str,
) -> None:
    settings.INDBLIK_FHIR_BATCH = batch
    local = LocalStore()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=3650)
    # A citizen with care events of one of the organisations (the local store tells which).
    cases = []
    for row in Patient.objects.order_by("pk"):
        patient = local.find_patient(row.cpr or "")
        assert patient
        for key in ("cvr:29189846", "sor:6071000016008", "cvr:64942212"):
            found = {r["id"] for r in local.care_events(patient, [key], since)}
            if found:
                cases.append((key, row.cpr or "", found))
    key, cpr, mine = cases[0]
    live_patient = via_proxy.find_patient(cpr)
    assert live_patient
    before = len(proxy.seen)
    theirs = {r["id"] for r in via_proxy.care_events(live_patient, [key], since)}
    assert theirs == mine
    searches = [r for r in proxy.seen[before:] if "/Organization/" not in r]
    if batch == "auto":
        # The seven types' searches in one round trip (the organisations they name apart).
        assert searches == ["POST /fhir/r4/"]
    else:
        assert len(searches) == len(live_source.CARE_EVENT_TYPES)


# --- untrusted answers ----------------------------------------------------------------------------


def test_a_malformed_resource_is_skipped_with_a_notice_and_the_rest_shown(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    whole = via_proxy.section(patient, SectionQuery(Section.ENCOUNTERS))

    def break_first(bundle: dict[str, Any]) -> dict[str, Any]:
        bundle["entry"][0]["resource"]["status"] = 42
        return bundle

    proxy.faults.append(Fault(match="/Encounter?", rewrite=break_first))
    result = via_proxy.section(patient, SectionQuery(Section.ENCOUNTERS))
    assert len(result.resources) == len(whole.resources) - 1
    assert str(live_source.MALFORMED_NOTICE) in result.notices


def test_a_resource_of_another_patient_is_never_shown(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient

    def someone_else(bundle: dict[str, Any]) -> dict[str, Any]:
        for entry in bundle["entry"]:
            entry["resource"]["subject"] = {"reference": "Patient/someone-else"}
        return bundle

    proxy.faults.append(Fault(match="/Encounter?", rewrite=someone_else))
    result = via_proxy.section(patient, SectionQuery(Section.ENCOUNTERS))
    assert result.resources == ()
    assert str(live_source.MALFORMED_NOTICE) in result.notices


def test_a_reference_to_the_same_id_on_another_server_is_another_patient(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    whole = via_proxy.section(patient, SectionQuery(Section.ENCOUNTERS))
    assert len(whole.resources) >= 2

    def elsewhere(bundle: dict[str, Any]) -> dict[str, Any]:
        first, *rest = bundle["entry"]
        # The first names the patient in full on this server (the same patient); the others
        # name the same id on another server (someone else).
        first["resource"]["subject"] = {"reference": f"{proxy.fhir_base}/Patient/{patient.key}"}
        for entry in rest:
            other = f"https://other.example/fhir/r4/Patient/{patient.key}"
            entry["resource"]["subject"] = {"reference": other}
        return bundle

    proxy.faults.append(Fault(match="/Encounter?", rewrite=elsewhere))
    result = via_proxy.section(patient, SectionQuery(Section.ENCOUNTERS))
    assert ids(result.resources) == ids(whole.resources)[:1]
    assert str(live_source.MALFORMED_NOTICE) in result.notices


@pytest.mark.parametrize(
    ("reference", "belongs"),
    [
        ("Patient/p1", True),
        ("http://127.0.0.1:8/fhir/r4/Patient/p1", True),
        ("https://other.example/fhir/Patient/p1", False),
        ("http://127.0.0.1:8/fhir/r4-other/Patient/p1", False),
        ("http://127.0.0.1:9/fhir/r4/Patient/p1", False),
        ("Patient/p2", False),
        ("Group/x/Patient/p1", False),
        ("Patient/p1/", False),
    ],
)
def test_a_resource_belongs_to_the_patient_only_by_this_servers_reference(
    reference: str, belongs: bool
) -> None:
    resource = {"resourceType": "Encounter", "subject": {"reference": reference}}
    assert live_source._belongs_to(resource, "p1", "http://127.0.0.1:8/fhir/r4/") is belongs


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<html>not json</html>", "malformed"),
        (b"[1, 2, 3]", "malformed"),
        (b'{"resourceType": "Patient", "id": "x"}', "malformed"),
        (b'{"resourceType": "Bundle", "type": "searchset", "entry": {"no": "list"}}', "malformed"),
    ],
)
def test_an_answer_that_is_not_a_searchset_makes_the_section_unavailable(
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
    body: bytes,
    kind: str,
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    proxy.faults.append(Fault(match="/Encounter?", body=body))
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.section(patient, SectionQuery(Section.ENCOUNTERS))
    assert caught.value.kind == kind


def test_an_oversized_answer_is_abandoned(
    hospital: HospitalServer, proxy: FaultProxy, local_citizens: Patient
) -> None:
    reader = make_source(hospital, proxy.fhir_base, INDBLIK_FHIR_MAX_BYTES=64 * 1024)
    patient = reader.find_patient(local_citizens.cpr or "")
    assert patient
    huge = orjson.dumps(
        {"resourceType": "Bundle", "type": "searchset", "total": 0, "pad": "x" * 200_000}
    )
    proxy.faults.append(Fault(match="/Encounter?", body=huge))
    with pytest.raises(SourceUnavailable) as caught:
        reader.section(patient, SectionQuery(Section.ENCOUNTERS))
    assert caught.value.kind == "oversized"


def test_a_next_link_to_another_host_is_not_followed(
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(searchparams, "MAX_COUNT", 1)
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient

    def elsewhere(bundle: dict[str, Any]) -> dict[str, Any]:
        for link in bundle.get("link", []):
            if link["relation"] == "next":
                link["url"] = "https://attacker.example/fhir/r4/Encounter?_cursor=x"
        return bundle

    proxy.faults.append(Fault(match="/DocumentReference?", rewrite=elsewhere))
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.section(patient, SectionQuery(Section.NOTES, limit=50))
    assert caught.value.kind == "malformed"


# --- the server's answers and health --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "forbidden"), (404, "http-4xx"), (500, "http-5xx")],
)
def test_error_statuses_make_the_page_unavailable(
    proxy: FaultProxy,
    via_proxy: FhirServerSource,
    local_citizens: Patient,
    status: int,
    kind: str,
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    proxy.faults.append(Fault(match="/Condition?", status=status))
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.section(patient, SectionQuery(Section.DIAGNOSES))
    assert caught.value.kind == kind


def test_a_passing_503_is_retried_once(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    proxy.faults.append(Fault(match="/Condition?", status=503, times=1))
    result = via_proxy.section(patient, SectionQuery(Section.DIAGNOSES))
    assert result.resources
    assert sum("/Condition?" in r for r in proxy.seen) == 2


def test_a_slow_server_times_out_quickly(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    proxy.faults.append(Fault(match="/Condition?", delay=4))
    started = dt.datetime.now()
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.section(patient, SectionQuery(Section.DIAGNOSES))
    assert caught.value.kind == "timeout"
    assert (dt.datetime.now() - started).total_seconds() < 3.5


def test_a_server_that_drips_its_headers_is_cut_at_the_deadline_and_opens_the_circuit(
    hospital: HospitalServer, proxy: FaultProxy, local_citizens: Patient
) -> None:
    # A byte of the status line and headers every 0.1 s: every read gets something, well
    # within the 0.5 s read timeout, and the answer would take seconds to arrive.
    reader = make_source(hospital, proxy.fhir_base, INDBLIK_FHIR_TIMEOUT_MS=500)
    patient = reader.find_patient(local_citizens.cpr or "")
    assert patient
    deadline = reader.http.budget()
    assert deadline == 1.0
    proxy.faults.append(Fault(match="/Condition?", answer=dripping(0.1)))
    for _ in range(live_client.BREAKER_FAILURES):
        started = time.monotonic()
        with pytest.raises(SourceUnavailable) as caught:
            reader.section(patient, SectionQuery(Section.DIAGNOSES))
        assert caught.value.kind == "timeout"
        assert time.monotonic() - started < deadline + 1.0  # not the seconds of the drip
    # Each cut counts: the circuit opens as for a server that does not answer at all.
    assert reader.http.breaker.is_open
    reader.http.close()


def test_a_cut_request_leaves_the_connections_usable_and_reused(
    hospital: HospitalServer, proxy: FaultProxy, local_citizens: Patient
) -> None:
    reader = make_source(hospital, proxy.fhir_base, INDBLIK_FHIR_TIMEOUT_MS=500)
    patient = reader.find_patient(local_citizens.cpr or "")
    assert patient
    for _ in range(3):
        assert reader.section(patient, SectionQuery(Section.DIAGNOSES)).resources
    # The metadata, the patient search and three searches, one after the other: one connection.
    assert proxy.connections == 1
    proxy.faults.append(Fault(match="/Condition?", answer=dripping(0.1), times=1))
    with pytest.raises(SourceUnavailable) as caught:
        reader.section(patient, SectionQuery(Section.DIAGNOSES))
    assert caught.value.kind == "timeout"
    # The cut connection is gone; the next requests share a new one.
    for _ in range(3):
        assert reader.section(patient, SectionQuery(Section.DIAGNOSES)).resources
    assert proxy.connections == 2
    reader.http.close()


def test_a_server_that_is_down_opens_the_circuit(
    hospital: HospitalServer, local_citizens: Patient
) -> None:
    from indblik.records.tests.hospital import free_port

    reader = make_source(hospital, f"http://127.0.0.1:{free_port()}/fhir/r4")
    kinds = []
    for _ in range(live_client.BREAKER_FAILURES):
        with pytest.raises(SourceUnavailable) as caught:
            reader.find_patient(local_citizens.cpr or "")
        kinds.append(caught.value.kind)
    # Nobody listens: unavailable, until the failures in a row open the circuit.
    assert kinds[0] == "unavailable"
    assert kinds[-1] == "circuit-open"
    assert set(kinds) == {"unavailable", "circuit-open"}
    sent = reader.http.requests
    with pytest.raises(SourceUnavailable) as caught:
        reader.find_patient(local_citizens.cpr or "")
    assert caught.value.kind == "circuit-open"
    assert reader.http.requests == sent  # nothing was sent while the circuit is open


def test_requests_in_flight_together_fail_as_one() -> None:
    breaker = CircuitBreaker(failures=2, cooldown=60)
    # A page's searches go out together and time out together: one failure, not several.
    started = [breaker.before() for _ in range(6)]
    for moment in started:
        breaker.failure(moment)
    assert not breaker.is_open
    # The next page fails too: two in a row, the circuit opens.
    breaker.failure(breaker.before())
    assert breaker.is_open


def test_one_slow_page_does_not_open_the_circuit(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient, settings: Any
) -> None:
    settings.INDBLIK_FHIR_BATCH = "off"  # one request per search, all in flight together
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient
    proxy.faults.append(Fault(match="?patient=", delay=2.5, times=7))
    queries = [SectionQuery(s) for s in (Section.LAB, Section.RESULTS_REVIEW)]  # 7 searches
    assert sum(len(PLANS[q.section]) for q in queries) >= live_client.BREAKER_FAILURES
    with pytest.raises(SourceUnavailable) as caught:
        via_proxy.sections(patient, queries)
    assert caught.value.kind == "timeout"
    assert not via_proxy.http.breaker.is_open
    assert via_proxy.sections(patient, [SectionQuery(Section.DIAGNOSES)])  # the next page reads


def test_the_circuit_closes_after_a_successful_trial() -> None:
    breaker = CircuitBreaker(failures=2, cooldown=0.05)
    breaker.failure()
    breaker.failure()
    assert breaker.is_open
    with pytest.raises(SourceUnavailable):
        breaker.before()
    time.sleep(0.06)
    breaker.before()  # the trial may go
    with pytest.raises(SourceUnavailable):
        breaker.before()  # only one trial at a time
    breaker.success()
    assert not breaker.is_open
    breaker.before()


# --- SMART Backend Services -----------------------------------------------------------------------


def test_a_token_is_fetched_once_and_reused_until_it_expires(
    hospital: HospitalServer, local_citizens: Patient
) -> None:
    now = [1000.0]
    reader = make_source(hospital, hospital.fhir_base)
    reader.http.tokens.clock = lambda: now[0]
    cpr = local_citizens.cpr or ""
    reader.find_patient(cpr)
    reader.find_patient(cpr)
    assert reader.http.tokens.fetches == 1
    now[0] += 300  # past expiry (300 s, renewed 30 s early)
    reader.find_patient(cpr)
    assert reader.http.tokens.fetches == 2


def test_a_token_the_server_no_longer_accepts_is_replaced(
    hospital: HospitalServer, local_citizens: Patient
) -> None:
    reader = make_source(hospital, hospital.fhir_base)
    cpr = local_citizens.cpr or ""
    assert reader.find_patient(cpr)
    # The server ends the token early (an operator revoked the client's tokens).
    hospital.sql(
        "UPDATE records_feedcredential SET revoked_at = CURRENT_TIMESTAMP "
        "WHERE revoked_at IS NULL AND feed_id = (SELECT id FROM records_feed WHERE name = ?)",
        CLIENT_ID,
    )
    assert reader.find_patient(cpr)
    assert reader.http.tokens.fetches == 2


def test_a_client_the_server_does_not_know_gets_no_record(
    hospital: HospitalServer, local_citizens: Patient
) -> None:
    with live_settings(hospital, hospital.fhir_base, INDBLIK_FHIR_CLIENT_ID="stranger"):
        reader = FhirServerSource.from_settings(hospital.fhir_base)
    with pytest.raises(SourceUnavailable) as caught:
        reader.find_patient(local_citizens.cpr or "")
    assert caught.value.kind == "auth"


@pytest.mark.parametrize(
    ("path", "answer", "kind"),
    [
        ("/auth/token", dripping(0.1), "timeout"),
        (
            "/auth/token",
            dripping(0.1, b'{"access_token": "x"}' + b" " * 100, head=False),
            "timeout",
        ),
        ("/auth/token", flooding(16 * 1024, 0.02, 300), "oversized"),
        ("/.well-known/smart-configuration", dripping(0.1), "timeout"),
        ("/.well-known/smart-configuration", flooding(16 * 1024, 0.02, 300), "oversized"),
    ],
    ids=["token-head", "token-body", "token-huge", "discovery-head", "discovery-huge"],
)
def test_a_slow_or_huge_token_answer_is_cut_at_the_deadline_or_the_size_cap(
    hospital: HospitalServer,
    proxy: FaultProxy,
    local_citizens: Patient,
    path: str,
    answer: Any,
    kind: str,
) -> None:
    # Discovery at the proxy (no token URL configured), or the token endpoint there.
    token_url = "" if "well-known" in path else f"{proxy.fhir_base}/auth/token"
    reader = make_source(
        hospital, proxy.fhir_base, INDBLIK_FHIR_TIMEOUT_MS=500, INDBLIK_FHIR_TOKEN_URL=token_url
    )
    proxy.faults.append(Fault(match=path, answer=answer))
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as caught:
        reader.http.get(reader.http.url("metadata"))
    assert caught.value.kind == kind
    # Cut at the deadline (twice the timeout), the huge ones at 64 KiB, long before that.
    assert time.monotonic() - started < reader.http.budget() + 1.0
    reader.http.close()


def test_a_thread_waiting_for_another_threads_token_fetch_waits_no_longer_than_its_deadline(
    hospital: HospitalServer, proxy: FaultProxy
) -> None:
    import threading

    from indblik.records.live.smart import TokenError

    reader = make_source(
        hospital,
        proxy.fhir_base,
        INDBLIK_FHIR_TIMEOUT_MS=500,
        INDBLIK_FHIR_TOKEN_URL=f"{proxy.fhir_base}/auth/token",
    )
    tokens, http = reader.http.tokens, reader.http.http
    proxy.faults.append(Fault(match="/auth/token", answer=dripping(0.1)))
    outcome: list[str] = []

    def slow_fetch() -> None:
        try:
            tokens.token(http, timeout=reader.http.timeout, deadline=time.monotonic() + 4.0)
        except TokenError as exc:
            outcome.append(exc.kind)

    fetching = threading.Thread(target=slow_fetch)
    fetching.start()
    try:
        time.sleep(0.2)  # the fetch holds the lock, its answer dripping in
        started = time.monotonic()
        with pytest.raises(TokenError) as caught:
            tokens.token(http, timeout=reader.http.timeout, deadline=started + 0.3)
        assert caught.value.kind == "timeout"
        assert time.monotonic() - started < 1.5  # not the other fetch's 4 s
    finally:
        fetching.join(timeout=10)
    assert not fetching.is_alive()
    assert outcome == ["timeout"]  # and the fetch itself ended at its own deadline
    reader.http.close()


def test_every_read_is_audited_by_the_hospital_server(
    hospital: HospitalServer, live: FhirServerSource, local_citizens: Patient
) -> None:
    before = hospital.audit_count()
    patient = live.find_patient(local_citizens.cpr or "")
    assert patient
    result = live.sections(patient, [SectionQuery(s) for s in PAGES if s != Section.SNAPSHOT])
    shown = {f"{r['resourceType']}/{r['id']}" for part in result.values() for r in part.resources}
    assert hospital.audit_count() >= before + 2  # the patient search, the batch
    audited: set[str] = set()
    for (text,) in hospital.sql("SELECT resource_ids FROM audit_auditevent WHERE id > ?", before):
        audited.update(orjson.loads(text))
    assert shown - {f"Patient/{patient.key}"} <= audited  # every resource read was audited


def test_the_configured_source_is_the_live_one(hospital: HospitalServer) -> None:
    _source.cache_clear()
    try:
        with live_settings(hospital, hospital.fhir_base):
            from indblik.records.source import source

            assert isinstance(source(), FhirServerSource)
        assert isinstance(source(), LocalStore)
    finally:
        _source.cache_clear()


def consent_of(patient_id: str, consent_id: str = "block-1") -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "provision": {"type": "deny"},
    }


def test_the_consents_come_with_the_patient_when_the_server_offers_it(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    key = local_citizens.fhir_id

    def with_consents(bundle: dict[str, Any]) -> dict[str, Any]:
        extra = [consent_of(key), consent_of("someone-else", "block-2")]  # not theirs: dropped
        bundle["entry"] += [{"resource": c, "search": {"mode": "include"}} for c in extra]
        return bundle

    proxy.faults.append(Fault(match="Patient/_search", rewrite=with_consents))
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient is not None and patient.consents is not None
    assert any("_revinclude" not in r for r in proxy.seen)  # the form body carries it
    before = len(proxy.seen)
    query = SectionQuery(Section.CONSENTS, limit=100, include_restricted=True)
    consents = via_proxy.section(patient, query)
    assert len(proxy.seen) == before  # no request of its own
    assert ids(consents.resources) == ["Consent/block-1"]


def test_a_server_that_does_not_offer_revinclude_is_asked_for_consents_separately(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    def without(statement: dict[str, Any]) -> dict[str, Any]:
        for resource in statement["rest"][0]["resource"]:
            resource.pop("searchRevInclude", None)
        return statement

    proxy.faults.append(Fault(match="/metadata", rewrite=without))
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient is not None and patient.consents is None
    before = len(proxy.seen)
    query = SectionQuery(Section.CONSENTS, limit=100, include_restricted=True)
    via_proxy.section(patient, query)
    assert any("/Consent?" in request for request in proxy.seen[before:])


def test_mutual_tls_to_the_fhir_server(
    hospital: HospitalServer, local_citizens: Patient, tmp_path: Any
) -> None:
    from indblik.audit.tests.forward_kit import make_pki
    from indblik.records.tests.hospital import free_port, start_tls_server

    pki = make_pki(tmp_path)
    port = free_port()
    server = start_tls_server(hospital, pki, port=port)
    base = f"https://127.0.0.1:{port}/fhir/r4"
    tls = {"INDBLIK_FHIR_CA_FILE": str(pki.ca), "INDBLIK_FHIR_TOKEN_URL": f"{base}/auth/token"}
    try:
        client_cert = {
            "INDBLIK_FHIR_CLIENT_CERT_FILE": str(pki.client_cert),
            "INDBLIK_FHIR_CLIENT_CERT_KEY_FILE": str(pki.client_key),
        }
        reader = make_source(hospital, base, **tls, **client_cert)
        found = reader.find_patient(local_citizens.cpr or "")
        assert found is not None and found.key == local_citizens.fhir_id
        # Without a client certificate the handshake fails: no token, no record.
        bare = make_source(hospital, base, **tls)
        with pytest.raises(SourceUnavailable) as caught:
            bare.find_patient(local_citizens.cpr or "")
        assert caught.value.kind == "unavailable"
        # A server whose certificate is not from the configured CA is not believed.
        other = {**tls, "INDBLIK_FHIR_CA_FILE": str(pki.other_ca)}
        stranger = make_source(hospital, base, **other, **client_cert)
        with pytest.raises(SourceUnavailable) as caught:
            stranger.find_patient(local_citizens.cpr or "")
        assert caught.value.kind == "unavailable"
    finally:
        server.terminate()
        server.wait(timeout=20)


# --- review findings ----------------------------------------------------------------------------


def test_a_consent_that_cannot_be_read_refuses_the_decision(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient
) -> None:
    from types import SimpleNamespace

    from indblik.access import policy

    key = local_citizens.fhir_id

    def broken_block(bundle: dict[str, Any]) -> dict[str, Any]:
        bundle["entry"] = [
            *bundle.get("entry", []),
            {"resource": {**consent_of(key), "dateTime": "yesterday"}, "search": {"mode": "match"}},
        ]
        return bundle

    proxy.faults.append(Fault(match="/Consent?", rewrite=broken_block))
    proxy.faults.append(Fault(match="Patient/_search", rewrite=broken_block))
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient is not None
    assert patient.consents is None  # one came malformed with the patient: not trusted as all
    organisation = SimpleNamespace(cvr="29189846", sor_code="")
    with pytest.raises(SourceUnavailable) as caught:
        policy.blocks(patient, organisation, record_source=via_proxy)  # type: ignore[arg-type]
    assert caught.value.kind == "malformed"


def test_an_included_resource_must_be_the_included_type_and_the_patients(
    proxy: FaultProxy, via_proxy: FhirServerSource, local_citizens: Patient, settings: Any
) -> None:
    settings.INDBLIK_FHIR_BATCH = "off"
    patient = via_proxy.find_patient(local_citizens.cpr or "")
    assert patient

    def smuggle(bundle: dict[str, Any]) -> dict[str, Any]:
        device = next(e for e in bundle["entry"] if e["search"]["mode"] == "include")
        theirs = {**device["resource"], "id": "theirs", "patient": {"reference": "Patient/x"}}
        stranger = {
            "resourceType": "Observation",
            "id": "smuggled",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": f"Patient/{patient.key}"},
        }
        bundle["entry"] += [
            {"resource": theirs, "search": {"mode": "include"}},
            {"resource": stranger, "search": {"mode": "include"}},
        ]
        return bundle

    proxy.faults.append(Fault(match="/DeviceUseStatement?", rewrite=smuggle))
    result = via_proxy.section(patient, SectionQuery(Section.DEVICES))
    shown = ids(result.resources)
    assert "Device/theirs" not in shown and "Observation/smuggled" not in shown
    assert any(name.startswith("Device/") for name in shown)
    assert str(live_source.MALFORMED_NOTICE) in result.notices


def test_upper_bounds_are_rounded_up_to_the_next_second() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=dt.UTC)
    assert live_source._instant(moment) == "2026-01-02T03:04:05Z"
    assert live_source._instant(moment, up=True) == "2026-01-02T03:04:06Z"
    assert live_source._instant(moment.replace(microsecond=0), up=True) == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("http://127.0.0.1:8/fhir/r4/Observation?_cursor=x", True),
        ("http://127.0.0.1:8/fhir/r4", True),
        ("http://127.0.0.1:8/fhir/r4-admin/Observation", False),
        ("http://127.0.0.1:8/fhir/r4/../admin/", False),
        ("http://127.0.0.1:8/fhir/r4/%2e%2e/%2e%2e/other/Observation", False),
        ("http://127.0.0.1:8/fhir/r4/%2E%2E/admin/", False),
        ("http://127.0.0.1:8/fhir/r4/.%2e/admin/", False),
        ("http://127.0.0.1:8/fhir/r4/%2e/Observation", False),
        ("http://127.0.0.1:8/fhir/r4/%252e%252e/admin/", False),
        ("http://127.0.0.1:8/fhir/r4/..%2f..%2fadmin", False),
        ("http://127.0.0.1:8/fhir/r4/Observation%2F..%2F..%2Fadmin", False),
        ("http://127.0.0.1:8/fhir/r4/..%5cadmin", False),
        ("http://127.0.0.1:8/fhir/r4/..\\admin", False),
        ("http://127.0.0.1:8/fhir/r4/Observation%3Fx?_cursor=a%2Fb%2e%2e", True),
        ("http://127.0.0.1:9/fhir/r4/Observation", False),
        ("http://127.0.0.1:x/fhir/r4/Observation", False),
        ("https://127.0.0.1:8/fhir/r4/Observation", False),
    ],
)
def test_a_link_must_stay_under_the_base_url(
    hospital: HospitalServer, url: str, same: bool
) -> None:
    reader = make_source(hospital, "http://127.0.0.1:8/fhir/r4")
    assert reader.http.same_server(url) is same


def test_an_unexpected_error_is_an_unavailable_source_and_frees_the_breaker(
    hospital: HospitalServer, local_citizens: Patient, tmp_path: Any
) -> None:
    # An unreadable key file is no SourceUnavailable of its own: it must become one, never a
    # 500, and must not leave the circuit breaker stuck in its half-open trial.
    missing = str(tmp_path / "no-such-key.json")
    reader = make_source(hospital, hospital.fhir_base, INDBLIK_FHIR_CLIENT_KEY_FILE=missing)
    reader.http.breaker.cooldown = 0
    for _ in range(live_client.BREAKER_FAILURES + 1):
        with pytest.raises(SourceUnavailable) as caught:
            reader.find_patient(local_citizens.cpr or "")
        assert caught.value.kind in ("unavailable", "circuit-open")
        reader.http.tokens._failure = None
    assert reader.http.breaker.is_open
    reader.http.tokens.key_file = str(hospital.client_key)
    assert reader.find_patient(local_citizens.cpr or "")  # the trial succeeds: closed again
    assert not reader.http.breaker.is_open


def test_a_failed_token_fetch_is_answered_from_memory_for_a_moment(
    hospital: HospitalServer, local_citizens: Patient, tmp_path: Any
) -> None:
    reader = make_source(
        hospital, hospital.fhir_base, INDBLIK_FHIR_CLIENT_KEY_FILE=str(tmp_path / "missing")
    )
    reader.http.tokens.key_file = str(hospital.client_key)
    calls = []
    real = reader.http.tokens._fetch

    def failing(*args: Any) -> Any:
        calls.append(1)
        from indblik.records.live.smart import TokenError

        raise TokenError("timeout", "the token endpoint timed out")

    reader.http.tokens._fetch = failing  # type: ignore[method-assign,assignment]
    for _ in range(3):
        with pytest.raises(SourceUnavailable):
            reader.find_patient(local_citizens.cpr or "")
    assert len(calls) == 1
    reader.http.tokens._fetch = real  # type: ignore[method-assign]
