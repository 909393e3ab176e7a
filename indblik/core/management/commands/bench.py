from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.core import bench

NAMES = (
    "ingest",
    "generate",
    "generator",
    "acs",
    "audit-verify",
    "audit-write",
    "chart",
    "live",
    "min-log",
    "all",
)


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
        parser.add_argument(
            "--writes", type=int, default=5000, help="audit-write: writes of each kind to time"
        )
        parser.add_argument(
            "--events",
            default="1000000,10000000",
            help="min-log: audit table sizes to measure at, comma-separated (PostgreSQL only)",
        )
        parser.add_argument(
            "--requests", type=int, default=200, help="min-log: page loads per measurement"
        )

    def handle(
        self,
        *args: Any,
        name: str,
        database: str,
        patients: int,
        runs: int,
        filler: int,
        seconds: int,
        writes: int,
        events: str,
        requests: int,
        **options: Any,
    ) -> None:
        if patients < 1 or runs < 1:
            raise CommandError("--patients and --runs must be at least 1")
        try:
            sizes = [int(size.replace("_", "")) for size in events.split(",")]
        except ValueError:
            raise CommandError("--events: comma-separated whole numbers") from None
        if name == "min-log" and database == "sqlite":
            raise CommandError("min-log runs on PostgreSQL only (--database postgres)")
        plans: list[str] = []
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
            if name in ("audit-write", "all"):
                for result in bench.bench_audit_write(kind, writes):
                    self.stdout.write(result.markdown())
            if name in ("min-log", "all") and kind == "postgres":
                rows, plan = bench.bench_min_log(sizes, requests)
                for result in rows:
                    self.stdout.write(result.markdown())
                plans.append(plan)
            if name in ("live", "all"):
                for result in bench.bench_live(kind, min(patients, 5), requests):
                    self.stdout.write(result.markdown())
            if name in ("chart", "all"):
                if filler and kind != "postgres":
                    raise CommandError("--filler needs --database postgres")
                for result in bench.bench_chart(
                    kind, patients, runs, filler=filler, seconds=seconds
                ):
                    self.stdout.write(result.markdown())
        for plan in plans:
            self.stdout.write("\nPostgreSQL's plan of the Min log query (largest table):\n")
            self.stdout.write("\n".join(f"    {line}" for line in plan.splitlines()))
