"""``indblik followup …``: apply the follow-up rules to the log, draw the weekly spot checks.

``scan`` is idempotent (cases have a unique key per organisation), and so is ``draw`` (a week
is drawn once and the draw is stored). Run both daily, e.g. at 01:00.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from indblik.followup import scan, spotchecks
from indblik.followup.events import day_bounds, zone
from indblik.organisations.models import Organisation, Status


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Log follow-up: `scan` flags lookups by the rules, `draw` draws the spot checks."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
        scan_parser = subcommands.add_parser(
            "scan", help="apply the rules to the log and store new cases (idempotent)"
        )
        scan_parser.add_argument(
            "--since",
            metavar="YYYY-MM-DD",
            help="first day to scan (default: where the last scan ended, else 7 days ago)",
        )
        scan_parser.add_argument("--org", metavar="CVR", help="only this organisation")
        draw_parser = subcommands.add_parser(
            "draw", help="draw the random spot checks of ended weeks (each week once)"
        )
        draw_parser.add_argument(
            "--week",
            metavar="YYYY-MM-DD",
            help="a day in the week to draw (default: the last four ended weeks not yet drawn)",
        )
        draw_parser.add_argument("--org", metavar="CVR", help="only this organisation")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        organisations = self._organisations(options.get("org"))
        if subcommand == "scan":
            self._scan(organisations, options.get("since"))
        else:
            self._draw(organisations, options.get("week"))

    def _organisations(self, cvr: str | None) -> list[Organisation]:
        if cvr:
            found = list(Organisation.objects.filter(cvr=cvr))
            if not found:
                raise CommandError(f"no organisation with CVR {cvr}")
            return found
        return list(Organisation.objects.filter(status=Status.LIVE).order_by("cvr"))

    def _scan(self, organisations: list[Organisation], since: str | None) -> None:
        total = 0
        for organisation in organisations:
            start = day_bounds(_date(since))[0] if since else scan.default_since(organisation)
            if start > timezone.now():
                raise CommandError("--since is in the future")
            created = scan.scan(organisation, since=start)
            total += created
            local = timezone.localtime(start, zone()).date()
            self.stdout.write(
                f"{organisation.cvr} {organisation.name}: {created} new cases since {local}"
            )
        self.stdout.write(f"Scanned {len(organisations)} organisations: {total} new cases.")

    def _draw(self, organisations: list[Organisation], week: str | None) -> None:
        for organisation in organisations:
            if week:
                made = spotchecks.draw(organisation.cvr, _date(week))
                if made is None:
                    raise CommandError("that week has not ended yet: it cannot be drawn")
                draws = [made]
            else:
                draws = spotchecks.draw_due(organisation.cvr)
            for made in draws:
                self.stdout.write(
                    f"{organisation.cvr} {organisation.name}: week "
                    f"{spotchecks.week_label(made.week)}: {made.drawn} of {made.population} "
                    "lookups drawn"
                )
