"""``indblik feed add|keys|rotate|revoke|list``: the systems that use the FHIR API, their tokens
and keys."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone

from indblik.records import auth, smart
from indblik.records.models import Feed

MAX_JWKS_FILE_BYTES = 64 * 1024


class Command(BaseCommand):
    help = (
        "Manage feeds (systems that push FHIR data to /fhir/r4/, or read audit events there) "
        "and their bearer tokens. "
        "A new token is printed once, alone on stdout; only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser("add", help="register a feed and print its first token")
        add.add_argument("name", metavar="NAME", help="a short slug, e.g. hospital-engine")
        add.add_argument("--description", default="", help="what the feed is")
        add.add_argument(
            "--scope",
            choices=[scope.value for scope in Feed.Scope],
            default=Feed.Scope.INGEST.value,
            help="ingest: push FHIR data (default); audit-read: read citizens' audit events "
            "at GET /fhir/r4/AuditEvent (the hospital's patient portal); record-read: read the "
            "record through the FHIR read API (another Indblik, a FHIR client; needs --jwks). "
            "One scope per feed.",
        )
        add.add_argument(
            "--jwks",
            metavar="FILE",
            help="the client's public JWK Set (EC P-384 or RSA >= 2048 bits, each with a kid): "
            "it then gets access tokens from POST /fhir/r4/auth/token (SMART Backend Services) "
            "instead of a long-lived token",
        )
        keys = actions.add_parser("keys", help="replace a feed's public keys and print their kids")
        keys.add_argument("name", metavar="NAME")
        keys.add_argument(
            "--jwks",
            metavar="FILE",
            required=True,
            help='the public JWK Set; {"keys": []} removes every key',
        )
        rotate = actions.add_parser(
            "rotate", help="print a new token; the current ones expire after the overlap"
        )
        rotate.add_argument("name", metavar="NAME")
        rotate.add_argument(
            "--overlap-hours",
            type=float,
            default=24.0,
            help="how long the current tokens stay valid (default 24; 0 ends them now)",
        )
        revoke = actions.add_parser("revoke", help="revoke the feed's tokens (or one of them)")
        revoke.add_argument("name", metavar="NAME")
        revoke.add_argument("--prefix", help="revoke only the token starting with this prefix")
        actions.add_parser("list", help="list feeds and their tokens (prefixes only)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list()
            return
        name = options["name"]
        if action == "add":
            jwks = _read_jwks(options["jwks"]) if options["jwks"] else None
            self._add(name, options["description"], options["scope"], jwks)
            return
        feed = Feed.objects.filter(name=name).first()
        if feed is None:
            raise CommandError(f"no feed named {name!r} (see: indblik feed list)")
        if action == "keys":
            self._keys(feed, _read_jwks(options["jwks"]))
        elif action == "rotate":
            self._rotate(feed, options["overlap_hours"])
        else:
            self._revoke(feed, options["prefix"])

    def _add(self, name: str, description: str, scope: str, jwks: dict[str, Any] | None) -> None:
        try:
            validate_slug(name)
        except ValidationError:
            raise CommandError(
                f"{name!r}: use letters, digits, '-' and '_' only (e.g. hospital-engine)"
            ) from None
        if len(name) > 100 or len(description) > 200:
            raise CommandError("the name (100) or the description (200 characters) is too long")
        if scope == Feed.Scope.RECORD_READ and not (jwks and jwks["keys"]):
            # Reading the whole store with a long-lived bearer token would be the weakest
            # link: a record-read client proves itself with its key for each 5-minute token.
            raise CommandError(
                "a record-read feed authenticates with SMART Backend Services: "
                "give its public keys with --jwks FILE"
            )
        if jwks is not None:
            try:
                with transaction.atomic():
                    Feed.objects.create(
                        name=name, description=description, scope=Feed.Scope(scope), jwks=jwks
                    )
            except IntegrityError:
                raise CommandError(
                    f"a feed named {name!r} exists already (use: indblik feed keys {name})"
                ) from None
            self.stderr.write(
                f"Feed {name!r} ({scope}) registered with keys {', '.join(smart.key_ids(jwks))}. "
                f"Client id: {name}; token endpoint: {smart.token_endpoint_url()}"
            )
            return
        try:
            issued = auth.create_feed(name, description=description, scope=scope)
        except IntegrityError:
            raise CommandError(
                f"a feed named {name!r} exists already (use: indblik feed rotate {name})"
            ) from None
        self.stderr.write(
            f"Feed {name!r} ({scope}) registered. Its token follows, shown only now: store it "
            "in the sending system's secret store. Send it as 'Authorization: Bearer <token>'."
        )
        self.stdout.write(issued.token)

    def _keys(self, feed: Feed, jwks: dict[str, Any]) -> None:
        if feed.scope == Feed.Scope.RECORD_READ and not jwks["keys"]:
            raise CommandError(
                "a record-read feed needs at least one key (deactivate the feed to stop it)"
            )
        feed.jwks = jwks
        feed.save(update_fields=["jwks"])
        kids = smart.key_ids(jwks)
        self.stderr.write(f"{feed.name}: {len(kids)} key(s) registered; kids follow.")
        for kid in kids:
            self.stdout.write(kid)

    def _rotate(self, feed: Feed, overlap_hours: float) -> None:
        if feed.scope == Feed.Scope.RECORD_READ:
            raise CommandError(
                f"{feed.name} reads the record with access tokens from its registered key; "
                f"there is no long-lived token to rotate. Change its keys with: "
                f"indblik feed keys {feed.name} --jwks FILE"
            )
        if not 0 <= overlap_hours <= 24 * 90:
            raise CommandError("--overlap-hours must be between 0 and 2160 (90 days)")
        overlap = dt.timedelta(hours=overlap_hours)
        issued = auth.rotate(feed, overlap=overlap)
        ends = timezone.localtime(timezone.now() + overlap)
        self.stderr.write(
            f"New token for {feed.name!r} follows, shown only now. The previous tokens stay "
            f"valid until {ends:%Y-%m-%d %H:%M %Z}."
        )
        self.stdout.write(issued.token)

    def _revoke(self, feed: Feed, prefix: str | None) -> None:
        count = auth.revoke(feed, prefix=prefix)
        if count == 0:
            raise CommandError(f"{feed.name!r} has no live token matching that prefix")
        self.stdout.write(f"{feed.name}: revoked {count} token(s)")

    def _list(self) -> None:
        now = timezone.now()
        feeds = Feed.objects.order_by("name").prefetch_related("credentials")
        if not feeds:
            self.stdout.write("no feeds (add one: indblik feed add NAME)")
            return
        for feed in feeds:
            state = "active" if feed.active else "inactive"
            if feed.scope != Feed.Scope.INGEST:
                state += f", {feed.scope}"
            self.stdout.write(f"{feed.name}  [{state}]  {feed.description}".rstrip())
            kids = smart.key_ids(feed.jwks)
            if kids:
                self.stdout.write(f"  keys: {', '.join(kids)}")
            credentials = list(feed.credentials.all())
            # Access tokens of the token endpoint live five minutes: counted, not listed.
            short = [
                c for c in credentials if c.short_lived and c.expires_at and c.expires_at > now
            ]
            if short:
                self.stdout.write(f"  {len(short)} live access token(s) from the token endpoint")
            long_lived = [c for c in credentials if not c.short_lived]
            for credential in sorted(long_lived, key=lambda c: c.created_at):
                if credential.revoked_at is not None:
                    status = f"revoked {timezone.localtime(credential.revoked_at):%Y-%m-%d %H:%M}"
                elif credential.expires_at is not None and credential.expires_at <= now:
                    status = f"expired {timezone.localtime(credential.expires_at):%Y-%m-%d %H:%M}"
                elif credential.expires_at is not None:
                    status = (
                        f"valid until {timezone.localtime(credential.expires_at):%Y-%m-%d %H:%M}"
                    )
                else:
                    status = "valid"
                created = timezone.localtime(credential.created_at)
                self.stdout.write(
                    f"  {credential.prefix}…  created {created:%Y-%m-%d %H:%M}  {status}"
                )


def _read_jwks(path: str) -> dict[str, Any]:
    """Return the validated public JWK Set in a file; CommandError if it is unfit."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_JWKS_FILE_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_JWKS_FILE_BYTES:
        raise CommandError(f"{path} is larger than {MAX_JWKS_FILE_BYTES // 1024} KiB")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CommandError(f"{path} is not JSON") from None
    try:
        return smart.parse_public_jwks(document)
    except smart.KeySetError as exc:
        raise CommandError(f"{path}: {exc}") from None
