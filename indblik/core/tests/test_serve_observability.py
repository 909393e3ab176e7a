"""A real production-mode ``indblik serve`` with two workers: metrics add up over the workers
(and survive a worker's death), and every line on stderr is JSON with request ids."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from indblik.core.tests.production import clean_environment, indblik, production_environment
from indblik.core.tests.test_deploy_nginx import free_port, wait_for_port

pytestmark = pytest.mark.slow

HOST = "indblik.test"
COUNT_LINE = 'indblik_http_request_duration_seconds_count{method="GET",status="2xx",view="healthz"}'


@dataclass
class Server:
    port: int
    token: str
    metrics_dir: Path
    log: Path
    process: subprocess.Popen[bytes]


def get(
    server: Server, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        # As nginx would pass it on (the app redirects plain http to https otherwise).
        connection.request(
            "GET", path, headers={"Host": HOST, "X-Forwarded-Proto": "https", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def scrape(server: Server) -> str:
    status, _, body = get(server, "/metrics", {"Authorization": f"Bearer {server.token}"})
    assert status == 200, body[:300]
    return body.decode()


def healthz_count(server: Server) -> float:
    for line in scrape(server).splitlines():
        if line.startswith(COUNT_LINE + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def per_worker(server: Server) -> dict[int, float]:
    """Return each worker's own count of /healthz answers, read from its file."""
    counts: dict[int, float] = {}
    for path in sorted(server.metrics_dir.glob("histogram_*.db")):
        pid = int(path.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(path)], accumulate=True):
            for s in metric.samples:
                if s.name.endswith("_count") and s.labels.get("view") == "healthz":
                    counts[pid] = counts.get(pid, 0.0) + s.value
    return counts


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve")
    token = secrets.token_urlsafe(32)
    (root / "metrics-token").write_text(token + "\n")
    env = production_environment(root / "app", base_url=f"https://{HOST}")
    env |= {
        "INDBLIK_TRUSTED_PROXIES": "127.0.0.1/32",
        "INDBLIK_METRICS_TOKEN_FILE": str(root / "metrics-token"),
        "INDBLIK_METRICS_NETWORKS": "127.0.0.0/8",
    }
    migrated = indblik("migrate", "--no-input", env=env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    collected = indblik("collectstatic", "--no-input", env=env, timeout=300)
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    metrics_dir = root / "app" / "run" / f"metrics-127_0_0_1-{port}"
    # Left over from an earlier run: `indblik serve` must start from an empty directory.
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_4242.db").write_bytes(b"stale")
    log = root / "serve.log"
    environment = clean_environment(env)
    environment.pop("RUNTIME_DIRECTORY", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("indblik")),
                "serve",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "2",
            ],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log)
        yield Server(port, token, metrics_dir, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_scrape_adds_up_the_requests_of_both_workers(server: Server) -> None:
    assert not (server.metrics_dir / "counter_4242.db").exists()
    assert get(server, "/metrics")[0] == 401
    sent = 0
    # Concurrent requests on new connections: both workers get some. Go on until they have.
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(20):
            statuses = list(pool.map(lambda _: get(server, "/healthz")[0], range(16)))
            assert statuses == [200] * 16
            sent += 16
            if len(per_worker(server)) >= 2:
                break
    workers = per_worker(server)
    assert len(workers) == 2, workers
    assert all(count > 0 for count in workers.values()), workers
    assert sum(workers.values()) == sent
    assert healthz_count(server) == sent

    # A worker that dies keeps its counts in the sum; gunicorn starts another one.
    victim = min(workers)
    os.kill(victim, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if get(server, "/healthz")[0] == 200:
            sent += 1
        if victim not in _worker_pids(server.process.pid):
            break
        time.sleep(0.5)
    assert victim not in _worker_pids(server.process.pid)
    assert healthz_count(server) == sent


def _worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_every_line_is_json_with_the_request_id_and_no_query_string(server: Server) -> None:
    _, headers, _ = get(server, "/launch?launch_token=do-not-log-me-0101504444")
    request_id = headers["X-Request-ID"]
    deadline = time.monotonic() + 10
    while request_id not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = server.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "nothing logged"
    # gunicorn's own lines (start-up, workers) are JSON too.
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    mine = [line for line in lines if line["request_id"] == request_id]
    assert {"indblik.access", "indblik.request"} <= {line["logger"] for line in mine}, mine
    (request_line,) = [line for line in mine if line["logger"] == "indblik.request"]
    assert (request_line["route"], request_line["status"]) == ("access:launch", 400)
    assert "do-not-log-me" not in text and "launch_token" not in text
    assert "0101504444" not in text
