"""Start gunicorn for ``indblik serve`` and ``indblik demo``.

This module is also gunicorn's configuration (``--config python:indblik.core.server``):
gunicorn's master reads ``child_exit`` and ``logconfig_dict`` from it, and nothing else here
is a gunicorn setting.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from indblik.core.logs import gunicorn_logging


def parse_bind(bind: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) and check both parts."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--bind must be HOST:PORT, not {bind!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """Return True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Threads per worker: a page spends much of its time waiting on the database (the audit row's
# durable commit above all), and a sync worker would sit idle through every wait.
THREADS = 4

# Longer than nginx's longest proxy_read_timeout (300 s for a large Bundle on /fhir/r4/,
# deploy/nginx/indblik.conf), so that nginx, not gunicorn, ends a request that takes too long.
# With threads (the default) gunicorn uses it only to restart a worker whose main loop hangs;
# with --threads 1 (sync workers) it would kill a request running longer, ingestion included.
TIMEOUT_SECONDS = 310
# How long a reload or stop lets requests in flight finish (systemd's TimeoutStopSec is 40).
GRACEFUL_TIMEOUT_SECONDS = 20

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_directory(bind: str, data_dir: Path) -> Path:
    """Return an empty directory for this server's metrics files (one per bind address).

    Under systemd's ``RuntimeDirectory=`` (``$RUNTIME_DIRECTORY``, a tmpfs that goes away
    with the service) if there is one, else under the data directory. Emptied here at every
    start: values of a previous run must not be added to this one's.
    """
    host, port = parse_bind(bind)
    base = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    root = Path(base) if base else data_dir / "run"
    directory = root / f"metrics-{re.sub(r'[^A-Za-z0-9]', '_', host) or 'any'}-{port}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)
    return directory


def exec_gunicorn(
    bind: str, workers: int, *, threads: int = THREADS, extra: list[str] | None = None
) -> None:
    """Replace this process with gunicorn serving Indblik (signals then reach gunicorn)."""
    from django.conf import settings

    # Read by prometheus_client in every worker (the values of all workers add up) and by
    # gunicorn's master here (child_exit, logconfig_dict): set before gunicorn starts.
    os.environ[MULTIPROCESS_ENV] = str(metrics_directory(bind, Path(settings.DATA_DIR)))
    os.environ["INDBLIK_LOG_FORMAT"] = settings.INDBLIK_LOG_FORMAT
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "indblik.wsgi:application",
        "--config",
        "python:indblik.core.server",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        # No gunicorn access log: its lines hold the query string (a GET launch's token).
        # indblik.core.logs.RequestLogMiddleware writes one line per request instead.
        "--timeout",
        str(TIMEOUT_SECONDS),
        "--graceful-timeout",
        str(GRACEFUL_TIMEOUT_SECONDS),
        "--limit-request-line",
        "8190",
        # systemd (signals) runs the server. gunicorn's control socket would sit at one path
        # per user (~/.gunicorn/gunicorn.ctl), shared by every instance on the host.
        "--no-control-socket",
        *(extra or []),
    ]
    os.execv(sys.executable, args)  # noqa: S606 - fixed arguments, no shell


# --- gunicorn's configuration (read by its master from this module) --------------------------
def child_exit(server: Any, worker: Any) -> None:
    """Tell prometheus_client that a worker is gone (its counts stay in the sums)."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


_logging = gunicorn_logging(
    os.environ.get("INDBLIK_LOG_FORMAT", "text"), os.environ.get("INDBLIK_LOG_LEVEL") or "INFO"
)
if _logging is not None:
    logconfig_dict = _logging
