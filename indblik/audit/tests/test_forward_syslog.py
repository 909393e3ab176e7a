"""The forwarder against a real TLS syslog receiver: order, outages, resends, trust."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections

from indblik.audit.forward.config import SyslogTarget, TlsFiles
from indblik.audit.forward.runner import (
    FORWARDER_LOCK_KEY,
    Forwarder,
    ForwarderBusy,
    single_forwarder,
)
from indblik.audit.forward.syslog import SyslogReceiver
from indblik.audit.models import ForwardingCursor
from indblik.audit.tests.forward_kit import Pki, SyslogServer, make_pki

pytestmark = pytest.mark.django_db


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def server(pki: Pki) -> Iterator[SyslogServer]:
    server = SyslogServer(pki)
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def settle_at_once(settings: Any) -> None:
    """Rows count as settled as soon as they are written (the margin is tested elsewhere)."""
    settings.INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS = 0


def receiver_for(server: SyslogServer, pki: Pki, **tls: str) -> SyslogReceiver:
    files = TlsFiles(**({"ca_file": str(pki.ca)} | tls))
    target = SyslogTarget(host="localhost", port=server.port, tls=files, timeout=2.0)
    return SyslogReceiver(target, source_id="indblik")


def forwarder(receiver: SyslogReceiver, stop: threading.Event | None = None) -> Forwarder:
    return Forwarder(
        [receiver],
        batch_size=5,
        poll_seconds=0.05,
        max_backoff_seconds=0.2,
        base_backoff_seconds=0.02,
        stop=stop,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def cursor() -> ForwardingCursor:
    return ForwardingCursor.objects.get(receiver="syslog")


def test_it_delivers_every_event_once_in_order(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any]
) -> None:
    events = write_events(12)
    report = forwarder(receiver_for(server, pki)).run(once=True)
    assert report.ok and report.shipped == {"syslog": 12}
    assert server.event_ids() == [event.pk for event in events]
    assert server.connections == 3  # batches of 5, 5, 2: one connection each
    assert cursor().last_id == events[-1].pk
    # A second run has nothing to send.
    assert forwarder(receiver_for(server, pki)).run(once=True).shipped == {"syslog": 0}
    assert len(server.messages) == 12


def test_a_receiver_stopped_and_started_mid_run_gets_everything_once_in_order(
    server: SyslogServer,
    pki: Pki,
    write_events: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = write_events(40)
    stop = threading.Event()
    outage = threading.Event()

    def operator() -> None:
        try:
            wait_until(lambda: len(server.messages) >= 10)
            server.stop()  # the central log server goes down for a while
            outage.set()
            time.sleep(0.8)
            server.start()  # same port
            wait_until(lambda: len(server.messages) >= 40)
        finally:
            stop.set()

    thread = threading.Thread(target=operator)
    thread.start()
    with caplog.at_level(logging.WARNING, logger="indblik.audit.forward"):
        report = forwarder(receiver_for(server, pki), stop).run()
    thread.join()
    assert outage.is_set()
    failures = [r for r in caplog.records if "audit forwarding to syslog failed" in r.message]
    assert len(failures) >= 2, "the forwarder should have kept retrying during the outage"
    assert report.ok
    assert server.event_ids() == [event.pk for event in events]  # all, once, in order
    assert cursor().last_id == events[-1].pk
    assert cursor().attempts == 0 and cursor().last_error == ""


def test_a_receiver_that_dies_mid_batch_gets_the_batch_again_with_the_same_event_ids(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any]
) -> None:
    events = write_events(5)
    server.drop_after_frames = 2  # reads two frames of the batch, then crashes
    report = forwarder(receiver_for(server, pki)).run(once=True)
    assert not report.ok
    assert ForwardingCursor.objects.get(receiver="syslog").last_id == 0
    assert "reset" in cursor().last_error or "closed" in cursor().last_error
    assert cursor().attempts == 1
    report = forwarder(receiver_for(server, pki)).run(once=True)
    assert report.ok
    ids = [event.pk for event in events]
    # At least once on the wire: the two frames read before the crash arrive twice, with the
    # same eventId; keeping the first of each id gives every event exactly once, in order.
    assert server.event_ids() == ids[:2] + ids
    assert list(dict.fromkeys(server.event_ids())) == ids


def test_a_receiver_that_closes_without_close_notify_still_confirms(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any]
) -> None:
    server.answer_close_notify = False
    events = write_events(3)
    assert forwarder(receiver_for(server, pki)).run(once=True).ok
    assert server.event_ids() == [event.pk for event in events]
    assert cursor().last_id == events[-1].pk


def test_an_untrusted_receiver_certificate_is_refused_and_nothing_advances(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any]
) -> None:
    write_events(3)
    report = forwarder(receiver_for(server, pki, ca_file=str(pki.other_ca))).run(once=True)
    assert report.failed == ["syslog"]
    assert server.messages == []
    assert cursor().last_id == 0
    assert "certificate is not trusted" in cursor().last_error


def test_the_host_name_is_checked(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any]
) -> None:
    write_events(1)
    target = SyslogTarget(
        host="127.0.0.2", port=server.port, tls=TlsFiles(ca_file=str(pki.ca)), timeout=2.0
    )
    report = forwarder(SyslogReceiver(target, source_id="indblik")).run(once=True)
    assert report.failed == ["syslog"]
    assert server.messages == []


def test_mutual_tls_with_the_client_certificate(pki: Pki, write_events: Callable[..., Any]) -> None:
    server = SyslogServer(pki, require_client_cert=True)
    server.start()
    try:
        events = write_events(2)
        assert not forwarder(receiver_for(server, pki)).run(once=True).ok  # no certificate
        assert server.messages == []
        with_cert = receiver_for(
            server, pki, cert_file=str(pki.client_cert), key_file=str(pki.client_key)
        )
        assert forwarder(with_cert).run(once=True).ok
        assert server.event_ids() == [event.pk for event in events]
    finally:
        server.stop()


def test_a_receiver_that_is_down_fails_the_run_and_the_next_run_resumes(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any]
) -> None:
    first = write_events(3)
    assert forwarder(receiver_for(server, pki)).run(once=True).ok
    server.stop()
    second = write_events(3)
    report = forwarder(receiver_for(server, pki)).run(once=True)
    assert report.failed == ["syslog"]
    assert cursor().last_id == first[-1].pk
    assert cursor().last_error == "connection refused"
    server.start()
    assert forwarder(receiver_for(server, pki)).run(once=True).ok
    assert server.event_ids() == [event.pk for event in first + second]


def test_rows_that_are_not_settled_wait(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any], settings: Any
) -> None:
    settings.INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS = 60
    write_events(2)
    assert forwarder(receiver_for(server, pki)).run(once=True).shipped == {"syslog": 0}
    assert server.messages == []


def test_the_command_runs_until_sigterm_and_exits_cleanly(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any], settings: Any
) -> None:
    settings.INDBLIK_AUDIT_SYSLOG_URL = server.url
    settings.INDBLIK_AUDIT_SYSLOG_CA_FILE = str(pki.ca)
    settings.INDBLIK_AUDIT_FORWARD_POLL_SECONDS = 1
    events = write_events(7)

    def operator() -> None:
        wait_until(lambda: len(server.messages) >= 7)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=operator)
    thread.start()
    out = StringIO()
    call_command("audit", "forward", stdout=out)  # returns: SIGTERM stops it cleanly
    thread.join()
    assert "Forwarded events: syslog 7." in out.getvalue()
    assert server.event_ids() == [event.pk for event in events]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_the_command_with_once_fails_when_a_receiver_is_down(
    server: SyslogServer, pki: Pki, write_events: Callable[..., Any], settings: Any
) -> None:
    settings.INDBLIK_AUDIT_SYSLOG_URL = server.url
    settings.INDBLIK_AUDIT_SYSLOG_CA_FILE = str(pki.other_ca)
    write_events(1)
    with pytest.raises(CommandError, match="forwarding failed for syslog") as raised:
        call_command("audit", "forward", "--once", stdout=StringIO())
    assert raised.value.returncode == 1


def test_the_command_needs_a_receiver(settings: Any) -> None:
    settings.INDBLIK_AUDIT_SYSLOG_URL = ""
    settings.INDBLIK_AUDIT_FHIR_URL = ""
    with pytest.raises(CommandError, match="no receiver configured") as raised:
        call_command("audit", "forward", "--once")
    assert raised.value.returncode == 2


def test_only_one_forwarder_runs_at_a_time(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    if connection.vendor != "postgresql":
        with single_forwarder(), pytest.raises(ForwarderBusy), single_forwarder():
            pass
        return
    # PostgreSQL: the lock is the database's, so another session (another host) holds it.
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [FORWARDER_LOCK_KEY])
        with pytest.raises(ForwarderBusy), single_forwarder():
            pass
    finally:
        other.close()
    # Free again once that session is gone. Its backend ends a moment after the client closes
    # the connection (asynchronously, on a busy machine noticeably): allow it two seconds.
    for attempt in range(40):
        try:
            with single_forwarder():
                break
        except ForwarderBusy:
            if attempt == 39:
                raise
            time.sleep(0.05)


def test_a_missing_ca_file_is_a_configuration_error(settings: Any, tmp_path: Path) -> None:
    settings.INDBLIK_AUDIT_SYSLOG_URL = "tls://localhost:6514"
    settings.INDBLIK_AUDIT_SYSLOG_CA_FILE = str(tmp_path / "missing.pem")
    with pytest.raises(CommandError, match="cannot load the receivers' TLS files") as raised:
        call_command("audit", "forward", "--once")
    assert raised.value.returncode == 2
