"""/metrics: off until configured, then only for the scraper's networks and token; no personal
data in any label; request, audit, launch, source-error and forwarder-lag metrics counted."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import Client
from prometheus_client.registry import REGISTRY

from indblik import audit
from indblik.access.testing import Granted, grant_client
from indblik.audit.models import ForwardingCursor
from indblik.chart.tests.conftest import load_citizens, richest_patient
from indblik.core import metrics
from indblik.core.tests.test_settings import start

TOKEN = "m3tr1cs-" + "Zq8Pw3Lm7xR2vT9nB4cY6hJ1dF5gS0aE"
SCRAPER = "192.0.2.50"
PROXY = "10.0.0.1"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_of(view: str, method: str = "GET", status: str = "2xx") -> float:
    return sample(
        "indblik_http_request_duration_seconds_count", view=view, method=method, status=status
    )


def scrape(client: Client | None = None, **headers: Any) -> Any:
    return (client or Client(REMOTE_ADDR=SCRAPER)).get("/metrics", **headers)


@pytest.fixture
def token(settings: Any) -> str:
    settings.INDBLIK_METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def networks(settings: Any) -> None:
    settings.INDBLIK_METRICS_NETWORKS = [ipaddress.ip_network("192.0.2.0/26")]
    settings.INDBLIK_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]


@pytest.fixture
def nurse(db: Any) -> Granted:
    load_citizens(1)
    return grant_client(richest_patient())


# --- protection -----------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_endpoint_is_not_found_until_it_is_configured() -> None:
    assert scrape().status_code == 404
    assert scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


@pytest.mark.django_db
def test_a_scrape_without_the_right_bearer_token_is_refused(token: str) -> None:
    missing = scrape()
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"indblik_" not in missing.content
    assert scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN[:-1]}").status_code == 401
    assert scrape(HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    answer = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    assert "no-store" in answer["Cache-Control"]
    assert b"# TYPE indblik_http_request_duration_seconds histogram" in answer.content


@pytest.mark.django_db
def test_a_scrape_from_outside_the_metrics_networks_is_refused(networks: None) -> None:
    assert scrape(Client(REMOTE_ADDR="192.0.2.100")).status_code == 403
    assert scrape(Client(REMOTE_ADDR=SCRAPER)).status_code == 200
    # Through the trusted proxy, the scraper's address is the forwarded one.
    via_proxy = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=SCRAPER)
    assert scrape(via_proxy).status_code == 200
    outsider = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert scrape(outsider).status_code == 403
    # Anyone else's X-Forwarded-For is not believed.
    forged = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=SCRAPER)
    assert scrape(forged).status_code == 403


@pytest.mark.django_db
def test_with_both_set_a_scrape_needs_both(token: str, networks: None) -> None:
    assert scrape().status_code == 401
    outsider = Client(REMOTE_ADDR="198.51.100.7")
    assert scrape(outsider, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    assert scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert Client(REMOTE_ADDR=SCRAPER).post("/metrics").status_code == 405


# --- what is counted --------------------------------------------------------------------------
def test_a_chart_page_is_counted_by_route_name_without_personal_data(
    nurse: Granted, token: str
) -> None:
    snapshot, section = requests_of("chart:snapshot"), requests_of("chart:section")
    writes = sample("indblik_audit_write_duration_seconds_count")
    assert nurse.client.get(nurse.url()).status_code == 200
    assert nurse.client.get(nurse.url("lab")).status_code == 200
    assert requests_of("chart:snapshot") == snapshot + 1
    assert requests_of("chart:section") == section + 1
    assert sample("indblik_audit_write_duration_seconds_count") >= writes + 2

    text = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert 'method="GET",status="2xx",view="chart:snapshot"}' in text
    patient = richest_patient()
    assert patient.cpr
    for secret in (
        patient.cpr,
        patient.cpr[:6],
        nurse.handle,
        nurse.user.username,
        nurse.user.persistent_id,
        nurse.user.full_name,
        "/chart/",
    ):
        assert secret not in text, secret


@pytest.mark.django_db
def test_an_unknown_path_and_a_strange_method_do_not_make_new_labels() -> None:
    before = requests_of("<unmatched>", status="4xx")
    Client().get("/no-such-page/0101504444/")
    assert requests_of("<unmatched>", status="4xx") == before + 1
    before = requests_of("healthz", method="other", status="4xx")
    Client().generic("PROPFIND", "/healthz")
    assert requests_of("healthz", method="other", status="4xx") == before + 1


@pytest.mark.django_db
def test_launch_outcomes_are_counted_by_stage_and_reason_code() -> None:
    def launches(outcome: str, reason: str) -> float:
        return sample(
            "indblik_launch_outcomes_total", stage="token", outcome=outcome, reason=reason
        )

    missing, plain = launches("refused", "missing-token"), launches("refused", "not-encrypted")
    Client().post("/launch")
    Client().post("/launch", {"launch_token": "not.a.token"})  # a plain JWS, by its shape
    assert launches("refused", "missing-token") == missing + 1
    assert launches("refused", "not-encrypted") == plain + 1


def test_record_source_errors_are_counted_with_bounded_labels() -> None:
    def errors(source: str, kind: str) -> float:
        return sample("indblik_record_source_errors_total", source=source, kind=kind)

    before = errors("fhir", "timeout"), errors("other", "other")
    metrics.source_error("fhir", "timeout")
    # Whatever a caller passes, no free text (let alone a CPR number) becomes a label.
    metrics.source_error("https://fhir.example.dk", "Patient 0101504444 not found")
    assert (errors("fhir", "timeout"), errors("other", "other")) == (before[0] + 1, before[1] + 1)


@pytest.mark.django_db
def test_the_forwarder_lag_is_read_from_the_cursors_when_scraped(settings: Any, token: str) -> None:
    def lag_lines() -> list[str]:
        text = scrape(HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
        return [line for line in text.splitlines() if line.startswith("indblik_audit_forward")]

    assert lag_lines() == []  # no receiver configured: nothing to report
    settings.INDBLIK_AUDIT_SYSLOG_URL = "tls://siem.example.dk:6514"
    settings.INDBLIK_AUDIT_FHIR_URL = "https://fhir.example.dk/r4"
    events = [
        audit.record(None, audit.Action.PATIENT_READ, patient_cpr="0101701234") for _ in range(3)
    ]
    ForwardingCursor.objects.create(receiver="syslog", last_id=events[0].pk, attempts=2)
    ForwardingCursor.objects.create(receiver="fhir", last_id=events[-1].pk)
    lines = lag_lines()
    assert 'indblik_audit_forward_lag_events{receiver="syslog"} 2.0' in lines
    assert 'indblik_audit_forward_lag_events{receiver="fhir"} 0.0' in lines
    assert 'indblik_audit_forward_failed_attempts{receiver="syslog"} 2.0' in lines
    assert 'indblik_audit_forward_lag_seconds{receiver="fhir"} 0.0' in lines
    age = next(line for line in lines if 'lag_seconds{receiver="syslog"}' in line)
    assert 0.0 < float(age.rsplit(" ", 1)[1]) < 60


def test_a_short_or_placeholder_token_stops_the_start(tmp_path: Any) -> None:
    for value in ("too-short", "changeme-" + "x" * 40):
        result = start({"INDBLIK_MODE": "test", "INDBLIK_METRICS_TOKEN": value}, tmp_path)
        assert result.returncode != 0
        assert "INDBLIK_METRICS_TOKEN" in result.stderr
    good = {"INDBLIK_MODE": "test", "INDBLIK_METRICS_TOKEN": TOKEN, "INDBLIK_METRICS_NETWORKS": "x"}
    assert "INDBLIK_METRICS_NETWORKS" in start(good, tmp_path).stderr
    good["INDBLIK_METRICS_NETWORKS"] = "192.0.2.0/26,2001:db8::/64"
    assert start(good, tmp_path).stdout.strip() == "started"
