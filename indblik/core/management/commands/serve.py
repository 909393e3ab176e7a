from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.core.server import THREADS, exec_gunicorn, is_loopback, parse_bind


class Command(BaseCommand):
    help = "Run the production server (gunicorn)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT to listen on")
        parser.add_argument(
            "--workers",
            type=int,
            default=2 * (os.cpu_count() or 1) + 1,
            help="worker processes (default: 2 x cores + 1)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=THREADS,
            help=f"threads per worker (default: {THREADS})",
        )

    def handle(self, *args: Any, bind: str, workers: int, threads: int, **options: Any) -> None:
        host, _port = parse_bind(bind)
        if settings.DEMO and not is_loopback(host):
            raise CommandError("demo mode serves only on loopback (127.0.0.1 or ::1)")
        if not 1 <= workers <= 64:
            raise CommandError("--workers must be between 1 and 64")
        if not 1 <= threads <= 64:
            raise CommandError("--threads must be between 1 and 64")
        exec_gunicorn(bind, workers, threads=threads)
