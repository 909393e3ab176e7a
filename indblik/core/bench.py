"""The project's benchmarks (`indblik bench …`): each runs the real code path on a fresh database.

Every benchmark starts its own processes with their own ``DATABASE_URL`` so that the numbers
include what production pays (process start is excluded where it would dominate) and so that
no benchmark touches the operator's database. Results are printed as Markdown rows for
docs/benchmarks.md, with the machine they ran on.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

POSTGRES_ADMIN_URL = os.environ.get("INDBLIK_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


@dataclass
class Result:
    """One benchmark's measurements: a named series of per-run values and what they count."""

    name: str
    database: str
    unit: str
    runs: list[float] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def markdown(self) -> str:
        runs = ", ".join(_figure(value) for value in self.runs)
        notes = "; ".join(f"{key} {value}" for key, value in self.notes.items())
        median = f"**{_figure(self.median)}** {self.unit}"
        return f"| {self.name} | {self.database} | {median} | {runs} | {notes} |"


def _figure(value: float) -> str:
    """A measured value as a table shows it: whole numbers from 100, one decimal below."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def machine() -> str:
    """Describe the machine: CPU model, cores, memory, Python, OS."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as info:
        kib = int(info.readline().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}"
    )


def indblik(
    args: list[str], database_url: str, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run ``indblik ARGS`` in a fresh process against ``database_url`` (test mode)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INDBLIK_MODE": "test",
        "DJANGO_SETTINGS_MODULE": "indblik.settings",
    }
    env.setdefault("INDBLIK_DATA_DIR", tempfile.mkdtemp(prefix="indblik-bench-"))
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "indblik", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """Yield the URL of a new, migrated, empty database of ``kind`` (sqlite or postgres)."""
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="indblik-bench-"))
        url = f"sqlite:///{directory / 'bench.sqlite3'}"
        try:
            indblik(["migrate", "--verbosity", "0"], url)
            yield url
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    elif kind == "postgres":
        import psycopg

        name = f"indblik_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{POSTGRES_ADMIN_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{POSTGRES_ADMIN_URL}/{name}"
        try:
            indblik(["migrate", "--verbosity", "0"], url)
            yield url
        finally:
            with psycopg.connect(f"{POSTGRES_ADMIN_URL}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        raise ValueError(f"unknown database kind {kind!r}")


def count_lines(directory: Path) -> int:
    """Count the resources in an NDJSON directory."""
    total = 0
    for path in directory.glob("*.ndjson"):
        with path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def bench_ingest(kind: str, patients: int, runs: int) -> Result:
    """Time ``indblik ingest`` of generated NDJSON (validation on) into a fresh database."""
    result = Result("ingest NDJSON, validation on", kind, "resources/s")
    with tempfile.TemporaryDirectory(prefix="indblik-bench-ndjson-") as out:
        with fresh_database("sqlite") as scratch:
            indblik(["generate", "--patients", str(patients), "--seed", "7", "--out", out], scratch)
        files = sorted(str(path) for path in Path(out).glob("*.ndjson"))
        # Shared resources and patients first so references resolve (the bulk data layout).
        files.sort(key=_ndjson_order)
        resources = count_lines(Path(out))
        for _ in range(runs):
            with fresh_database(kind) as url:
                started = time.perf_counter()
                indblik(["ingest", *files, "--source", "bench"], url)
                result.runs.append(resources / (time.perf_counter() - started))
    result.notes = {"resources": resources, "patients": patients}
    return result


def _ndjson_order(path: str) -> tuple[int, str]:
    name = Path(path).stem
    first = ("Organization", "Practitioner", "Location", "Questionnaire", "Patient")
    return (first.index(name) if name in first else len(first), name)


def bench_generate(kind: str, patients: int, runs: int) -> Result:
    """Time ``indblik generate --patients N`` straight into a fresh database."""
    result = Result(f"generate {patients:,} citizens into the store", kind, "resources/s")
    seconds = []
    resources = 0
    for _ in range(runs):
        with fresh_database(kind) as url:
            started = time.perf_counter()
            indblik(["generate", "--patients", str(patients), "--seed", "7"], url)
            elapsed = time.perf_counter() - started
            seconds.append(elapsed)
            counted = indblik(["shell", "--no-imports", "-c", _COUNT_RESOURCES], url)
            resources = int(counted.stdout.split()[-1])
            result.runs.append(resources / elapsed)
    result.notes = {
        "resources": resources,
        "median seconds": f"{statistics.median(seconds):,.1f}",
        "citizens/s": f"{patients / statistics.median(seconds):,.0f}",
    }
    return result


_COUNT_RESOURCES = (
    "from indblik.records.models import Patient, Resource; "
    "print(Patient.objects.count() + Resource.objects.count())"
)


def bench_generator(patients: int, runs: int) -> Result:
    """Time the pure generator (no database): resources/s on one core."""
    from indblik.records import synth

    result = Result(f"pure generator, {patients:,} citizens", "none", "resources/s")
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        count = sum(1 for _ in synth.generate(patients, seed=7))
        result.runs.append(count / (time.perf_counter() - started))
    result.notes = {"resources": count}
    return result


def _module_json(module: str, args: list[str], kind: str) -> dict[str, Any]:
    """Run a benchmark module that makes its own throw-away test database; return its JSON."""
    env = {**os.environ, "INDBLIK_MODE": "test", "DJANGO_SETTINGS_MODULE": "indblik.settings_test"}
    env.pop("DATABASE_URL", None)
    if kind == "postgres":
        env["DATABASE_URL"] = f"{POSTGRES_ADMIN_URL}/indblik_bench_{uuid.uuid4().hex[:12]}"
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module, *args], env=env, check=True, capture_output=True, text=True
    )
    return orjson.loads(completed.stdout[completed.stdout.index("{") :])


