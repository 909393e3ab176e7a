"""RFC 5424 syslog messages carrying ATNA XML, sent over TLS with RFC 5425 framing.

A message::

    <85>1 2025-03-03T09:30:00.250000Z indblik indblik - IHE+RFC-3881 [indblik@32473 eventId="41"
    action="chart:patient:read" outcome="success" rowHash="fcdd…"] \\ufeff<?xml …><AuditMessage>…

PRI is facility (authpriv = 10 by default) * 8 + severity (notice for a success, warning for a
refusal, error for an error). MSGID is ``IHE+RFC-3881`` as IHE ITI-20 requires; the event id
travels in the structured data, so a receiver can drop a message it already has.

**When is a batch delivered?** TCP syslog has no acknowledgement, so each batch gets its own
TLS connection, ended the way that proves the receiver read it: we write the frames, send TLS
close_notify, and wait until the receiver closes its side. A receiver closes only after it has
read to the end of what we sent (TLS is ordered); one that closes early, with our data unread
or still arriving, makes its kernel answer with a reset, never a clean close. On Linux we also
wait until the receiver's TCP has acknowledged every byte (SIOCOUTQ = 0). Anything else - a
refused connection, a certificate error, a reset, a timeout - means "not delivered": the
cursor stays, and the whole batch is sent again. The frames of a failed batch that did arrive
are then received twice, with the same eventId (docs/audit.md, "Forwarding").
"""

from __future__ import annotations

import errno
import fcntl
import select
import socket
import ssl
import struct
import sys
import time
from collections.abc import Sequence

from indblik.audit import canonical
from indblik.audit.actions import Outcome
from indblik.audit.forward import atna
from indblik.audit.forward.config import SyslogTarget
from indblik.audit.forward.errors import DeliveryError
from indblik.audit.forward.fhir import ssl_context
from indblik.audit.models import AuditEvent

APP_NAME = "indblik"
MSGID = "IHE+RFC-3881"
BOM = "\ufeff"
# RFC 5424 severities: notice, warning, error.
SEVERITY: dict[str, int] = {Outcome.SUCCESS: 5, Outcome.REFUSED: 4, Outcome.ERROR: 3}
if sys.platform == "linux":
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ  # == SIOCOUTQ: bytes not yet acknowledged by the peer
else:  # pragma: no cover - the forwarder runs on Linux; elsewhere trust the clean close
    _OUTQ = None


def _sd_value(text: str) -> str:
    # RFC 5424 section 6.3.3: escape ", \ and ] in a PARAM-VALUE.
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(
    event: AuditEvent, *, source_id: str, facility: int = 10, enterprise_number: int = 32473
) -> str:
    """Return ``event`` as one RFC 5424 message (no framing, no line end)."""
    pri = facility * 8 + SEVERITY.get(event.outcome, 3)
    params = [
        ("eventId", str(event.pk)),
        ("action", event.action),
        ("outcome", event.outcome),
        ("rowHash", event.row_hash),
    ]
    if event.request_id:
        params.append(("requestId", event.request_id))
    data = " ".join(f'{name}="{_sd_value(value)}"' for name, value in params)
    header = (
        f"<{pri}>1 {canonical.canonical_time(event.at)} {source_id} {APP_NAME} - {MSGID} "
        f"[{APP_NAME}@{enterprise_number} {data}]"
    )
    return f"{header} {BOM}{atna.atna_message(event, source_id=source_id)}"


def frame(message: str) -> bytes:
    """Return ``message`` with RFC 5425 octet-counting framing: ``LENGTH SP MESSAGE``."""
    payload = message.encode("utf-8")
    return b"%d %b" % (len(payload), payload)


class SyslogReceiver:
    """Sends batches to an RFC 5425 receiver, one TLS connection per batch (see the module)."""

    def __init__(self, target: SyslogTarget, *, source_id: str) -> None:
        self.name = "syslog"
        self.target = target
        self.source_id = source_id
        # Now, not at the first batch: a missing CA or key file is a configuration error.
        self._context = ssl_context(target.tls)

    def send(self, events: Sequence[AuditEvent]) -> None:
        """Deliver ``events``; return only when the receiver has provably read all of them."""
        payload = b"".join(
            frame(
                syslog_message(
                    event,
                    source_id=self.source_id,
                    facility=self.target.facility,
                    enterprise_number=self.target.enterprise_number,
                )
            )
            for event in events
        )
        try:
            self._deliver(payload)
        except DeliveryError:
            raise
        except ssl.SSLCertVerificationError as exc:
            reason = f"TLS: the receiver's certificate is not trusted ({exc.verify_message})"
            raise DeliveryError(reason) from None
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(_describe(exc)) from None

    def _deliver(self, payload: bytes) -> None:
        deadline = time.monotonic() + self.target.timeout
        raw = socket.create_connection(
            (self.target.host, self.target.port), timeout=self.target.timeout
        )
        try:
            tls = self._context.wrap_socket(raw, server_hostname=self.target.host)
        except BaseException:
            raw.close()
            raise
        with tls:
            tls.sendall(payload)
            # A receiver does not talk: a close from its side before our end of stream means it
            # stopped reading on its own, not because it had read everything.
            _refuse_early_close(tls)
            try:
                tls.unwrap()  # our close_notify; returns when the receiver answers with its own
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                pass  # it closed without close_notify: a clean close (FIN) is enough
            except OSError as exc:
                if exc.errno not in (0, None):  # errno 0: OpenSSL's EOF without a reason
                    raise
            _wait_until_acknowledged(tls, deadline)

    def close(self) -> None:
        """Nothing to release: connections live for one batch."""


def _refuse_early_close(tls: ssl.SSLSocket) -> None:
    """Raise if the receiver closed (or talked) before we ended the stream."""
    if not select.select([tls], [], [], 0)[0]:
        return
    timeout = tls.gettimeout()
    tls.setblocking(False)
    try:
        data = tls.recv(1)
    except (ssl.SSLWantReadError, BlockingIOError):
        return  # only a TLS 1.3 session ticket arrived: fine
    finally:
        tls.settimeout(timeout)
    if not data:
        raise DeliveryError("the receiver closed the connection before reading the batch")
    raise DeliveryError("the receiver sent data; an RFC 5425 receiver does not talk")


def _wait_until_acknowledged(sock: socket.socket, deadline: float) -> None:
    """Wait until the peer's TCP acknowledged every byte we sent (Linux); raise otherwise."""
    if _OUTQ is None:
        return
    buffer = bytearray(4)
    while True:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise DeliveryError(f"the connection failed: {errno.errorcode.get(error, error)}")
        fcntl.ioctl(sock.fileno(), _OUTQ, buffer)
        if struct.unpack("i", bytes(buffer))[0] == 0:
            return
        if time.monotonic() > deadline:
            raise DeliveryError("the receiver did not acknowledge the batch in time")
        time.sleep(0.005)


def _describe(exc: BaseException) -> str:
    """Return a short, content-free description of a network or TLS error."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the receiver (it did not read the whole batch)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the receiver's host name ({exc.strerror})"
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
