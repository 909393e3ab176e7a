"""``indblik keys …``: Indblik's public keys, for care-system vendors and the broker.

- ``keys show``: the launch-token encryption key set (public JWKs, what a care system
  encrypts launch tokens to) and the SAML service provider's certificate. Never private
  material. ``--format json`` for scripts.
- ``keys generate FILE``: a new private launch key for ``INDBLIK_LAUNCH_KEY_FILE`` (mode 0600,
  never overwrites); prints its public part.
- ``--fhir-client`` (both): the key that signs SMART Backend Services client assertions to the
  hospital's FHIR server (``INDBLIK_FHIR_CLIENT_KEY_FILE``); ``show`` prints the public JWK Set
  to register at the server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from indblik.access import launch_keys
from indblik.identity import keys as saml_keys
from indblik.identity import saml
from indblik.records.live import smart


class Command(BaseCommand):
    """The ``keys`` command with its sub-commands."""

    help = "Indblik's public keys: `show` (launch encryption JWKs, SAML certificate), `generate`."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the sub-commands and their options."""
        commands = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")
        show = commands.add_parser(
            "show", help="print the public launch-encryption JWK set and the SAML certificate"
        )
        show.add_argument("--format", choices=("text", "json"), default="text")
        show.add_argument(
            "--only", choices=("launch", "saml"), help="print just one of the two (text only)"
        )
        show.add_argument(
            "--fhir-client",
            action="store_true",
            help="print only the public JWK Set of the FHIR client key (register it at the "
            "hospital's FHIR server)",
        )
        generate = commands.add_parser(
            "generate", help="write a new private launch key (JWK Set) for INDBLIK_LAUNCH_KEY_FILE"
        )
        generate.add_argument("file", metavar="FILE", type=Path)
        generate.add_argument(
            "--fhir-client",
            action="store_true",
            help="a FHIR client signing key (EC P-384, ES384) for INDBLIK_FHIR_CLIENT_KEY_FILE",
        )

    @no_translations
    def handle(self, *args: Any, action: str, **options: Any) -> None:
        """Run the chosen sub-command."""
        if action == "show" and options["fhir_client"]:
            self._show_fhir_client()
        elif action == "show":
            self._show(options["format"], options["only"])
        else:
            self._generate(options["file"], fhir_client=options["fhir_client"])

    def _show(self, fmt: str, only: str | None) -> None:
        jwks = self._launch_jwks() if only != "saml" else None
        certificates = self._saml_certificates() if only != "launch" else []
        if fmt == "json":
            document: dict[str, Any] = {}
            if jwks is not None:
                document["launch_jwks"] = jwks
            if only != "launch":
                document["saml_certificates"] = [
                    {"use": use, "sha256": fingerprint, "pem": pem}
                    for use, fingerprint, pem in certificates
                ]
            self.stdout.write(json.dumps(document, indent=2))
            return
        if jwks is not None:
            self.stdout.write(
                "# Launch-token encryption keys (JWK Set). Care systems encrypt launch tokens to\n"
                "# the first key (ECDH-ES+A256KW, A256GCM); the others are kept for a rotation."
            )
            self.stdout.write(json.dumps(jwks, indent=2))
        for use, fingerprint, pem in certificates:
            if jwks is not None:
                self.stdout.write("")
            self.stdout.write(f"# SAML service provider certificate ({use}), SHA-256 {fingerprint}")
            self.stdout.write(pem.rstrip("\n"))

    def _launch_jwks(self) -> dict[str, Any]:
        try:
            jwks = launch_keys.public_jwks()
        except launch_keys.LaunchKeyError as exc:
            raise CommandError(str(exc)) from None
        # Belt and braces: whatever the file held, only public members leave this command.
        for key in jwks["keys"]:
            if set(key) - {"kty", "crv", "x", "y", "kid", "use", "alg"}:
                raise CommandError("refusing to print a key with unexpected members")
        return jwks

    def _saml_certificates(self) -> list[tuple[str, str, str]]:
        if not settings.INDBLIK_SAML_CERT_FILE:
            raise CommandError("INDBLIK_SAML_CERT_FILE is not set (see docs/identity.md)")
        pairs = [("current", saml.key_files())]
        rollover = saml.next_key_files()
        if rollover:
            pairs.append(("next", rollover))
        found = []
        for use, (_key, cert_path) in pairs:
            try:
                cert = saml_keys.load_certificate(cert_path)
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the SAML certificate {cert_path}: {exc}") from None
            pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
            found.append((use, saml_keys.fingerprint(cert), pem))
        return found

    def _show_fhir_client(self) -> None:
        try:
            jwks = smart.public_jwks()
        except smart.FhirClientKeyError as exc:
            raise CommandError(str(exc)) from None
        for key in jwks["keys"]:
            if set(key) & {"d", "p", "q", "dp", "dq", "qi"}:
                raise CommandError("refusing to print a key with private members")
        self.stdout.write(json.dumps(jwks, indent=2))

    def _generate(self, path: Path, *, fhir_client: bool = False) -> None:
        jwk = smart.new_private_jwk() if fhir_client else launch_keys.new_private_jwk()
        data = json.dumps({"keys": [jwk]}, indent=2).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists: not overwriting a key") from None
        except OSError as exc:
            raise CommandError(f"cannot create {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if fhir_client:
            public_set = smart.public_jwks(smart.parse_private_keys(data))
            self.stderr.write(f"Wrote a new FHIR client key to {path} (mode 0600). Register:")
            self.stdout.write(json.dumps(public_set, indent=2))
            return
        public = launch_keys.public_jwk(launch_keys.parse_private_keys(data)[0])
        self.stderr.write(f"Wrote a new launch key to {path} (mode 0600). Its public part:")
        self.stdout.write(json.dumps({"keys": [public]}, indent=2))