def bench_acs(kind: str, runs: int) -> Result:
    """Time the SAML assertion consumer service for a valid signed, encrypted response."""
    data = _module_json("indblik.identity.bench", ["--runs", str(runs)], kind)
    result = Result("SAML ACS, signed + encrypted response", kind, "ms (median)")
    result.runs = [data["median_ms"]]
    result.notes = {"n": data["n"], "p95 ms": data["p95_ms"], "first ms": data["first_ms"]}
    return result


def bench_live(kind: str, patients: int, requests: int) -> list[Result]:
    """The snapshot read live from a loopback Indblik's FHIR API, beside the local store's."""
    args = ["--patients", str(patients), "--requests", str(requests)]
    if kind == "postgres":
        # The hospital's Indblik on a PostgreSQL database of its own, like this one's store.
        with fresh_database(kind) as hospital_url:
            data = _module_json(
                "indblik.records.live.bench", [*args, "--hospital-database", hospital_url], kind
            )
    else:
        data = _module_json("indblik.records.live.bench", args, kind)
    results = []
    for key, label in (("local", "local store"), ("live", "live FHIR source, loopback")):
        result = Result(f"snapshot in process: {label}", kind, "ms (median)")
        result.runs = [data[key]["median_ms"]]
        result.notes = {"p95 ms": data[key]["p95_ms"], "n": data[key]["n"]}
        results.append(result)
    results[1].notes["live/local"] = f"{data['ratio_median']:.2f}"
    results[1].notes["FHIR requests/page"] = data["http_requests_per_page"]
    results[1].notes["record"] = f"{data['record_resources']} resources"
    floor = Result("one empty round trip to the hospital (the floor)", kind, "ms (median)")
    floor.runs = [data["round_trip_floor"]["median_ms"]]
    floor.notes = {
        "p95 ms": data["round_trip_floor"]["p95_ms"],
        "local + floor ms": data["local_plus_floor_ms"],
        "aim (1.5 x local) ms": round(1.5 * data["local"]["median_ms"], 1),
    }
    results.append(floor)
    handling = Result("this side's CPU on a live page's answers: the R4 check", kind, "ms (median)")
    handling.runs = [data["answer_check"]["median_ms"]]
    handling.notes = {
        "p95 ms": data["answer_check"]["p95_ms"],
        "decoding them ms": data["answer_decode"]["median_ms"],
        "local + floor + check ms": data["local_plus_floor_plus_check_ms"],
        "its ratio to local": round(
            data["local_plus_floor_plus_check_ms"] / data["local"]["median_ms"], 2
        ),
    }
    results.append(handling)
    return results


def bench_audit_verify(kind: str, rows: int) -> Result:
    """Time `indblik audit verify` over ``rows`` synthetic audit events."""
    data = _module_json("indblik.audit.bench", ["--rows", str(rows), "--processes", "2"], kind)
    result = Result(f"audit verify, {rows:,} rows", kind, "rows/s")
    result.runs = [
        float(data["verify_rows_per_second"]),
        float(data["one_process_rows_per_second"]),
    ]
    result.notes = {"runs": "2 processes, then 1 process"}
    return result


def bench_audit_write(kind: str, events: int) -> list[Result]:
    """Time ``audit.record`` of a page read and, alternating with it, a bare ORM INSERT."""
    data = _module_json("indblik.audit.bench", ["--write", str(events)], kind)
    results = []
    for key, label in (
        ("record", "audit.record(), page read"),
        ("insert", "bare ORM INSERT (floor)"),
    ):
        result = Result(f"audit write: {label}", kind, "µs (median)")
        result.runs = [float(data[key]["median_us"])]
        result.notes = {
            "p99 µs": f"{data[key]['p99_us']:,.0f}",
            "CPU µs (median)": f"{data[key]['cpu_median_us']:,.0f}",
            "n": f"{data['events']:,}",
        }
        results.append(result)
    results[0].notes["record/floor"] = f"{data['ratio_median']:.2f}"
    results[0].notes["overhead µs"] = f"{data['overhead_median_us']:,.0f}"
    return results


