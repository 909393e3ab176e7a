"""Real receivers for the forwarder's tests: a TLS syslog server and a FHIR server.

Both run in a thread on 127.0.0.1, can be stopped and started again on the same port, and
keep what they received. The PKI (a CA, the server's and a client's certificate, and an
unrelated CA) is made at test time (``indblik.core.tests.pki``).
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from indblik.core.tests.pki import Authority, subject_of


@dataclass(frozen=True)
class Pki:
    """Paths of the test PKI's files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def make_pki(directory: Path) -> Pki:
    """Create a CA, a server certificate (localhost, 127.0.0.1), a client one, another CA."""
    ca = Authority(directory, "Indblik test CA")
    server = ca.issue("server", subject_of("CN=localhost"), dns=("localhost",), ips=("127.0.0.1",))
    client = ca.issue("client", subject_of("CN=indblik-forwarder"))
    other = Authority(directory, "Some other CA")
    return Pki(
        ca=ca.path,
        server_cert=server.cert,
        server_key=server.key,
        client_cert=client.cert,
        client_key=client.key,
        other_ca=other.path,
    )


# --- RFC 5425 syslog receiver -------------------------------------------------------------
_EVENT_ID = re.compile(r'eventId="(\d+)"')


def parse_frames(data: bytes) -> tuple[list[str], bytes]:
    """Split RFC 5425 octet-counted frames; return the messages and the incomplete rest."""
    messages: list[str] = []
    while True:
        space = data.find(b" ")
        if space <= 0:
            return messages, data
        length = int(data[:space])
        if len(data) < space + 1 + length:
            return messages, data
        messages.append(data[space + 1 : space + 1 + length].decode("utf-8"))
        data = data[space + 1 + length :]


def event_id_of(message: str) -> int:
    """Return the eventId from a message's structured data."""
    match = _EVENT_ID.search(message)
    assert match is not None, message
    return int(match.group(1))


class SyslogServer:
    """A TLS syslog server (RFC 5425) that reads each connection to its end, then closes.

    ``drop_after_frames``: on the next connection, read that many frames, then close without
    reading the rest (a receiver dying mid-batch). ``answer_close_notify``: reply to the
    client's close_notify with our own (like OpenSSL-based daemons) or just close (FIN).
    """

    def __init__(self, pki: Pki, *, require_client_cert: bool = False) -> None:
        self.pki = pki
        self.require_client_cert = require_client_cert
        self.messages: list[str] = []
        self.connections = 0
        self.drop_after_frames: int | None = None
        self.answer_close_notify = True
        self.port = 0
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        if self.require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.pki.ca)
        return context

    def start(self) -> None:
        context = self._context()
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    tls = context.wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                with receiver._lock:
                    receiver.connections += 1
                    drop = receiver.drop_after_frames
                    receiver.drop_after_frames = None
                tls.settimeout(10)
                buffer = b""
                got = 0
                try:
                    while True:
                        try:
                            chunk = tls.recv(65536 if drop is None else 64)
                        except ssl.SSLZeroReturnError:
                            chunk = b""
                        if not chunk:
                            break
                        buffer += chunk
                        messages, buffer = parse_frames(buffer)
                        if drop is not None:
                            messages = messages[: max(0, drop - got)]
                        with receiver._lock:
                            receiver.messages.extend(messages)
                        got += len(messages)
                        if drop is not None and got >= drop:
                            # Die mid-batch: the unread rest makes the kernel send a reset.
                            tls.setsockopt(
                                socket.SOL_SOCKET,
                                socket.SO_LINGER,
                                b"\x01\x00\x00\x00\x00\x00\x00\x00",
                            )
                            tls.close()
                            return
                    if receiver.answer_close_notify:
                        tls.unwrap()
                except (ssl.SSLError, OSError):
                    pass
                finally:
                    tls.close()

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting connections (a connection being served is read to its end)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"tls://localhost:{self.port}"

    def event_ids(self) -> list[int]:
        with self._lock:
            return [event_id_of(message) for message in self.messages]


# --- FHIR receiver ---------------------------------------------------------------------
class FhirServer:
    """A FHIR server's transaction endpoint: 503 for the first ``fail`` requests, then stores.

    Resources are stored by id (PUT is an upsert), so ``stored`` shows what a real server
    would hold; ``puts`` lists every id received, duplicates included.
    """

    def __init__(self, pki: Pki | None = None) -> None:
        self.pki = pki
        self.fail = 0
        self.stored: dict[str, dict[str, Any]] = {}
        self.puts: list[str] = []
        self.requests = 0
        self.authorizations: list[str | None] = []
        self.bundles: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests += 1
                    receiver.authorizations.append(self.headers.get("Authorization"))
                    if receiver.fail > 0:
                        receiver.fail -= 1
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    bundle = json.loads(body)
                    receiver.bundles.append(bundle)
                    for entry in bundle["entry"]:
                        resource = entry["resource"]
                        receiver.puts.append(resource["id"])
                        receiver.stored[resource["id"]] = resource
                answer = {
                    "resourceType": "Bundle",
                    "type": "transaction-response",
                    "entry": [{"response": {"status": "201 Created"}} for _ in bundle["entry"]],
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if pki is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(pki.server_cert, pki.server_key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.pki is not None else "http"
        return f"{scheme}://localhost:{self._server.server_address[1]}/fhir"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
