"""``indblik audit …``: checkpoints, verification, forwarding and export of the audit log.

Exit status: 0 when all is well, 1 when the log (or a row to be sealed) fails a check or a
receiver failed, 2 when a key or a receiver is missing or unusable (configuration).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import signal
import ssl
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max
from django.utils import timezone

from indblik.audit import Action, Actor, integrity, keys, record
from indblik.audit import export as audit_export
from indblik.audit.errors import AuditKeyError, AuditWriteError
from indblik.audit.forward import config as forward_config
from indblik.audit.forward.runner import Forwarder, ForwarderBusy, receivers_from, single_forwarder
from indblik.audit.models import AuditEvent

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = (
        "The audit log: `checkpoint` signs new rows, `verify` checks the whole log, `forward` "
        "ships it to central logging, `export` writes it to a file."
    )
    # Verifying must work on an auditor's machine and while other parts are misconfigured.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
        subcommands.add_parser(
            "checkpoint", help="sign a checkpoint over the rows written since the last one"
        )
        verify = subcommands.add_parser(
            "verify", help="check every row, checkpoint, signature and the chain; exit 1 if bad"
        )
        verify.add_argument(
            "--processes",
            type=int,
            default=1,
            metavar="N",
            help="check the rows with N worker processes (default 1: leave the CPUs to the site)",
        )
        verify.add_argument(
            "--expect",
            action="append",
            default=[],
            metavar="SEQUENCE:DIGEST",
            type=_anchor,
            help="a checkpoint digest kept outside the database (as `checkpoint` printed it); "
            "fails if that checkpoint is gone or differs. Repeatable.",
        )
        subcommands.add_parser(
            "public-key", help="print the checkpoint signing key's public half (PEM) and key id"
        )
        forward = subcommands.add_parser(
            "forward",
            help="ship new events to the configured syslog/FHIR receivers, in order and once",
        )
        forward.add_argument(
            "--once",
            action="store_true",
            help="ship what is there and exit (status 1 if a receiver failed); "
            "default: run until SIGTERM",
        )
        export = subcommands.add_parser(
            "export", help="write events (a period, a patient, an organisation) to a file"
        )
        export.add_argument("--format", required=True, choices=audit_export.FORMATS)
        export.add_argument(
            "--since",
            type=_moment,
            metavar="TIME",
            help="from this time (ISO 8601; a date means its midnight, Danish time)",
        )
        export.add_argument(
            "--until", type=_moment, metavar="TIME", help="before this time (exclusive)"
        )
        export.add_argument("--patient", type=_cpr, metavar="CPR", help="one citizen's events")
        export.add_argument(
            "--org", type=_cvr, metavar="CVR", help="events of one organisation's users"
        )
        export.add_argument(
            "--out", type=Path, metavar="FILE", help="write to FILE (default: standard output)"
        )
        export.add_argument("--force", action="store_true", help="replace an existing FILE")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        try:
            if subcommand == "checkpoint":
                self._checkpoint()
            elif subcommand == "verify":
                if not 1 <= options["processes"] <= 64:
                    raise CommandError("--processes must be between 1 and 64")
                self._verify(options["processes"], dict(options["expect"]))
            elif subcommand == "forward":
                self._forward(once=options["once"])
            elif subcommand == "export":
                self._export(options)
            else:
                self._public_key()
        except AuditKeyError as exc:
            raise CommandError(str(exc), returncode=2) from None

    def _checkpoint(self) -> None:
        try:
            checkpoint = integrity.create_checkpoint()
        except integrity.CheckpointRefused as exc:
            raise CommandError(f"checkpoint refused: {exc}", returncode=1) from None
        if checkpoint is None:
            pending, oldest = integrity.unsealed_rows()
            if pending:
                age = int((timezone.now() - oldest).total_seconds()) if oldest else 0
                self.stdout.write(
                    f"Nothing to seal yet: {pending} newer rows (oldest {age} s old) wait for "
                    "the safety margin or for an open transaction to end."
                )
            else:
                self.stdout.write("Nothing to seal: no rows since the last checkpoint.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint {checkpoint.sequence} sealed {checkpoint.row_count} rows "
                f"(ids {checkpoint.first_id}-{checkpoint.last_id})."
            )
        )
        # Keep this line where the database's owner cannot edit it (the central log): given to
        # `verify --expect`, it shows whether the newest checkpoints were cut off.
        self.stdout.write(
            f"anchor {checkpoint.sequence}:{checkpoint.digest} key {checkpoint.key_id}"
        )

    def _verify(self, processes: int, anchors: dict[int, str]) -> None:
        report = integrity.verify(processes=processes, anchors=anchors)
        summary = (
            f"{report.rows} rows ({report.sealed_rows} sealed by {report.checkpoints} "
            f"checkpoints, {report.unsealed_rows} not yet sealed"
        )
        if report.unsealed_rows:
            summary += f": ids {report.first_unsealed_id}-{report.last_unsealed_id}"
        summary += f") in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s"
        if report.processes > 1:
            summary += f", {report.processes} processes"
        summary += ")"
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Audit log verified: {summary}."))
            return
        for problem in report.problems[:SHOWN_PROBLEMS]:
            self.stderr.write(f"  {problem.message}")
        hidden = len(report.problems) - SHOWN_PROBLEMS + report.more_problems
        if hidden > 0:
            self.stderr.write(f"  … and {hidden} more")
        self.stderr.write(f"Checked {summary}.")
        raise CommandError(
            f"audit log verification failed: {report.problems[0].message}", returncode=1
        )

    def _public_key(self) -> None:
        public = keys.load_signing_key().public_key()
        self.stdout.write(f"key id {keys.key_id(public)}")
        self.stdout.write(keys.public_key_pem(public), ending="")

    def _forward(self, *, once: bool) -> None:
        config = forward_config.load()
        try:
            receivers = receivers_from(config)
        except (OSError, ssl.SSLError) as exc:
            raise CommandError(
                f"cannot load the receivers' TLS files: {exc}", returncode=2
            ) from None
        if not receivers:
            raise CommandError(
                "no receiver configured: set INDBLIK_AUDIT_SYSLOG_URL and/or "
                "INDBLIK_AUDIT_FHIR_URL",
                returncode=2,
            )
        stop = threading.Event()
        forwarder = Forwarder(
            receivers,
            batch_size=config.batch_size,
            poll_seconds=config.poll_seconds,
            max_backoff_seconds=config.max_backoff_seconds,
            stop=stop,
        )
        names = ", ".join(receiver.name for receiver in receivers)
        try:
            with single_forwarder(), _stop_on_signals(stop):
                if not once:
                    self.stdout.write(f"Forwarding the audit log to {names} until stopped.")
                report = forwarder.run(once=once)
        except ForwarderBusy as exc:
            raise CommandError(str(exc), returncode=1) from None
        shipped = ", ".join(f"{name} {count}" for name, count in report.shipped.items())
        self.stdout.write(f"Forwarded events: {shipped}.")
        if not report.ok:
            raise CommandError(
                f"forwarding failed for {', '.join(report.failed)}; the next run resumes there "
                "(see the receivers' last_error in `audit_forwardingcursor`)",
                returncode=1,
            )

    def _export(self, options: dict[str, Any]) -> None:
        since, until = options["since"], options["until"]
        if since is not None and until is not None and since >= until:
            raise CommandError("--since must be before --until")
        out_path: Path | None = options["out"]
        if out_path is not None:
            if out_path.exists() and not options["force"]:
                raise CommandError(f"{out_path} exists; use --force to replace it")
            if not out_path.parent.is_dir():
                raise CommandError(f"{out_path.parent} is not a directory")
        config = forward_config.load()
        # A snapshot: events written from now on (this export's own event, too) are left out.
        top = AuditEvent.objects.aggregate(top=Max("id"))["top"] or 0
        selection = audit_export.ExportFilter(
            since=since,
            until=until,
            patient_cpr=options["patient"] or "",
            organisation_cvr=options["org"] or "",
        )
        # Audit the export before reading a row: fail closed. The CPR number goes in its own
        # column (the citizen sees the export in their log), never into the details.
        try:
            record(
                None,
                Action.AUDIT_EXPORT,
                actor=_command_line_actor(),
                patient_cpr=selection.patient_cpr,
                details={
                    "format": options["format"],
                    "since": since.isoformat() if since else None,
                    "until": until.isoformat() if until else None,
                    "organisation": selection.organisation_cvr or None,
                    "destination": "file" if out_path is not None else "stdout",
                },
            )
        except AuditWriteError as exc:
            raise CommandError(f"export refused: {exc}", returncode=1) from None
        events = selection.queryset().filter(id__lte=top)
        progress = self._progress if self.stderr.isatty() else None

        def write(out: IO[str]) -> int:
            return audit_export.write_export(
                out,
                events,
                format=options["format"],
                source_id=config.source_id,
                base_url=config.base_url,
                facility=settings.INDBLIK_AUDIT_SYSLOG_FACILITY,
                enterprise_number=settings.INDBLIK_AUDIT_SYSLOG_ENTERPRISE_NUMBER,
                progress=progress,
            )

        if out_path is None:
            count = write(_Unstyled(self.stdout))  # type: ignore[arg-type]
        else:
            newline = "" if options["format"] == "csv" else None
            try:
                with audit_export.atomic_file(out_path, newline=newline) as handle:
                    count = write(handle)
            except OSError as exc:
                raise CommandError(f"cannot write {out_path}: {exc.strerror or exc}") from None
        if progress is not None:
            self.stderr.write("")
        self.stderr.write(f"Exported {count} audit events.")

    def _progress(self, count: int) -> None:
        self.stderr.write(f"\r{count:,} events …", ending="")
        self.stderr.flush()


class _Unstyled:
    """A file-like view of the command's stdout that writes text exactly as given."""

    def __init__(self, wrapper: Any) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> int:
        self.wrapper.write(text, ending="")
        return len(text)


