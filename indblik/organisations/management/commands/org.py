"""``indblik org …``: register and onboard organisations, their networks, keys and role.

Every change goes through :mod:`indblik.organisations.registry` (validated, atomic, audited
with the operator's login name as the actor). Bad input: a message on stderr, exit status 1,
nothing written. Output is in English whatever the server's language, for scripts and logs.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations
from django.utils import timezone

from indblik.audit import Actor
from indblik.audit.errors import AuditWriteError
from indblik.organisations import registry
from indblik.organisations.keys import MAX_JWKS_BYTES
from indblik.organisations.models import Organisation, OrganisationType, Status, Step

_CONTACT_OPTIONS = (
    ("--security-officer", "security_officer_name", "the security officer's name"),
    ("--security-officer-email", "security_officer_email", "the security officer's email"),
    ("--security-officer-phone", "security_officer_phone", "the security officer's phone"),
    ("--technical-contact", "technical_contact_name", "the technical contact's name"),
    ("--technical-contact-email", "technical_contact_email", "the technical contact's email"),
    ("--technical-contact-phone", "technical_contact_phone", "the technical contact's phone"),
)


def command_line_actor() -> Actor:
    """Return the audit actor for a command: the operator's login name on this machine."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        login = "unknown"
    return Actor(user_id=None, name=f"command-line ({login})")


