"""Start gunicorn for ``indblik serve`` and ``indblik demo``."""

from __future__ import annotations

import ipaddress
import os
import sys

from django.core.management.base import CommandError


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


def exec_gunicorn(
    bind: str, workers: int, *, threads: int = THREADS, extra: list[str] | None = None
) -> None:
    """Replace this process with gunicorn serving Indblik (signals then reach gunicorn)."""
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "indblik.wsgi:application",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--access-logfile",
        "-",
        "--timeout",
        "30",
        "--graceful-timeout",
        "20",
        "--limit-request-line",
        "8190",
        *(extra or []),
    ]
    os.execv(sys.executable, args)  # noqa: S606 - fixed arguments, no shell
