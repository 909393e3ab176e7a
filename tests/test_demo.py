"""`make demo` runs `indblik demo`: it prepares the database and serves on loopback only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDBLIK_", "DATABASE_URL"))}
    env.update({"INDBLIK_MODE": "demo", "INDBLIK_DATA_DIR": str(tmp_path)})
    return env


@pytest.mark.slow
def test_the_demo_serves_synthetic_citizens_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "indblik", "demo", "--port", str(port), "--patients", "3"],
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read() if server.stdout else ""
                    pytest.fail(f"demo did not start:\n{output}")
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert "Indblik" in response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as r:
            assert r.status == 200
        # Sign-in goes to the demo identity provider on this same port (the SAML URLs derive
        # from the base URL, which the demo sets to where it listens).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/saml2/login/", timeout=10) as r:
            assert r.url.startswith(f"http://127.0.0.1:{port}/demo-idp/")
            assert "Mette Holm" in r.read().decode()
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "/admin/" in output and "Generating 3 synthetic citizens" in output
    password = (tmp_path / "demo-admin-password").read_text().strip()
    assert password and password in output
    assert (tmp_path / "indblik.sqlite3").exists()


def test_the_demo_refuses_to_run_outside_demo_mode(tmp_path: Path) -> None:
    env = demo_env(tmp_path) | {"INDBLIK_MODE": "test"}
    result = subprocess.run(
        [sys.executable, "-m", "indblik", "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "INDBLIK_MODE=demo" in result.stderr


def test_serve_refuses_a_public_address_in_demo_mode(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "indblik", "serve", "--bind", "0.0.0.0:8000"],
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "loopback" in result.stderr
