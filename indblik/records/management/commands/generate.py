"""``indblik generate``: deterministic Danish synthetic records, into the store or into files.

Without ``--out`` the citizens go straight into the local record store through the ingestion
API (stream, chunk by chunk). With ``--out DIR`` they are written as FHIR bulk-data NDJSON
(one file per resource type, and a manifest) or as one transaction Bundle per citizen.
Exit status 0 only if everything was written or stored.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core import checks
from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.records import synth
from indblik.records.synth import output
from indblik.records.synth.terminology import Resource


class _Meter:
    """Progress on a terminal (stderr only, and only when it is a TTY)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.shown = 0.0
        self.resources = 0

    def tick(self, citizens: int, resources: int) -> None:
        self.resources += resources
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.shown < 0.25 and citizens < self.total:
            return
        self.shown = now
        rate = self.resources / max(now - self.started, 1e-6)
        sys.stderr.write(
            f"\r  {citizens:,} / {self.total:,} citizens, {self.resources:,} resources "
            f"({rate:,.0f}/s)  "
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _parse_now(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--now must be an ISO date or date-time, not {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Generate deterministic Danish synthetic citizens: into the store, or as files."
    # Only the model checks (~10 ms): the others (URL configuration, templates, deployment
    # settings) do not concern loading data and cost half a second of start-up, which is a
    # large share of a run that ingests a few thousand resources. `indblik check` runs them all.
    requires_system_checks = [checks.Tags.models]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, required=True, help="how many citizens")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--out", type=Path, help="write files into this new or empty directory")
        parser.add_argument(
            "--format",
            choices=("ndjson", "bundles"),
            help="with --out: NDJSON per resource type (default) or a transaction Bundle per "
            "citizen",
        )
        parser.add_argument(
            "--now",
            help="the moment the story is told from (ISO date or date-time; default: today 00:00 "
            "UTC)",
        )
        parser.add_argument(
            "--validate",
            action="store_true",
            help="validate every resource at ingestion (slow; the generator's output is tested)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        patients: int = options["patients"]
        if patients < 0:
            raise CommandError("--patients must be zero or more")
        seed: int = options["seed"]
        now = _parse_now(options["now"]) if options.get("now") else synth.default_now()
        meter = _Meter(patients)
        started = time.monotonic()
        out: Path | None = options.get("out")
        if out is None and options.get("format"):
            raise CommandError("--format needs --out (without it, citizens go into the store)")
        try:
            if out is None:
                summary = self._store(patients, seed, now, meter, validate=options["validate"])
            elif options["format"] == "bundles":
                written = output.write_bundles(
                    synth.shared_resources(), self._citizens(patients, seed, now, meter), out
                )
                summary = f"{written:,} transaction Bundles (and {output.SHARED_BUNDLE}) in {out}"
            else:
                stream = self._stream(patients, seed, now, meter)
                counts = output.write_ndjson(stream, out, now=now)
                summary = (
                    f"{sum(counts.values()):,} resources in {len(counts)} NDJSON files in {out}"
                )
        except output.OutputError as exc:
            raise CommandError(str(exc)) from None
        finally:
            meter.done()
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Generated {patients:,} citizens (seed {seed}): {summary}")
            + f" in {seconds:.1f} s."
        )

    def _citizens(
        self, patients: int, seed: int, now: dt.datetime, meter: _Meter
    ) -> Iterator[list[Resource]]:
        for index in range(patients):
            resources = synth.generate_patient(synth.patient_rng(seed, index), index, now=now)
            meter.tick(index + 1, len(resources))
            yield resources

    def _stream(
        self, patients: int, seed: int, now: dt.datetime, meter: _Meter
    ) -> Iterator[Resource]:
        # The same order as synth.generate(), with a progress tick per citizen.
        yield from synth.shared_resources()
        for resources in self._citizens(patients, seed, now, meter):
            yield from resources

    def _store(
        self, patients: int, seed: int, now: dt.datetime, meter: _Meter, *, validate: bool
    ) -> str:
        # Imported here: the --out path must work without the store (and before migrations).
        from indblik.records.ingest import ingest_resources

        result = ingest_resources(
            self._stream(patients, seed, now, meter),
            source="synthetic",
            channel="generate",
            validate=validate,
        )
        if not result.ok:
            first = "; ".join(str(error) for error in result.errors[:5])
            raise CommandError(f"not everything was stored ({result.summary()}): {first}")
        return f"stored ({result.summary()})"
