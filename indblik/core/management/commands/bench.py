from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.core import bench

NAMES = ("ingest", "generate", "generator", "acs", "audit-verify", "chart", "all")


class Command(BaseCommand):
    help = "Run the project's benchmarks on fresh databases; print Markdown for docs/benchmarks.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", choices=NAMES, help="which benchmark")
        parser.add_argument(
            "--database",
            choices=("sqlite", "postgres", "both"),
            default="both",
            help="database(s) to measure on (PostgreSQL: INDBLIK_BENCH_POSTGRES, "
            "default postgres://postgres@127.0.0.1:5432)",
        )
        parser.add_argument("--patients", type=int, default=200, help="citizens to generate")
        parser.add_argument("--runs", type=int, default=3, help="repetitions (median reported)")
        parser.add_argument(
            "--filler",
            type=int,
            default=0,
            help="chart: citizens to add by copying generated records (PostgreSQL only)",
        )
        parser.add_argument("--seconds", type=int, default=15, help="chart: seconds per wrk run")

    def handle(
        self,
        *args: Any,
        name: str,
        database: str,
        patients: int,
        runs: int,
        filler: int,
        seconds: int,
        **options: Any,
    ) -> None:
        if patients < 1 or runs < 1:
            raise CommandError("--patients and --runs must be at least 1")
        kinds = ("sqlite", "postgres") if database == "both" else (database,)
        self.stdout.write(f"Machine: {bench.machine()}\n")
        self.stdout.write("| benchmark | database | median | runs | notes |\n|---|---|---|---|---|")
        if name in ("generator", "all"):
            self.stdout.write(bench.bench_generator(patients, runs).markdown())
        for kind in kinds:
            if name in ("ingest", "all"):
                self.stdout.write(bench.bench_ingest(kind, patients, runs).markdown())
            if name in ("generate", "all"):
                self.stdout.write(bench.bench_generate(kind, patients, runs).markdown())
            if name in ("acs", "all"):
                self.stdout.write(bench.bench_acs(kind, 50 * runs).markdown())
            if name in ("audit-verify", "all"):
                self.stdout.write(bench.bench_audit_verify(kind, 200_000).markdown())
            if name in ("chart", "all"):
                if filler and kind != "postgres":
                    raise CommandError("--filler needs --database postgres")
                for result in bench.bench_chart(
                    kind, patients, runs, filler=filler, seconds=seconds
                ):
                    self.stdout.write(result.markdown())
