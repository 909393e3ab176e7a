"""``indblik saml …``: the SAML service provider's operator commands."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.identity import keys, replay, saml


class Command(BaseCommand):
    """The ``saml`` command with its sub-commands."""

    help = "SAML service provider: `metadata`, `check`, `prune` (the replay cache)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the sub-commands and their options."""
        commands = parser.add_subparsers(dest="action", required=True)
        commands.add_parser("metadata", help="print the SP metadata (for the broker)")
        commands.add_parser("check", help="check keys, certificates and metadata sources")
        commands.add_parser("prune", help="delete expired ids from the assertion replay cache")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        """Run the chosen sub-command."""
        if action == "metadata":
            self.stdout.write(saml.sp_metadata_xml())
        elif action == "check":
            self._check()
        elif action == "prune":
            self.stdout.write(f"{replay.prune()} expired assertion id(s) removed.")

    def _check(self) -> None:
        problems = saml.configuration_problems()
        if problems:
            raise CommandError("; ".join(problems))
        _key, cert = saml.key_files()
        self.stdout.write(f"entity id        {saml.entity_id()}")
        self.stdout.write(f"ACS              {saml.acs_url()}")
        self.stdout.write(
            f"certificate      {cert} (SHA-256 {keys.fingerprint(keys.load_certificate(cert))})"
        )
        rollover = saml.next_key_files()
        if rollover:
            fingerprint = keys.fingerprint(keys.load_certificate(rollover[1]))
            self.stdout.write(f"next certificate {rollover[1]} (SHA-256 {fingerprint})")
        config = saml.build_config()
        self.stdout.write(f"identity provider {saml.idp_entity_id(config)}")