def _command_line_actor() -> Actor:
    """Return the audit actor for a command: the operator's login name on this machine."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        login = "unknown"
    return Actor(user_id=None, name=f"command-line ({login})")


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM/SIGINT for the block (the batch in flight is finished first)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed in the main thread
        return

    def handle(number: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {number: signal.signal(number, handle) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _moment(text: str) -> datetime:
    """Parse an ISO 8601 date or time; without a zone it is Danish time (TIME_ZONE)."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {text!r} (use e.g. 2025-03-01 or 2025-03-01T08:00:00Z)"
        ) from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _cpr(text: str) -> str:
    digits = text.replace("-", "").strip()
    if not (len(digits) == 10 and digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError("a CPR number is 10 digits (ddmmyy-xxxx)")
    return digits


def _cvr(text: str) -> str:
    digits = text.strip()
    if not (len(digits) == 8 and digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError("a CVR number is 8 digits")
    return digits


def _anchor(text: str) -> tuple[int, str]:
    """Parse ``SEQUENCE:DIGEST`` for ``verify --expect``."""
    sequence, _, digest = text.partition(":")
    if not (
        sequence.isdigit()
        and len(digest) == 64
        and all(c in "0123456789abcdefABCDEF" for c in digest)
    ):
        raise argparse.ArgumentTypeError("expected SEQUENCE:DIGEST, e.g. 12:3f9a… (64 hex digits)")
    return int(sequence), digest.lower()
