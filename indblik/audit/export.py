"""`indblik audit export`: the audit log for a period, patient or organisation, as a file.

Formats: FHIR NDJSON (one AuditEvent per line, the forwarder's mapping), syslog (one RFC 5424
message per line, the forwarder's ATNA message) and CSV (every column, safe to open in a
spreadsheet). Rows are streamed, so millions of them need no memory; a file is written under a
temporary name and renamed at the end, so an export that fails leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from django.db.models import QuerySet

from indblik.audit import canonical
from indblik.audit.forward import fhir, syslog
from indblik.audit.forward.config import FACILITIES
from indblik.audit.models import AuditEvent

FORMATS = ("fhir", "syslog", "csv")
CHUNK_SIZE = 2000
CSV_COLUMNS = (
    "id",
    "at",
    "action",
    "outcome",
    "user_id",
    "actor_name",
    "actor_authorisation",
    "actor_role",
    "actor_delegated",
    "organisation_cvr",
    "organisation_name",
    "patient_cpr",
    "section",
    "resource_ids",
    "client_ip",
    "user_agent",
    "request_id",
    "purpose",
    "reason",
    "decision_reasons",
    "details",
    "hash_version",
    "row_hash",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
# A cell starting with one of these is a formula (or a DDE/command) to Excel, LibreOffice or
# Google Sheets (OWASP CSV injection); every CSV the product writes goes through csv_safe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which events to export: ``since`` ≤ at < ``until``, one patient, one organisation."""

    since: datetime | None = None
    until: datetime | None = None
    patient_cpr: str = ""
    organisation_cvr: str = ""

    def queryset(self) -> QuerySet[AuditEvent]:
        """Return the matching events in id order."""
        events = AuditEvent.objects.all()
        if self.since is not None:
            events = events.filter(at__gte=self.since)
        if self.until is not None:
            events = events.filter(at__lt=self.until)
        if self.patient_cpr:
            events = events.filter(patient_cpr=self.patient_cpr)
        if self.organisation_cvr:
            events = events.filter(organisation_cvr=self.organisation_cvr)
        return events.order_by("id")


def csv_safe(text: str) -> str:
    """Return ``text`` so that a spreadsheet shows it instead of running it as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(event: AuditEvent) -> list[str]:
    """Return the CSV cells of one event (JSON columns as compact JSON, times canonical)."""
    values: dict[str, Any] = {
        "id": str(event.pk),
        "at": canonical.canonical_time(event.at),
        "user_id": "" if event.user_id is None else str(event.user_id),
        "actor_delegated": "true" if event.actor_delegated else "false",
        "client_ip": event.client_ip or "",
        "decision_reasons": orjson.dumps(event.decision_reasons).decode(),
        "details": orjson.dumps(event.details).decode(),
        "hash_version": str(event.hash_version),
    }
    return [csv_safe(values.get(name, getattr(event, name, ""))) for name in CSV_COLUMNS]


def write_export(
    out: IO[str],
    events: QuerySet[AuditEvent],
    *,
    format: str,
    source_id: str,
    base_url: str,
    facility: str = "authpriv",
    enterprise_number: int = 32473,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``events`` to ``out`` in ``format``; return how many were written."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}")
    writer = csv.writer(out, lineterminator="\r\n") if format == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for event in events.iterator(chunk_size=CHUNK_SIZE):
        if writer is not None:
            writer.writerow(csv_row(event))
        elif format == "fhir":
            resource = fhir.audit_event_resource(event, source_id=source_id, base_url=base_url)
            out.write(orjson.dumps(resource).decode())
            out.write("\n")
        else:
            message = syslog.syslog_message(
                event,
                source_id=source_id,
                facility=FACILITIES[facility],
                enterprise_number=enterprise_number,
            )
            out.write(message)
            out.write("\n")
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
    return count


@contextlib.contextmanager
def atomic_file(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Open a temporary file next to ``path``; rename it to ``path`` only if the block succeeds.

    The file is readable by its owner only (0600): an export holds CPR numbers.
    """
    directory = path.parent
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