def bench_min_log(events: list[int], requests: int = 200) -> tuple[list[Result], str]:
    """Time the citizen's /min-log/ page with ``events`` other events in the audit table.

    PostgreSQL only (the table sizes in question are a production database's); returns the
    rows and PostgreSQL's plan of the log's query at the largest size.
    """
    with fresh_database("postgres") as url:
        completed = indblik_module(
            "indblik.followup.bench",
            ["--events", ",".join(str(size) for size in events), "--requests", str(requests)],
            url,
        )
    data = orjson.loads(completed.stdout[completed.stdout.index("{") :])
    results = []
    for stage in data["stages"]:
        result = Result(
            f"Min log page, {stage['table_rows']:,} rows in the audit table",
            "postgres",
            "ms (median)",
        )
        result.runs = [stage["newest"]["median_ms"]]
        result.notes = {
            "p99 ms": stage["newest"]["p99_ms"],
            "older page median/p99 ms": (
                f"{stage['older']['median_ms']}/{stage['older']['p99_ms']}"
            ),
            "n": stage["newest"]["n"],
            "citizen's events": data["citizen_events"],
        }
        if "load_seconds" in stage:
            result.notes["load s"] = stage["load_seconds"]
        results.append(result)
    return results, data["plan"]


def indblik_module(
    module: str, args: list[str], database_url: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m MODULE ARGS`` like :func:`indblik` (fresh process, test mode)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INDBLIK_MODE": "test",
        "DJANGO_SETTINGS_MODULE": "indblik.settings",
    }
    env.setdefault("INDBLIK_DATA_DIR", tempfile.mkdtemp(prefix="indblik-bench-"))
    # stderr passes through: progress of long loads, and the traceback if it fails.
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module, *args],
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def throwaway_database() -> Iterator[None]:
    """Run the block on a new test database, dropped afterwards (in-process benchmarks).

    On SQLite the database is a file in WAL mode like production, not the in-memory default
    of test databases; on PostgreSQL it is a new ``test_…`` database beside DATABASE_URL's.
    """
    from django.db import connection

    if connection.vendor == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="indblik-bench-")) / "bench.sqlite3"
        connection.settings_dict["TEST"]["NAME"] = str(path)
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def free_port() -> int:
    """Return a free TCP port on loopback."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WrkRun:
    """What one wrk run measured."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    # CPU time of the whole machine (server, database and wrk) per request served; 2 cores
    # serve at most 2000 / this requests per second, however the work is spread.
    cpu_ms_per_request: float = 0.0


def run_wrk(url: str, cookie: str, *, seconds: int, connections: int) -> WrkRun:
    """Load ``url`` with wrk (2 threads) and parse its --latency report."""
    import re

    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it (Debian package wrk)")
    busy_before = _machine_busy_seconds()
    completed = subprocess.run(  # noqa: S603 - fixed arguments
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Cookie: {cookie}",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    busy = _machine_busy_seconds() - busy_before
    out = completed.stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"cannot read the {label}% latency from wrk:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?timeout (\d+)", out)
    served = re.search(r"^\s*(\d+) requests in", out, re.MULTILINE)
    return WrkRun(
        requests_per_second=float(rate.group(1)) if rate else 0.0,
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        errors=(int(bad.group(1)) if bad else 0) + (int(errors.group(1)) if errors else 0),
        cpu_ms_per_request=busy * 1000 / int(served.group(1)) if served and busy > 0 else 0.0,
    )


