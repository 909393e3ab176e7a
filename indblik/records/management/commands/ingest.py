"""``indblik ingest FILE… [--source NAME]``: store FHIR R4 Bundles, NDJSON or single resources."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.records.ingest import IngestResult, ingest_payload
from indblik.records.ingest import parallel as ingest_parallel

_BY_SUFFIX = {
    ".ndjson": "application/fhir+ndjson",
    ".jsonl": "application/fhir+ndjson",
    ".json": "application/fhir+json",
}
_MAX_ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Store FHIR R4 data: Bundles (transaction, batch, collection), NDJSON, or one resource. "
        "Use - for stdin. Exits 0 only if everything was stored; a transaction Bundle is stored "
        "entirely or not at all."
    )
    # Only the model checks (~10 ms): the others (URL configuration, templates, deployment
    # settings) do not concern loading data and cost half a second of start-up, which is a
    # large share of a run that ingests a few thousand resources. `indblik check` runs them all.
    requires_system_checks = [checks.Tags.models]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="a file, or - for stdin")
        parser.add_argument(
            "--source", default="cli", help="name recorded as the data's source (default: cli)"
        )
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=None,
            help="largest file accepted (default: INDBLIK_INGEST_MAX_BYTES)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        files: list[str] = options["files"]
        # Check every name before storing anything: a typo in the third name must not leave
        # the first two stored and the operator guessing.
        for name in files:
            _check_readable(name)
        incomplete = 0
        try:
            for name in files:
                result = self._ingest(name, options["source"], options["max_bytes"])
                if not result.ok:
                    incomplete += 1
        finally:
            ingest_parallel.shutdown()
        if incomplete:
            raise CommandError(
                f"{incomplete} of {len(files)} input(s) not stored completely (see above)",
                returncode=1,
            )

    def _ingest(self, name: str, source: str, max_bytes: int | None) -> IngestResult:
        label = "stdin" if name == "-" else name
        progress = _Progress(self.stderr, label) if self.stderr.isatty() else None
        content_type = _BY_SUFFIX.get(Path(name).suffix.lower()) if name != "-" else None
        try:
            with _open(name) as stream:
                result = ingest_payload(
                    stream,
                    source=source,
                    channel="cli",
                    content_type=content_type,
                    max_bytes=max_bytes,
                    progress=progress,
                    parallel=None,
                )
        except OSError as exc:
            raise CommandError(f"{label}: cannot read: {exc.strerror or exc}") from None
        finally:
            if progress is not None:
                progress.done()
        for error in result.errors[:_MAX_ERRORS_SHOWN]:
            separator = ":" if error.entry_index is not None else ": "
            self.stderr.write(f"{label}{separator}{error}")
        hidden = len(result.errors) + result.errors_omitted - _MAX_ERRORS_SHOWN
        if hidden > 0:
            self.stderr.write(f"{label}: … and {hidden} more problems")
        self.stdout.write(f"{label}: {_verdict(result)} (run {result.run_id})")
        return result


def _verdict(result: IngestResult) -> str:
    if result.refused_status is not None:
        return "refused, nothing stored"
    if result.kind == "transaction" and not result.ok:
        return f"transaction refused, nothing stored ({result.failed} entries failed)"
    return f"{result.kind}: {result.summary()}"


def _check_readable(name: str) -> None:
    if name == "-":
        return
    path = Path(name)
    if not path.exists():
        raise CommandError(f"{name}: no such file")
    if path.is_dir():
        raise CommandError(f"{name}: is a directory (name the files in it)")
    if not os.access(path, os.R_OK):
        raise CommandError(f"{name}: not readable")


def _open(name: str) -> contextlib.AbstractContextManager[IO[bytes]]:
    if name == "-":
        # stdin is not ours to close.
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(name, "rb")


class _Progress:
    """One updating line on a terminal: resources so far and the rate."""

    def __init__(self, stream: Any, label: str) -> None:
        self.stream = stream
        self.label = label
        self.started = time.monotonic()
        self.shown = 0.0
        self.count = 0

    def __call__(self, count: int) -> None:
        self.count = count
        now = time.monotonic()
        if now - self.shown >= 0.2:
            self.shown = now
            rate = count / max(now - self.started, 1e-6)
            self.stream.write(
                f"\r{self.label}: {count:,} resources, {rate:,.0f}/s\x1b[K", ending=""
            )
            self.stream.flush()

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K", ending="")
            self.stream.flush()
