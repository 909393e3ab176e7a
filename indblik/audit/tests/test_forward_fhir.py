"""The forwarder against a real FHIR receiver: outages, no loss, no duplicates."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from indblik.audit.forward.config import FhirTarget, TlsFiles
from indblik.audit.forward.fhir import FhirReceiver
from indblik.audit.forward.runner import Forwarder
from indblik.audit.models import ForwardingCursor
from indblik.audit.tests.forward_kit import FhirServer, make_pki

pytestmark = pytest.mark.django_db


@pytest.fixture
def server() -> Iterator[FhirServer]:
    server = FhirServer()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def settle_at_once(settings: Any) -> None:
    settings.INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS = 0


def receiver_for(server: FhirServer, token: str = "") -> FhirReceiver:
    target = FhirTarget(url=server.url, tls=TlsFiles(), token=token, timeout=2.0)
    return FhirReceiver(target, source_id="indblik", base_url="https://indblik.example.dk")


def forwarder(receiver: FhirReceiver, stop: threading.Event | None = None) -> Forwarder:
    return Forwarder(
        [receiver],
        batch_size=4,
        poll_seconds=0.05,
        max_backoff_seconds=0.1,
        base_backoff_seconds=0.01,
        stop=stop,
    )


def cursor() -> ForwardingCursor:
    return ForwardingCursor.objects.get(receiver="fhir")


def test_it_puts_each_event_at_its_own_id_in_transaction_bundles(
    server: FhirServer, write_events: Callable[..., Any]
) -> None:
    events = write_events(6)
    assert forwarder(receiver_for(server, token="s3cret-token")).run(once=True).ok
    assert server.puts == [f"indblik-{event.pk}" for event in events]
    assert len(server.bundles) == 2  # 4 + 2
    for bundle in server.bundles:
        Bundle.model_validate(bundle)
        assert bundle["type"] == "transaction"
        assert {entry["request"]["method"] for entry in bundle["entry"]} == {"PUT"}
    assert set(server.authorizations) == {"Bearer s3cret-token"}
    assert cursor().last_id == events[-1].pk


def test_a_server_answering_503_for_a_while_loses_nothing_and_gets_no_duplicates(
    server: FhirServer, write_events: Callable[..., Any]
) -> None:
    events = write_events(10)
    server.fail = 5
    stop = threading.Event()

    def operator() -> None:
        deadline = time.monotonic() + 15
        while len(server.stored) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()

    thread = threading.Thread(target=operator)
    thread.start()
    report = forwarder(receiver_for(server), stop).run()
    thread.join()
    assert report.ok
    assert server.requests == 5 + 3  # five refusals, then batches of 4, 4, 2
    assert server.puts == [f"indblik-{event.pk}" for event in events]  # none twice
    assert list(server.stored) == server.puts
    assert cursor().last_id == events[-1].pk and cursor().attempts == 0


def test_a_failed_run_records_the_error_without_content(
    server: FhirServer, write_events: Callable[..., Any]
) -> None:
    write_events(2)
    server.fail = 1
    assert forwarder(receiver_for(server)).run(once=True).failed == ["fhir"]
    assert cursor().last_id == 0
    assert cursor().attempts == 1
    assert cursor().last_error == "the FHIR server answered HTTP 503"


def test_a_resent_batch_replaces_itself(
    server: FhirServer, write_events: Callable[..., Any]
) -> None:
    """The response to an accepted batch is lost: sending it again adds no second copy."""
    events = write_events(3)
    receiver = receiver_for(server)
    receiver.send(events)  # accepted, but (say) the answer never reached us: cursor stays
    assert forwarder(receiver).run(once=True).ok
    assert len(server.puts) == 6
    assert sorted(server.stored) == sorted(f"indblik-{event.pk}" for event in events)


def test_an_unreachable_server_is_a_delivery_failure(write_events: Callable[..., Any]) -> None:
    write_events(1)
    target = FhirTarget(url="http://127.0.0.1:9/fhir", tls=TlsFiles(), timeout=1.0)
    receiver = FhirReceiver(target, source_id="indblik", base_url="https://x.example")
    assert forwarder(receiver).run(once=True).failed == ["fhir"]
    assert "ConnectError" in cursor().last_error


def test_the_token_never_shows_in_the_targets_repr() -> None:
    target = FhirTarget(url="https://fhir.example/r4", tls=TlsFiles(), token="abc123")
    assert "abc123" not in repr(target)


def test_over_https_the_servers_certificate_must_be_trusted(
    tmp_path: Path, write_events: Callable[..., Any]
) -> None:
    pki = make_pki(tmp_path)
    server = FhirServer(pki)
    try:
        events = write_events(2)
        wrong = FhirTarget(url=server.url, tls=TlsFiles(ca_file=str(pki.other_ca)), timeout=2.0)
        receiver = FhirReceiver(wrong, source_id="indblik", base_url="https://x.example")
        assert forwarder(receiver).run(once=True).failed == ["fhir"]
        assert server.requests == 0 and cursor().last_id == 0
        assert "CERTIFICATE_VERIFY_FAILED" in cursor().last_error
        right = FhirTarget(url=server.url, tls=TlsFiles(ca_file=str(pki.ca)), timeout=2.0)
        receiver = FhirReceiver(right, source_id="indblik", base_url="https://x.example")
        assert forwarder(receiver).run(once=True).ok
        assert server.puts == [f"indblik-{event.pk}" for event in events]
    finally:
        server.stop()