class Command(BaseCommand):
    help = "Organisations: register, onboard (checklist), allowlist, keys, role, go live."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")

        add = sub.add_parser("add", help="register an organisation (status onboarding)")
        add.add_argument("--cvr", required=True, help="8-digit CVR number")
        add.add_argument("--name", required=True)
        add.add_argument("--type", required=True, choices=OrganisationType.values)
        self._fields(add, required_type=True)

        update = sub.add_parser("update", help="change an organisation's details")
        update.add_argument("cvr", metavar="CVR")
        update.add_argument("--name")
        update.add_argument("--type", choices=OrganisationType.values)
        self._fields(update, required_type=False)

        show = sub.add_parser("show", help="status, checklist, networks, keys, role, history")
        show.add_argument("cvr", metavar="CVR")
        listing = sub.add_parser("list", help="all organisations with status and checklist")
        listing.add_argument("--status", choices=Status.values)

        checklist = sub.add_parser("checklist", help="show or change the onboarding checklist")
        checklist.add_argument("cvr", metavar="CVR")
        change = checklist.add_mutually_exclusive_group()
        change.add_argument(
            "--done",
            choices=Step.values,
            metavar="STEP",
            help=f"mark a step done: {', '.join(Step.values)}",
        )
        change.add_argument(
            "--reopen", choices=Step.values, metavar="STEP", help="mark a done step open again"
        )
        checklist.add_argument(
            "--evidence", default="", help="with --done: ticket, or agreement date and reference"
        )
        checklist.add_argument("--reason", default="", help="with --reopen: why")

        allow = sub.add_parser("allow-network", help="add networks (CIDR) to the allowlist")
        allow.add_argument("cvr", metavar="CVR")
        allow.add_argument("cidrs", metavar="CIDR", nargs="+")
        deny = sub.add_parser("deny-network", help="remove networks from the allowlist")
        deny.add_argument("cvr", metavar="CVR")
        deny.add_argument("cidrs", metavar="CIDR", nargs="+")

        add_key = sub.add_parser("add-key", help="register public keys from a JWK (Set) file")
        add_key.add_argument("cvr", metavar="CVR")
        add_key.add_argument("jwks_file", metavar="JWKS_FILE", help="a file, or - for stdin")
        remove_key = sub.add_parser("remove-key", help="stop trusting a key")
        remove_key.add_argument("cvr", metavar="CVR")
        remove_key.add_argument("kid", metavar="KID")

        role = sub.add_parser("role", help="set the role URI that grants access")
        role.add_argument("cvr", metavar="CVR")
        role.add_argument("role_uri", metavar="ROLE_URI")

        go_live = sub.add_parser("go-live", help="open access (refused while steps are open)")
        go_live.add_argument("cvr", metavar="CVR")
        suspend = sub.add_parser("suspend", help="stop access at once (ends sessions)")
        suspend.add_argument("cvr", metavar="CVR")
        suspend.add_argument("--reason", required=True)
        resume = sub.add_parser("resume", help="lift a suspension")
        resume.add_argument("cvr", metavar="CVR")
        resume.add_argument("--reason", default="", help="how the cause was resolved")

    @staticmethod
    def _fields(parser: CommandParser, *, required_type: bool) -> None:
        parser.add_argument(
            "--municipality-code",
            metavar="NNNN",
            help="4-digit municipality code (required for municipalities)",
        )
        parser.add_argument("--sor", metavar="SOR", help="SOR code")
        parser.add_argument("--care-system", metavar="NAME", help="care system (EOJ), e.g. Cura")
        for flag, dest, text in _CONTACT_OPTIONS:
            parser.add_argument(flag, dest=dest, help=text)

    @no_translations
    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        handler: Callable[..., None] = getattr(self, "_" + subcommand.replace("-", "_"))
        self.actor = command_line_actor()
        try:
            handler(**options)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except AuditWriteError:
            raise CommandError(
                "nothing was changed: the audit event could not be written (see the log)"
            ) from None

    # --- changes ------------------------------------------------------------------------------

    def _add(self, *, cvr: str, name: str, type: str, **options: Any) -> None:
        org = registry.add_organisation(
            cvr=cvr,
            name=name,
            type=type,
            municipality_code=options.get("municipality_code") or "",
            sor_code=options.get("sor") or "",
            care_system=options.get("care_system") or "",
            contacts={
                dest: options[dest] for _f, dest, _t in _CONTACT_OPTIONS if options.get(dest)
            },
            by=self.actor,
        )
        self._ok(f"Registered {org} as {org.type}; status onboarding, 6 checklist steps open.")

    def _update(self, *, cvr: str, **options: Any) -> None:
        org = registry.get_organisation(cvr)
        names = {
            "sor": "sor_code",
            "name": "name",
            "type": "type",
            "municipality_code": "municipality_code",
            "care_system": "care_system",
        }
        names.update({dest: dest for _f, dest, _t in _CONTACT_OPTIONS})
        changes = {
            field: options[option]
            for option, field in names.items()
            if options.get(option) is not None
        }
        if not changes:
            raise CommandError("nothing to change: give at least one option (see --help)")
        before = registry.snapshot(org)
        registry.update_organisation(org=org, changes=changes, by=self.actor)
        changed = [field for field in changes if before[field] != registry.snapshot(org)[field]]
        self._ok(f"Updated {org}: {', '.join(changed) or 'nothing changed'}.")

    def _checklist(
        self,
        *,
        cvr: str,
        done: str | None,
        reopen: str | None,
        evidence: str,
        reason: str,
        **options: Any,
    ) -> None:
        org = registry.get_organisation(cvr)
        if done and reason:
            raise CommandError("--reason goes with --reopen; with --done, give --evidence")
        if done:
            registry.complete_step(org=org, step=done, evidence=evidence, by=self.actor)
            self._ok(f"{org}: step {done} done.")
        elif reopen:
            if evidence:
                raise CommandError("--evidence goes with --done, not --reopen")
            registry.reopen_step(org=org, step=reopen, reason=reason, by=self.actor)
            self._ok(f"{org}: step {reopen} reopened.")
        elif evidence or reason:
            raise CommandError("--evidence needs --done STEP (and --reason needs --reopen STEP)")
        self._write_checklist(org)

    def _allow_network(self, *, cvr: str, cidrs: list[str], **options: Any) -> None:
        org = registry.get_organisation(cvr)
        added = registry.allow_network(org=org, cidrs=cidrs, by=self.actor)
        if added:
            self._ok(f"{org}: allowed {', '.join(added)}.")
        else:
            self.stdout.write(f"{org}: already allowed, nothing changed.")

    def _deny_network(self, *, cvr: str, cidrs: list[str], **options: Any) -> None:
        org = registry.get_organisation(cvr)
        removed = registry.deny_network(org=org, cidrs=cidrs, by=self.actor)
        self._ok(f"{org}: removed {', '.join(removed)} from the allowlist.")
        if not org.network_ranges.exists():
            self.stderr.write(f"warning: {org} has no network range left: no user can connect.")

    def _add_key(self, *, cvr: str, jwks_file: str, **options: Any) -> None:
        org = registry.get_organisation(cvr)
        text = self._read(jwks_file)
        rows = registry.add_keys(org=org, jwks_json=text, by=self.actor)
        for row in rows:
            self._ok(
                f"{org}: added key {row.kid} ({_key_kind(row.kty, row.crv, row.size)}, "
                f"thumbprint {row.thumbprint})."
            )

    def _remove_key(self, *, cvr: str, kid: str, **options: Any) -> None:
        org = registry.get_organisation(cvr)
        registry.remove_key(org=org, kid=kid, by=self.actor)
        self._ok(f"{org}: key {kid} removed; it no longer verifies launch tokens.")

    def _role(self, *, cvr: str, role_uri: str, **options: Any) -> None:
        org = registry.get_organisation(cvr)
        registry.set_role(org=org, role_uri=role_uri, by=self.actor)
        self._ok(f"{org}: role {org.role_uri}.")

    def _go_live(self, *, cvr: str, **options: Any) -> None:
        org = registry.go_live(org=registry.get_organisation(cvr), by=self.actor)
        self._ok(f"{org} is live.")

    def _suspend(self, *, cvr: str, reason: str, **options: Any) -> None:
        org = registry.suspend(org=registry.get_organisation(cvr), reason=reason, by=self.actor)
        self._ok(f"{org} is suspended; its users' sessions end at their next request.")

    def _resume(self, *, cvr: str, reason: str, **options: Any) -> None:
        org = registry.resume(org=registry.get_organisation(cvr), reason=reason, by=self.actor)
        self._ok(f"{org} is live again.")

    # --- reading ------------------------------------------------------------------------------

    def _list(self, *, status: str | None, **options: Any) -> None:
        orgs = Organisation.objects.prefetch_related("checklist").order_by("name")
        if status:
            orgs = orgs.filter(status=status)
        rows = [
            (org.cvr, org.type, org.status, f"{6 - len(org.open_steps())}/6", org.name)
            for org in orgs
        ]
        if not rows:
            self.stdout.write("No organisations." if not status else f"No {status} organisations.")
            return
        header = ("CVR", "TYPE", "STATUS", "STEPS", "NAME")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[4]]))

    def _show(self, *, cvr: str, **options: Any) -> None:
        org = registry.get_organisation(cvr)
        out = self.stdout.write
        out(f"{org.name} (CVR {org.cvr})")
        municipality = org.municipality
        kind = org.type + (
            f" ({municipality.code} {municipality.official_name})" if municipality else ""
        )
        for label, value in (
            ("type", kind),
            ("status", org.status),
            ("SOR code", org.sor_code or "-"),
            ("care system", org.care_system or "-"),
            ("role", org.role_uri or "- (not set)"),
            (
                "security officer",
                _contact(
                    org.security_officer_name,
                    org.security_officer_email,
                    org.security_officer_phone,
                ),
            ),
            (
                "technical contact",
                _contact(
                    org.technical_contact_name,
                    org.technical_contact_email,
                    org.technical_contact_phone,
                ),
            ),
        ):
            out(f"  {label:<18} {value}")
        self._write_checklist(org)
        ranges = list(org.network_ranges.order_by("cidr"))
        out(f"Network allowlist ({len(ranges)})")
        for item in ranges:
            out(f"  {item.cidr:<43} added {_when(item.added_at)} by {item.added_by_name or '-'}")
        if not ranges:
            out("  - (none: no user can connect)")
        keys = list(org.keys.order_by("added_at", "pk"))
        out(f"Care-system keys ({sum(key.is_active for key in keys)} active)")
        for key in keys:
            state = (
                f"removed {_when(key.removed_at)} by {key.removed_by_name or '-'}"
                if key.removed_at
                else "active"
            )
            out(
                f"  {key.kid}  {_key_kind(key.kty, key.crv, key.size)}  "
                f"thumbprint {key.thumbprint}  added {_when(key.added_at)} by "
                f"{key.added_by_name or '-'}  {state}"
            )
        if not keys:
            out("  - (none)")
        out("Status history")
        for change in org.status_history.order_by("at", "pk"):
            reason = f"  ({change.reason})" if change.reason else ""
            out(
                f"  {_when(change.at)}  {change.from_status or '-'} -> {change.to_status}  "
                f"by {change.by_name or '-'}{reason}"
            )

    def _write_checklist(self, org: Organisation) -> None:
        steps = sorted(org.checklist.all(), key=lambda row: row.sort_key())
        done = sum(step.is_done for step in steps)
        self.stdout.write(f"Checklist ({done}/{len(Step.values)} done)")
        for row in steps:
            if row.is_done:
                evidence = f": {row.evidence}" if row.evidence else ""
                self.stdout.write(
                    f"  [x] {row.step:<10} {_when(row.done_at)} by "
                    f"{row.done_by_name or '-'}{evidence}"
                )
            else:
                self.stdout.write(f"  [ ] {row.step}")

    # --- helpers ------------------------------------------------------------------------------

    def _read(self, path: str) -> bytes:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_JWKS_BYTES + 1)
        else:
            try:
                with Path(path).open("rb") as handle:
                    data = handle.read(MAX_JWKS_BYTES + 1)
            except OSError as exc:
                raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        return data

    def _ok(self, message: str) -> None:
        self.stdout.write(self.style.SUCCESS(message))


def _when(value: Any) -> str:
    return "-" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _contact(name: str, email: str, phone: str) -> str:
    parts = [name, f"<{email}>" if email else "", phone]
    return " ".join(part for part in parts if part) or "-"


def _key_kind(kty: str, crv: str, size: int) -> str:
    return f"{kty} {crv} {size} bits" if crv else f"{kty} {size} bits"
