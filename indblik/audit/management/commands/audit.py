"""``indblik audit …``: integrity checkpoints and verification of the audit log.

Exit status: 0 when all is well, 1 when the log (or a row to be sealed) fails a check,
2 when a key is missing or unusable. ``export`` and ``forward`` arrive with later issues.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from indblik.audit import integrity, keys
from indblik.audit.errors import AuditKeyError

SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = "Audit log integrity: `checkpoint` signs new rows, `verify` checks the whole log."
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

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        try:
            if subcommand == "checkpoint":
                self._checkpoint()
            elif subcommand == "verify":
                if not 1 <= options["processes"] <= 64:
                    raise CommandError("--processes must be between 1 and 64")
                self._verify(options["processes"], dict(options["expect"]))
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
