"""The forwarder loop: the audit table is the outbox, one cursor per receiver.

For each receiver: read the next batch after its cursor (never past the settled horizon, see
docs/audit.md "Rows committed out of order"), send it, and only when the receiver accepted it
move the cursor to the batch's last id. A receiver that fails is retried with exponential
backoff and jitter, without holding up the others. Nothing is kept in memory between batches:
a restarted forwarder continues from the cursors.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from indblik.audit.forward.config import ForwardConfig
from indblik.audit.forward.errors import DeliveryError
from indblik.audit.forward.fhir import FhirReceiver
from indblik.audit.forward.syslog import SyslogReceiver
from indblik.audit.integrity import settled_upper_id
from indblik.audit.models import AuditEvent, ForwardingCursor
from indblik.audit.sanitize import clean_text

# Logs ids, counts and error kinds only - never an event's content (a CPR number).
logger = logging.getLogger("indblik.audit.forward")

BASE_BACKOFF_SECONDS = 1.0
# PostgreSQL advisory lock held by the running forwarder (any fixed number).
FORWARDER_LOCK_KEY = zlib.crc32(b"indblik-audit-forward")


class Receiver(Protocol):
    """Something that takes a batch of events and returns only once it accepted all of them."""

    name: str

    def send(self, events: Sequence[AuditEvent]) -> None: ...

    def close(self) -> None: ...


class ForwarderBusy(Exception):
    """Another forwarder is running against this database."""


class CursorMoved(Exception):
    """The cursor changed under us: another forwarder is running (the lock was bypassed)."""


@dataclass
class _State:
    receiver: Receiver
    failures: int = 0
    next_try: float = 0.0
    failed: bool = False
    caught_up: bool = False
    shipped: int = 0


@dataclass
class RunReport:
    """What one run of the forwarder did, per receiver."""

    shipped: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def receivers_from(config: ForwardConfig) -> list[Receiver]:
    """Return a receiver for each target configured in the settings."""
    receivers: list[Receiver] = []
    if config.syslog is not None:
        receivers.append(SyslogReceiver(config.syslog, source_id=config.source_id))
    if config.fhir is not None:
        receivers.append(
            FhirReceiver(config.fhir, source_id=config.source_id, base_url=config.base_url)
        )
    return receivers


def backoff_seconds(
    failures: int,
    *,
    base: float = BASE_BACKOFF_SECONDS,
    cap: float = 300.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Return the wait before retry number ``failures``: exponential, capped, half jittered.

    base·2^(n-1) up to ``cap``, of which a random half is dropped so that forwarders (and the
    receivers' other clients) that failed together do not retry together.
    """
    ceiling = min(cap, base * 2 ** min(failures - 1, 30))
    return ceiling / 2 + rand() * ceiling / 2


class Forwarder:
    """Ships audit events to receivers, each in id order and once (docs/audit.md)."""

    def __init__(
        self,
        receivers: Sequence[Receiver],
        *,
        batch_size: int,
        poll_seconds: float,
        max_backoff_seconds: float,
        base_backoff_seconds: float = BASE_BACKOFF_SECONDS,
        stop: threading.Event | None = None,
    ) -> None:
        names = [receiver.name for receiver in receivers]
        if len(set(names)) != len(names):
            raise ValueError("receiver names must be unique")
        self.receivers = list(receivers)
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.base_backoff_seconds = base_backoff_seconds
        self.stop = stop or threading.Event()

    def run(self, *, once: bool = False) -> RunReport:
        """Forward until stopped (``once``: until every receiver is caught up or has failed).

        With ``once`` a failed receiver is not retried in this run (the next run resumes);
        without it, failures are retried with backoff for as long as the process lives.
        Returns after the batch in flight when ``stop`` is set (SIGTERM).
        """
        states = [_State(receiver) for receiver in self.receivers]
        try:
            while not self.stop.is_set():
                for state in states:
                    if self.stop.is_set():
                        break
                    if state.failed and once:
                        continue
                    if time.monotonic() < state.next_try:
                        continue
                    self._step(state)
                if once and all(state.failed or state.caught_up for state in states):
                    break
                if not once and all(
                    state.caught_up or state.next_try > time.monotonic() for state in states
                ):
                    self.stop.wait(self._pause(states))
                    for state in states:
                        state.caught_up = False
        finally:
            for state in states:
                state.receiver.close()
        return RunReport(
            shipped={state.receiver.name: state.shipped for state in states},
            failed=[state.receiver.name for state in states if state.failed],
        )

    def _pause(self, states: list[_State]) -> float:
        now = time.monotonic()
        waits = [self.poll_seconds]
        waits += [state.next_try - now for state in states if state.next_try > now]
        return max(0.0, min(waits))

    def _step(self, state: _State) -> None:
        name = state.receiver.name
        try:
            shipped = ship_batch(state.receiver, self.batch_size)
        except DeliveryError as exc:
            state.failures += 1
            state.failed = True
            delay = backoff_seconds(
                state.failures, base=self.base_backoff_seconds, cap=self.max_backoff_seconds
            )
            state.next_try = time.monotonic() + delay
            _note_failure(name, str(exc))
            logger.warning(
                "audit forwarding to %s failed (%s); attempt %d, next try in %.1f s",
                name,
                exc,
                state.failures,
                delay,
            )
            return
        if state.failures:
            logger.info("audit forwarding to %s works again", name)
        state.failures = 0
        state.failed = False
        state.next_try = 0.0
        state.shipped += shipped
        state.caught_up = shipped < self.batch_size


def ship_batch(receiver: Receiver, batch_size: int) -> int:
    """Send the next settled batch after the receiver's cursor; return how many were sent.

    The cursor moves, in one checked UPDATE, only after ``receiver.send`` returned: a failure
    anywhere before leaves it where it was and the same events are sent next time.
    """
    cursor, _ = ForwardingCursor.objects.get_or_create(receiver=receiver.name)
    upper = settled_upper_id(after_id=cursor.last_id)
    if upper is None:
        return 0
    events = list(
        AuditEvent.objects.filter(id__gt=cursor.last_id, id__lte=upper).order_by("id")[:batch_size]
    )
    if not events:
        return 0
    receiver.send(events)
    with transaction.atomic():
        moved = ForwardingCursor.objects.filter(pk=cursor.pk, last_id=cursor.last_id).update(
            last_id=events[-1].pk, attempts=0, last_error="", updated_at=timezone.now()
        )
        if moved != 1:
            raise CursorMoved(f"the {receiver.name} cursor moved: is another forwarder running?")
    logger.info(
        "forwarded %d audit events to %s (ids %d-%d)",
        len(events),
        receiver.name,
        events[0].pk,
        events[-1].pk,
    )
    return len(events)


def _note_failure(name: str, error: str) -> None:
    ForwardingCursor.objects.filter(receiver=name).update(
        attempts=F("attempts") + 1,
        last_error=clean_text(error, 500),
        updated_at=timezone.now(),
    )


@contextmanager
def single_forwarder() -> Iterator[None]:
    """Hold the forwarder lock for the block; raise ForwarderBusy if another one holds it.

    Two forwarders would send each batch twice. PostgreSQL: a session advisory lock (works
    across hosts); SQLite: an exclusive lock on a file next to the database.
    """
    if connection.vendor == "postgresql":
        key = FORWARDER_LOCK_KEY
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            (locked,) = cursor.fetchone()
        if not locked:
            raise ForwarderBusy("another `indblik audit forward` is running on this database")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    path = Path(settings.DATA_DIR) / "audit-forward.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ForwarderBusy("another `indblik audit forward` is running here") from None
        yield
    finally:
        os.close(descriptor)
