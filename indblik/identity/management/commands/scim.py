"""``indblik scim issue CVR --name N`` / ``indblik scim revoke CVR N``: SCIM credentials."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from indblik.identity import scim
from indblik.organisations.models import Organisation


class Command(BaseCommand):
    """The ``scim`` command with its sub-commands."""

    help = "SCIM credentials of an organisation's identity system: `issue`, `revoke`."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the sub-commands and their options."""
        commands = parser.add_subparsers(dest="action", required=True)
        issue = commands.add_parser("issue", help="issue a credential (printed once)")
        issue.add_argument("cvr")
        issue.add_argument("--name", default="default", help="to tell credentials apart")
        revoke = commands.add_parser("revoke", help="revoke a credential")
        revoke.add_argument("cvr")
        revoke.add_argument("name")

    def handle(self, *args: Any, action: str, cvr: str, name: str, **options: Any) -> None:
        """Run the chosen sub-command."""
        if not Organisation.objects.filter(cvr=cvr).exists():
            raise CommandError(f"no organisation with CVR {cvr!r} is registered")
        if action == "issue":
            try:
                token = scim.issue_credential(cvr, name[:100])
            except IntegrityError:
                raise CommandError(f"{cvr} already has a credential called {name!r}") from None
            self.stdout.write(
                f"SCIM credential {name!r} for {cvr} (shown once; store it in the identity "
                f"system):\n{token}"
            )
        elif action == "revoke":
            if not scim.revoke_credential(cvr, name):
                raise CommandError(f"{cvr} has no active credential called {name!r}")
            self.stdout.write(f"Revoked {cvr}/{name}.")
