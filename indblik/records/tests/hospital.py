"""A second Indblik server process playing the hospital's FHIR server, for the live-source tests.

:class:`HospitalServer` migrates a fresh SQLite database in a temporary directory, ingests
resources through the real command line, registers this test process as a SMART Backend
Services client (``indblik feed add … --scope record-read --jwks``) and runs ``indblik serve``
(gunicorn) on a free loopback port. :class:`FaultProxy` stands between the two when a test needs
the network or the server to misbehave: slow answers, error statuses, broken or huge bodies,
or nobody listening at all.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

from indblik.core.tests.production import clean_environment, indblik
from indblik.records.live import smart

CLIENT_ID = "indblik-kommune"
Write = Callable[[bytes], object]  # sends bytes to the client at once


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HospitalServer:
    """A real Indblik (gunicorn) with its own store, serving ``/fhir/r4/`` on loopback."""

    def __init__(
        self,
        directory: Path,
        resources: Iterable[dict[str, Any]],
        *,
        database_url: str = "",
        workers: int = 1,
        threads: int = 16,
    ) -> None:
        self.directory = directory
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.fhir_base = f"{self.base}/fhir/r4"
        self.token_url = f"{self.fhir_base}/auth/token"
        self.database = directory / "hospital.sqlite3"
        self.env = {
            "INDBLIK_MODE": "test",
            "INDBLIK_DATA_DIR": str(directory),
            "INDBLIK_BASE_URL": self.base,
            "DATABASE_URL": database_url or f"sqlite:///{self.database}",
            "INDBLIK_LOG_FORMAT": "text",
        }
        self.client_key = directory / "client-key.jwk.json"
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._run("migrate", "--no-input", "-v", "0")
        data = directory / "record.ndjson"
        with open(data, "wb") as handle:
            for resource in resources:
                handle.write(orjson.dumps(resource) + b"\n")
        self._run("ingest", str(data), "--source", "hospital-engine")
        # This test process is the client: its key pair, the public half registered there.
        self.client_key.write_text(json.dumps({"keys": [smart.new_private_jwk()]}))
        jwks = directory / "client-jwks.json"
        jwks.write_text(
            json.dumps(smart.public_jwks(smart.parse_private_keys(self.client_key.read_bytes())))
        )
        self._run("feed", "add", CLIENT_ID, "--scope", "record-read", "--jwks", str(jwks))

    def _run(self, *args: str) -> None:
        result = indblik(*args, env=self.env, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"indblik {args[0]} failed: {result.stderr[-2000:]}")

    def start(self) -> None:
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "indblik",
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
            ],
            env=clean_environment(self.env),
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hospital server exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the hospital server did not start: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def log_tail(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL on the hospital's database (what an operator or another system changed)."""
        with sqlite3.connect(self.database, timeout=30) as connection:
            rows = connection.execute(statement, params).fetchall()
            connection.commit()
        return rows

    def audit_count(self) -> int:
        return int(self.sql("SELECT COUNT(*) FROM audit_auditevent")[0][0])


@dataclass
class Fault:
    """What the proxy does to requests whose path contains ``match`` (all when empty)."""

    match: str = ""
    delay: float = 0.0
    status: int | None = None
    body: bytes | None = None
    rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    times: int | None = None  # how many requests it applies to (None: all)
    exact: bool = False  # match the whole path, not a part of it
    # Writes the whole raw answer itself, status line and all (see ``dripping``, ``flooding``);
    # the connection is closed after it.
    answer: Callable[[Write], None] | None = None


def dripping(pause: float, body: bytes = b"{}", *, head: bool = True) -> Callable[[Write], None]:
    """A 200 answer sent one byte every ``pause`` seconds: from its status line on, or
    (``head=False``) its status line and headers at once and only its body dripped."""
    start = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )

    def answer(write: Write) -> None:
        slow = start + body if head else body
        if not head:
            write(start)
        for index in range(len(slow)):
            time.sleep(pause)
            write(slow[index : index + 1])

    return answer


def flooding(chunk: int, pause: float, count: int) -> Callable[[Write], None]:
    """A 200 answer of no declared length: ``count`` chunks of ``chunk`` bytes (JSON
    whitespace), ``pause`` seconds apart, then the connection closes."""

    def answer(write: Write) -> None:
        write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        for _ in range(count):
            write(b" " * chunk)
            time.sleep(pause)

    return answer


@dataclass
class FaultProxy:
    """A loopback HTTP proxy in front of the hospital server that can be told to misbehave."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    connections: int = 0  # TCP connections accepted

    def __post_init__(self) -> None:
        proxy = self
        counting = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with counting:
                    proxy.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                proxy.handle(self, "GET")

            def do_POST(self) -> None:
                proxy.handle(self, "POST")

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.fhir_base = f"{self.base}/fhir/r4"
        self.http = httpx.Client(timeout=30)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()

    def _fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            hit = fault.match == path if fault.exact else fault.match in path
            if hit and (fault.times is None or fault.times > 0):
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        self.seen.append(f"{method} {request.path}")
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        fault = self._fault(request.path)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.answer is not None:
            request.close_connection = True
            with contextlib.suppress(OSError):  # the client hung up: the answer ends here
                fault.answer(request.wfile.write)
            return None
        if fault and fault.status is not None:
            payload = (
                fault.body if fault.body is not None else b'{"resourceType":"OperationOutcome"}'
            )
            return self._answer(request, fault.status, payload)
        if fault and fault.body is not None:
            return self._answer(request, 200, fault.body)
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("authorization", "accept", "content-type")
        }
        try:
            upstream = self.http.request(
                method, self.upstream + request.path, content=body, headers=headers
            )
        except (httpx.HTTPError, RuntimeError):  # RuntimeError: closed while a fault slept
            return self._answer(request, 502, b"")
        content = upstream.content
        # Links in answers name the upstream; the client must keep talking to the proxy.
        content = content.replace(self.upstream.encode(), self.base.encode())
        if fault and fault.rewrite is not None and upstream.status_code == 200:
            content = orjson.dumps(fault.rewrite(orjson.loads(content)))
        self._answer(request, upstream.status_code, content, upstream.headers.get("Content-Type"))
        return None

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None = None
    ) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type or "application/fhir+json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        with contextlib.suppress(OSError):
            request.wfile.write(body)


def story_resources(count: int = 3, seed: int = 7) -> list[dict[str, Any]]:
    """The synthetic citizens the chart tests load locally (the same story, the same moment)."""
    from indblik.chart.tests.conftest import STORY_NOW
    from indblik.records import synth

    return list(synth.generate(count, seed=seed, now=STORY_NOW))


def start_tls_server(hospital: HospitalServer, pki: Any, *, port: int) -> subprocess.Popen[bytes]:
    """Serve the hospital's database over TLS that asks for a client certificate (mutual TLS).

    gunicorn terminates TLS itself here (production puts nginx in front, docs/operations.md);
    a client without a certificate from ``pki.ca`` does not get past the handshake.
    """
    env = {**hospital.env, "INDBLIK_BASE_URL": f"https://127.0.0.1:{port}"}
    log = open(hospital.directory / f"tls-{port}.log", "ab")  # noqa: SIM115 - closed with it
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "indblik.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--certfile",
            str(pki.server_cert),
            "--keyfile",
            str(pki.server_key),
            "--ca-certs",
            str(pki.ca),
            "--cert-reqs",
            "2",  # ssl.CERT_REQUIRED
        ],
        env=clean_environment(env),
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the TLS server exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the TLS server did not start")


class _QuietServer(ThreadingHTTPServer):
    """The proxy's server: a client that hangs up (a test cutting a slow answer) is expected."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)
