"""``indblik launch-token …``: build a launch token from a care system's key (reference tool).

For care-system vendors and operators testing a connection: signs the claims with the care
system's private key (``--key``: a JWK with its ``kid``, or a PEM file with ``--kid``) and
encrypts the result to this server's public launch key, or to ``--encrypt-to`` (the JWK Set
``indblik keys show`` prints on the target server). Prints the token, or with ``--form`` an
HTML page that posts it to ``<aud>/launch``.

The citizen's CPR number is an argument: use it only with test citizens, or read it from a
file with ``--patient @FILE`` so it stays out of the shell history and process list.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from indblik.access import launch_keys, tokens

MAX_FILE_BYTES = 64 * 1024


class Command(BaseCommand):
    """The ``launch-token`` command."""

    help = "Build a launch token (nested JWS in JWE) from a care system's private key."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """Show the documented name in usage lines (the module cannot have a hyphen)."""
        return super().create_parser(prog_name, "launch-token", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options."""
        parser.add_argument(
            "--key", required=True, type=Path, help="the care system's private key: JWK or PEM"
        )
        parser.add_argument("--kid", help="the key's registered kid (required for a PEM key)")
        parser.add_argument("--org", required=True, help="the organisation's CVR number")
        parser.add_argument("--sub", required=True, help="the user's persistent id at the broker")
        parser.add_argument(
            "--patient", required=True, help="the citizen's CPR number, or @FILE to read it"
        )
        parser.add_argument("--purpose", choices=sorted(tokens.PURPOSES))
        parser.add_argument("--reason", help="why (required by the policy for emergencies)")
        parser.add_argument("--aud", help="Indblik's base URL (default: this server's)")
        parser.add_argument("--iss", help="the issuing care system (default: urn:cvr:<org>)")
        parser.add_argument("--lifetime", type=int, default=60, help="seconds, at most 120")
        parser.add_argument(
            "--encrypt-to",
            type=Path,
            help="Indblik's public JWK (Set) to encrypt to (default: this server's launch key)",
        )
        parser.add_argument(
            "--form",
            action="store_true",
            help="print an HTML page that posts the token to <aud>/launch",
        )

    @no_translations
    def handle(self, *args: Any, **options: Any) -> None:
        """Build and print the token."""
        signing_key = self._signing_key(options["key"], options["kid"])
        encryption_key = self._encryption_key(options["encrypt_to"])
        aud = (options["aud"] or settings.INDBLIK_BASE_URL).rstrip("/")
        patient = options["patient"]
        if patient.startswith("@"):
            patient = _read(Path(patient[1:]), "the CPR file").decode("utf-8", "replace").strip()
        try:
            token = tokens.build_token(
                signing_key=signing_key,
                encryption_key=encryption_key,
                iss=options["iss"] or f"urn:cvr:{options['org']}",
                aud=aud,
                org=options["org"],
                sub=options["sub"],
                patient=patient,
                purpose=options["purpose"],
                reason=options["reason"],
                lifetime=options["lifetime"],
            )
        except (ValueError, JoseError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(auto_submit_page(aud, token) if options["form"] else token)

    def _signing_key(self, path: Path, kid: str | None) -> ECKey | RSAKey:
        data = _read(path, "the key")
        try:
            if data.lstrip().startswith(b"{"):
                document = json.loads(data)
                entries = document.get("keys", [document]) if isinstance(document, dict) else []
                if len(entries) != 1 or not isinstance(entries[0], dict):
                    raise CommandError(f"{path}: give exactly one key")
                entry = entries[0]
                key: ECKey | RSAKey = (RSAKey if entry.get("kty") == "RSA" else ECKey).import_key(
                    entry, parameters={"kid": kid} if kid else None
                )
            else:
                key = _import_pem(data, kid)
        except (ValueError, TypeError, JoseError) as exc:
            raise CommandError(f"{path}: not a usable private key ({exc})") from None
        if not key.is_private:
            raise CommandError(f"{path}: a private key is needed to sign")
        if not key.kid:
            raise CommandError(f"{path}: the key has no kid: give the registered one with --kid")
        return key

    def _encryption_key(self, path: Path | None) -> ECKey:
        if path is None:
            try:
                current = launch_keys.current_key()
            except launch_keys.LaunchKeyError as exc:
                raise CommandError(str(exc)) from None
            return ECKey.import_key(launch_keys.public_jwk(current))
        data = _read(path, "the encryption key")
        try:
            document = json.loads(data)
            entries = document.get("keys", [document]) if isinstance(document, dict) else []
            usable = [e for e in entries if isinstance(e, dict) and e.get("use", "enc") == "enc"]
            if not usable:
                raise CommandError(f"{path}: no encryption key (JWK with use 'enc')")
            entry = usable[0]  # the current key comes first
            if "d" in entry:
                raise CommandError(f"{path}: give Indblik's public key, not a private one")
            return ECKey.import_key(entry)
        except (ValueError, TypeError, AttributeError, JoseError) as exc:
            raise CommandError(f"{path}: not a usable EC public key ({exc})") from None


def auto_submit_page(aud: str, token: str) -> str:
    """Return an HTML page that posts ``token`` to ``<aud>/launch`` (a button without JS)."""
    action = html.escape(f"{aud.rstrip('/')}/launch")
    return (
        '<!doctype html>\n<html lang="da"><head><meta charset="utf-8">'
        "<title>Indblik</title></head>\n<body>\n"
        f'<form method="post" action="{action}">\n'
        f'<input type="hidden" name="launch_token" value="{html.escape(token)}">\n'
        '<button type="submit">Åbn i Indblik</button>\n</form>\n'
        "<script>document.forms[0].submit();</script>\n</body></html>"
    )


def _import_pem(data: bytes, kid: str | None) -> ECKey | RSAKey:
    if not kid:
        raise CommandError("a PEM key has no kid: give the registered one with --kid")
    try:
        return ECKey.import_key(data, parameters={"kid": kid})
    except (ValueError, TypeError, JoseError):
        return RSAKey.import_key(data, parameters={"kid": kid})


def _read(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise CommandError(f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB")
    return data
