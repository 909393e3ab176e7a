"""The chart with ``INDBLIK_RECORD_SOURCE`` pointing at a real second Indblik (``hospital``).

The same generated citizens are in this test's local store and in the hospital server's store;
every page must come out the same from both sources, through the same presenters. When the
hospital server cannot be read, the page says so (503), shows nothing, and the attempt is
audited.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from indblik.access.testing import Granted, grant_client
from indblik.audit.models import AuditEvent
from indblik.records.live.source import origin_of
from indblik.records.models import Patient
from indblik.records.sections import PAGES, Section
from indblik.records.source import _source
from indblik.records.tests.hospital import (
    CLIENT_ID,
    Fault,
    FaultProxy,
    HospitalServer,
    dripping,
    free_port,
)

pytestmark = pytest.mark.django_db

MAIN = re.compile(r"<main\b.*?</main>", re.S)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')  # masked anew on every response


@pytest.fixture
def fresh_source() -> Iterator[None]:
    _source.cache_clear()
    yield
    _source.cache_clear()


def live(hospital: HospitalServer, base: str | None = None) -> override_settings:
    return override_settings(
        INDBLIK_RECORD_SOURCE=base or hospital.fhir_base,
        INDBLIK_FHIR_CLIENT_ID=CLIENT_ID,
        INDBLIK_FHIR_CLIENT_KEY_FILE=str(hospital.client_key),
        INDBLIK_FHIR_TIMEOUT_MS=2000,
    )


def main(granted: Granted, section: Section) -> str:
    path = granted.url("" if section == Section.SNAPSHOT else section.value)
    response = granted.client.get(path)
    assert response.status_code == 200, (section, response.status_code)
    found = MAIN.search(response.content.decode())
    assert found, section
    return CSRF.sub('name="csrfmiddlewaretoken"', found.group(0))


def counting(hospital: HospitalServer) -> list[tuple[str, str, bytes]]:
    """Record each request the live source sends (method, URL, body), from now on."""
    http = _source(hospital.fhir_base).http  # type: ignore[attr-defined]
    sent: list[tuple[str, str, bytes]] = []
    send = http._send

    def counted(method: str, url: str, **kwargs: Any) -> Any:
        sent.append((method, url, kwargs.get("body") or b""))
        return send(method, url, **kwargs)

    http._send = counted
    return sent


def test_every_page_is_the_same_from_the_hospital_server_as_from_the_local_store(
    hospital: HospitalServer, rich: Patient, fresh_source: None
) -> None:
    # As a grant opened on the live source: it remembers the hospital's id of the citizen.
    granted = grant_client(
        rich, patient_key=rich.fhir_id, patient_origin=origin_of(hospital.fhir_base)
    )
    local = {section: main(granted, section) for section in PAGES}
    before = AuditEvent.objects.count()
    with live(hospital):
        _source.cache_clear()
        sent = counting(hospital)
        remote = {section: main(granted, section) for section in PAGES}
    for section in PAGES:
        assert remote[section] == local[section], section
    # Each page was audited here as a read, like any other.
    assert AuditEvent.objects.count() == before + len(PAGES)
    # Per page, sent together: the search of the citizen by CPR number (with their consents)
    # and one batch of the first pages of the page's searches; then only next pages (and the
    # CapabilityStatement, once).
    requests = [f"{method} {url}" for method, url, _body in sent]
    assert requests.count(f"POST {hospital.fhir_base}/Patient/_search") == len(PAGES)
    assert requests.count(f"POST {hospital.fhir_base}/") == len(PAGES)
    assert requests.count(f"GET {hospital.fhir_base}/metadata") == 1
    assert all(
        "?_cursor=" in request
        for request in requests
        if request.startswith("GET ") and "metadata" not in request
    )


@pytest.mark.parametrize("remembered", ["someone-else", "unknown", "local-key"])
def test_a_grant_whose_patient_id_no_longer_names_the_citizen_finds_them_by_cpr_number(
    hospital: HospitalServer, rich: Patient, fresh_source: None, remembered: str
) -> None:
    other = Patient.objects.exclude(pk=rich.pk).exclude(family=rich.family).first()
    assert other is not None
    origin = origin_of(hospital.fhir_base)
    key, key_origin = {
        "someone-else": (other.fhir_id, origin),  # the id now names another citizen
        "unknown": ("gone-1234", origin),  # merged away
        "local-key": (str(rich.pk), ""),  # a grant opened while the store was local
    }[remembered]
    granted = grant_client(rich, patient_key=key, patient_origin=key_origin)
    local = main(granted, Section.SNAPSHOT)
    with live(hospital):
        _source.cache_clear()
        sent = counting(hospital)
        remote = main(granted, Section.SNAPSHOT)
    assert remote == local
    assert other.family not in remote
    batches = [body for method, url, body in sent if url == f"{hospital.fhir_base}/"]
    if key_origin:
        # The searches of the remembered id were sent and dropped; the page is the citizen's.
        assert len(batches) == 2
        assert f"Patient%2F{key}&".encode() in batches[0]
        assert f"Patient%2F{key}&".encode() not in batches[1]
    else:
        # An id of another source (the local store's) is never sent to the hospital.
        assert len(batches) == 1
        assert all(f"Patient%2F{key}&".encode() not in body for _m, _u, body in sent)
        assert all(f"Patient/{key}" not in url for _m, url, _b in sent)


def test_a_page_says_plainly_when_the_hospital_record_cannot_be_reached(
    hospital: HospitalServer, rich: Patient, fresh_source: None
) -> None:
    granted = grant_client(rich)
    with live(hospital, f"http://127.0.0.1:{free_port()}/fhir/r4"):
        response = granted.client.get(granted.url("lab"))
    assert response.status_code == 503
    text = response.content.decode()
    assert "Hospitalsjournalen kan ikke nås" in text
    assert rich.cpr
    assert rich.cpr not in text
    assert rich.family not in text
    assert response["Retry-After"]
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.order_by("-pk").first()
    assert event is not None
    assert event.outcome == "error"
    assert event.patient_cpr == rich.cpr
    assert event.section == "lab"
    assert event.details == {"source_error": "unavailable"}


def test_a_page_says_so_at_the_deadline_when_the_hospital_drips_its_answer(
    hospital: HospitalServer, rich: Patient, fresh_source: None
) -> None:
    # The server sends its status line and headers a byte every 0.1 s: each read of the
    # socket gets something in time, the answer as a whole would take seconds.
    proxy = FaultProxy(hospital.base)
    proxy.faults.append(Fault(match="Patient/_search", answer=dripping(0.1)))
    granted = grant_client(rich)
    try:
        with (
            live(hospital, proxy.fhir_base),
            override_settings(
                INDBLIK_FHIR_TIMEOUT_MS=500, INDBLIK_FHIR_TOKEN_URL=hospital.token_url
            ),
        ):
            started = time.monotonic()
            response = granted.client.get(granted.url("lab"))
            elapsed = time.monotonic() - started
    finally:
        proxy.close()
    assert response.status_code == 503
    assert "Hospitalsjournalen kan ikke nås" in response.content.decode()
    assert elapsed < 2 * 0.5 + 1.0  # the call's deadline (twice the timeout), and a margin
    event = AuditEvent.objects.order_by("-pk").first()
    assert event is not None
    assert event.details == {"source_error": "timeout"}


def test_the_unavailable_page_is_a_404_without_a_grant(
    hospital: HospitalServer, rich: Patient, fresh_source: None
) -> None:
    granted = grant_client(rich)
    with live(hospital, f"http://127.0.0.1:{free_port()}/fhir/r4"):
        response = granted.client.get("/chart/" + "x" * 32 + "/lab/")
    assert response.status_code == 404


def test_a_document_is_read_from_the_hospital_server(
    hospital: HospitalServer, rich: Patient, fresh_source: None
) -> None:
    granted = grant_client(rich)
    page = main(granted, Section.DOCUMENTS)
    # The links as the page has them, dated (?at=…) where the document is.
    links = [
        html.unescape(link) for link in re.findall(r'href="(/chart/[^"]+/documents/[^"]+)"', page)
    ]
    assert links, "the generated citizen has documents"
    assert any("at=" in link for link in links)
    for link in links:
        local = granted.client.get(link)
        with live(hospital):
            _source.cache_clear()
            remote = granted.client.get(link)
        assert remote.status_code == local.status_code == 200, link
        assert remote.content == local.content
        assert remote["Content-Type"] == local["Content-Type"]


@pytest.mark.parametrize("opened_on", ["live source", "local store"])
def test_a_block_made_in_min_log_holds_with_a_live_source(
    hospital: HospitalServer, rich: Patient, fresh_source: None, opened_on: str
) -> None:
    from indblik.followup import blocks
    from indblik.records.ingest import ingest_resources

    if opened_on == "live source":  # the page's searches go out beside the patient's
        granted = grant_client(
            rich, patient_key=rich.fhir_id, patient_origin=origin_of(hospital.fhir_base)
        )
    else:
        granted = grant_client(rich)
    with live(hospital):
        _source.cache_clear()
        assert granted.client.get(granted.url()).status_code == 200
        # The citizen blocks every external organisation in Min log (this server's store).
        consent = blocks.consent_resource(
            rich, blocks.consent_id(rich, blocks.ALL), None, active=True
        )
        assert ingest_resources([consent], source=blocks.SOURCE, validate=True).ok
        assert granted.client.get(granted.url()).status_code == 404


def test_a_citizen_this_store_does_not_hold_can_block_in_min_log_with_a_live_source(
    hospital: HospitalServer, rich: Patient, fresh_source: None
) -> None:
    from indblik.followup.tests.conftest import make_citizen, signed_in

    cpr = rich.cpr
    assert cpr
    granted = grant_client(rich)
    # This server reads the record live only: its own store has no row of the citizen.
    Patient.objects.filter(pk=rich.pk).delete()
    citizen = signed_in(make_citizen(cpr))
    with live(hospital):
        _source.cache_clear()
        assert granted.client.get(granted.url()).status_code == 200
        page = citizen.get("/min-log/").content.decode()
        assert 'action="/min-log/block/"' in page  # not "the hospital has no record of you"
        response = citizen.post("/min-log/block/", {"target": "all", "confirm": "on"})
        assert response.status_code == 302
        # The block holds from the nurse's next click, read from this server's store.
        assert granted.client.get(granted.url()).status_code == 404
    holder = Patient.objects.get(cpr=cpr)
    assert holder.fhir_id.startswith("minlog-") and holder.fhir_id != rich.fhir_id
    assert (holder.family, holder.given, holder.birth_date) == ("", "", None)  # nothing else
    assert holder.resources.filter(resource_type="Consent").count() == 1
    assert AuditEvent.objects.filter(action="followup:block:change", patient_cpr=cpr).exists()
