"""``indblik users expire --days 90``: deactivate broker users who have stopped signing in."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.identity import users


class Command(BaseCommand):
    """The ``users`` command with its sub-commands."""

    help = "Manage users: `expire --days N` deactivates broker users inactive for N days."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the sub-commands and their options."""
        commands = parser.add_subparsers(dest="action", required=True)
        expire = commands.add_parser(
            "expire", help="deactivate broker users who have not signed in for --days days"
        )
        expire.add_argument("--days", type=int, required=True, help="inactivity limit in days")
        expire.add_argument(
            "--dry-run", action="store_true", help="list the users, deactivate nobody"
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        """Run the chosen sub-command."""
        if action == "expire":
            self._expire(options["days"], dry_run=options["dry_run"])

    def _expire(self, days: int, *, dry_run: bool) -> None:
        if not 1 <= days <= 3650:
            raise CommandError("--days must be between 1 and 3650")
        found = users.inactive_users(days) if dry_run else users.expire_inactive(days)
        for user in found:
            last = user.last_login.isoformat(timespec="minutes") if user.last_login else "never"
            self.stdout.write(
                f"{user.pk}\t{user.get_full_name()}\t{user.organisation_cvr or '-'}\t{last}"
            )
        verb = "would be deactivated" if dry_run else "deactivated"
        self.stdout.write(f"{len(found)} user(s) inactive for {days} days {verb}.")