def _machine_busy_seconds() -> float:
    """CPU seconds the machine has spent busy since boot, all cores (``/proc/stat``)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    # user nice system idle iowait irq softirq steal …: busy is user, nice, system, irq and
    # softirq (not idle, not waiting for the disk, not time the hypervisor gave others).
    busy = sum(fields[0:3]) + sum(fields[5:7])
    return busy / os.sysconf("SC_CLK_TCK")


def bench_chart(
    kind: str, patients: int, runs: int, *, filler: int = 0, seconds: int = 15
) -> list[Result]:
    """Serve the snapshot of the richest citizen with gunicorn (2 workers, as `indblik serve`
    threads) under wrk (32 connections), beside the floor (a page of the same size through the
    same middleware) and a bare Django page of that size (no middleware, no database),
    alternating; with ``filler`` more citizens copied into the store first."""
    import urllib.request

    results: list[Result] = []
    with fresh_database(kind) as url:
        indblik(["generate", "--patients", str(patients), "--seed", "1"], url)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "INDBLIK_MODE": "demo",
            "DJANGO_SETTINGS_MODULE": "indblik.chart.bench.settings",
            "INDBLIK_DATA_DIR": tempfile.mkdtemp(prefix="indblik-bench-"),
        }
        args = [sys.executable, "-m", "indblik.chart.bench.setup"]
        if filler:
            args += ["--filler", str(filler)]
        setup = orjson.loads(
            subprocess.run(  # noqa: S603 - our own module
                args, env=env, check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env["INDBLIK_BASE_URL"] = base
        bare_port = free_port()
        servers: list[subprocess.Popen[bytes]] = []
        try:
            servers.append(_gunicorn("indblik.wsgi:application", port, env))
            # Django alone, served the same way: no middleware, no apps, no database.
            bare_env = {**env, "DJANGO_SETTINGS_MODULE": "indblik.chart.bench.bare"}
            bare_app = "django.core.wsgi:get_wsgi_application()"
            servers.append(_gunicorn(bare_app, bare_port, bare_env))
            chart = base + setup["chart"]
            size = _wait_and_fetch(chart, setup["cookie"], urllib.request)
            floor = f"{base}/bench/floor/{size}"
            _wait_and_fetch(floor, setup["cookie"], urllib.request)
            handle = setup["chart"].strip("/").split("/")[-1]
            guarded = f"{base}/bench/guarded/{handle}/{size}"
            _wait_and_fetch(guarded, setup["cookie"], urllib.request)
            bare = f"http://127.0.0.1:{bare_port}/bench/bare/{size}"
            _wait_and_fetch(bare, "", urllib.request)
            pages = (("bare", bare), ("floor", floor), ("guarded", guarded), ("snapshot", chart))
            measured: dict[str, list[WrkRun]] = {name: [] for name, _ in pages}
            for _ in range(runs):
                for name, target in pages:
                    measured[name].append(
                        run_wrk(target, setup["cookie"], seconds=seconds, connections=32)
                    )
        finally:
            for process in servers:
                process.terminate()
                process.wait(timeout=30)
    store = f"{setup['patients']:,} citizens, {setup['resources']:,} resources"
    for name, label in (
        ("bare", "bare Django page, same size (no middleware, no database)"),
        ("floor", "floor page, same size"),
        ("guarded", "guarded floor: floor + grant re-check + audit row, same size"),
        ("snapshot", "snapshot page"),
    ):
        result = Result(f"chart: {label} ({store})", kind, "pages/s")
        result.runs = [run.requests_per_second for run in measured[name]]
        result.notes = {
            "p50 ms": _median_text(run.p50_ms for run in measured[name]),
            "p99 ms": _median_text(run.p99_ms for run in measured[name]),
            "machine CPU ms/page": _median_text(
                (run.cpu_ms_per_request for run in measured[name]), 2
            ),
            "errors": sum(run.errors for run in measured[name]),
            "bytes": size,
        }
        results.append(result)
    results[-1].notes["snapshot/floor"] = f"{_rate_ratio(measured, 'snapshot', 'floor'):.2f}"
    results[-1].notes["snapshot/guarded"] = f"{_rate_ratio(measured, 'snapshot', 'guarded'):.2f}"
    results[-2].notes["guarded/floor"] = f"{_rate_ratio(measured, 'guarded', 'floor'):.2f}"
    results[-3].notes["floor/bare"] = f"{_rate_ratio(measured, 'floor', 'bare'):.2f}"
    results[-1].notes["record"] = f"{setup['richest_resources']} resources"
    if filler:
        results[-1].notes["filler copy s"] = setup["filler_seconds"]
    return results


def _rate_ratio(measured: dict[str, list[WrkRun]], page: str, against: str) -> float:
    """The median pages/s of ``page`` over that of ``against`` (same run, alternating)."""
    return statistics.median(r.requests_per_second for r in measured[page]) / max(
        1.0, statistics.median(r.requests_per_second for r in measured[against])
    )


def _gunicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start gunicorn for ``app`` on loopback as `indblik serve` runs it: 2 workers."""
    from indblik.core.server import THREADS

    return subprocess.Popen(  # noqa: S603 - our own interpreter and gunicorn
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            str(THREADS),
            "--access-logfile",
            "/dev/null",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _median_text(values: Any, digits: int = 1) -> str:
    return f"{statistics.median(list(values)):.{digits}f}"


def _wait_and_fetch(url: str, cookie: str, urllib_request: Any) -> int:
    """Wait for the server to answer ``url`` with 200; return the body's size in bytes."""
    deadline = time.monotonic() + 60
    while True:
        request = urllib_request.Request(url, headers={"Cookie": cookie})
        try:
            with urllib_request.urlopen(request, timeout=5) as response:
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")
                return len(body)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
