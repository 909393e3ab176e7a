"""``indblik authorisations import FILE``: load the register of authorised health personnel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik import audit
from indblik.identity import authorisations


class Command(BaseCommand):
    """The ``authorisations`` command with its sub-commands."""

    help = "The register of authorised health personnel: `import FILE` replaces it (CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the sub-commands and their options."""
        commands = parser.add_subparsers(dest="action", required=True)
        load = commands.add_parser("import", help="replace the register with a CSV file")
        load.add_argument("file", type=Path, help="CSV file (columns: see docs/identity.md)")
        load.add_argument("--dry-run", action="store_true", help="check the file, change nothing")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        """Run the chosen sub-command."""
        if action == "import":
            self._import(options["file"], dry_run=options["dry_run"])

    def _import(self, path: Path, *, dry_run: bool) -> None:
        try:
            entries = authorisations.read(path)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        except authorisations.RegisterError as exc:
            raise CommandError(f"{path}: {exc}; nothing was imported") from None
        counts = {
            status: sum(1 for e in entries if e.status == status)
            for status in authorisations.AuthorisationStatus.values
        }
        summary = ", ".join(f"{count} {status}" for status, count in counts.items())
        if dry_run:
            self.stdout.write(f"{len(entries)} authorisations would be imported ({summary}).")
            return
        authorisations.replace_register(entries)
        audit.record(
            None,
            audit.Action.ADMIN_CHANGE,
            details={"object": "authorisation-register", "rows": len(entries), **counts},
        )
        self.stdout.write(f"{len(entries)} authorisations imported ({summary}).")
