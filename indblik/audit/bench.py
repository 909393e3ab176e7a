"""How fast ``verify`` is (insert synthetic events, seal them, time it), and what a write costs.

Runs only in INDBLIK_MODE=test against an empty audit table (synthetic rows in a real log
could never be removed). From a shell, ``python -m indblik.audit.bench --rows 200000`` creates
a throw-away test database (a file for SQLite, ``test_<name>`` for PostgreSQL via
DATABASE_URL), runs the benchmark there, prints JSON and drops the database.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)


def _synthetic_events(rows: int) -> Iterator[dict[str, Any]]:
    """Yield varied, realistic-looking events one millisecond apart, a day ago."""
    from django.utils import timezone

    from indblik.audit.actions import Action
    from indblik.audit.actors import Actor

    actions = [Action.PATIENT_READ] * 6 + [Action.DOCUMENT_VIEW, Action.ACCESS_ALLOWED]
    start = timezone.now() - timedelta(days=1)
    for n in range(rows):
        yield {
            "at": start + timedelta(milliseconds=n),
            "action": actions[n % len(actions)],
            "actor": Actor(
                user_id=n % 500 + 1,
                name=f"Sygeplejerske {n % 500}",
                authorisation=f"A{n % 500:04d}",
                role="http://kombit.dk/roles/jobrole/sundhedsjournal/1",
                organisation_cvr="29189846",
                organisation_name="Københavns Kommune",
            ),
            "patient_cpr": f"{(n % 28) + 1:02d}0{n % 10}{(n % 90) + 10:02d}{n % 10_000:04d}",
            "section": "snapshot",
            "resource_ids": [f"Observation/obs-{n}", f"Condition/c-{n % 97}"],
            "purpose": "treatment",
            "decision_reasons": ["contextual", "residence"],
            "client_ip": f"10.20.{n % 7}.{n % 250 + 1}",
            "user_agent": _USER_AGENT,
            "request_id": f"{n:032x}",
            "details": {"page": n % 3},
        }


def verify_rate(rows: int, *, processes: int = 1, checkpoint_every: int = 10_000) -> dict[str, Any]:
    """Insert ``rows`` synthetic events, seal them in checkpoints, time ``verify``.

    Rows are sealed ``checkpoint_every`` at a time, like a busy log sealed every few minutes
    (parallel verification splits the work at checkpoint boundaries).
    """
    from django.conf import settings
    from django.db import connection

    from indblik.audit import integrity
    from indblik.audit.models import AuditEvent
    from indblik.audit.writer import bulk_record_for_benchmark

    if settings.INDBLIK_MODE != "test" or AuditEvent.objects.exists():
        raise RuntimeError("verify_rate needs INDBLIK_MODE=test and an empty audit table")
    events = _synthetic_events(rows)
    written = insert_seconds = checkpoint_seconds = 0.0
    while written < rows:
        started = time.perf_counter()
        batch = bulk_record_for_benchmark(
            next(events) for _ in range(min(checkpoint_every, rows - int(written)))
        )
        sealed = time.perf_counter()
        integrity.create_checkpoint()
        insert_seconds += sealed - started
        checkpoint_seconds += time.perf_counter() - sealed
        written += batch
    cpu = time.process_time()
    report = integrity.verify(processes=processes)
    cpu = time.process_time() - cpu
    return {
        "rows": int(written),
        "database": connection.vendor,
        "sealed_rows": report.sealed_rows,
        "checkpoints": report.checkpoints,
        "insert_seconds": round(insert_seconds, 3),
        "checkpoint_rows_per_second": round(written / checkpoint_seconds),
        "verify_processes": report.processes,
        "verify_seconds": round(report.seconds, 3),
        "verify_rows_per_second": round(report.rows_per_second),
        # This process's CPU only (without workers): on a shared machine the wall clock also
        # counts the neighbours.
        "verify_cpu_seconds": round(cpu, 3),
        "ok": report.ok,
    }


def write_cost(events: int, *, warmup: int = 200) -> dict[str, Any]:
    """Time ``audit.record`` of a page read against a bare ORM INSERT of the same row (µs).

    The two alternate, one of each per round, so that whatever else runs on the machine
    slows both alike. ``record`` gets a request as a chart page has it, through nginx on
    loopback (client address, user agent, the proxy's request id), and the actor the
    identity app's resolver would give; the floor inserts the row of a first ``record``
    call again, already sanitised and hashed, with ``Model.save(force_insert=True)`` - one
    INSERT and its commit, nothing else. Also reports this thread's CPU per write.
    """
    from django.test import override_settings

    with override_settings(INDBLIK_TRUSTED_PROXIES=[ipaddress.ip_network("127.0.0.1/32")]):
        return _write_cost(events, warmup=warmup)


def _write_cost(events: int, *, warmup: int) -> dict[str, Any]:
    """The measurement of :func:`write_cost`, with the proxy trusted."""
    from django.conf import settings
    from django.db import models
    from django.test import RequestFactory

    from indblik.audit import writer
    from indblik.audit.actions import Action
    from indblik.audit.actors import Actor
    from indblik.audit.models import AuditEvent

    if settings.INDBLIK_MODE != "test":
        raise RuntimeError("write_cost needs INDBLIK_MODE=test")
    request = RequestFactory().get(
        "/chart/3f2c/snapshot/",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="10.20.0.7",
        HTTP_X_REQUEST_ID="0f3a9c2e5b7d4e1f8a6c3b2d1e0f9a8b",
        HTTP_USER_AGENT=_USER_AGENT,
    )
    actor = Actor(
        user_id=41,
        name="Anne Holm",
        authorisation="0C4FG",
        role="http://kombit.dk/roles/jobrole/sundhedsjournal/1",
        organisation_cvr="29189846",
        organisation_name="Københavns Kommune",
    )
    resource_ids = [f"Observation/obs-{n}" for n in range(8)] + ["Condition/c-1", "Encounter/e-2"]

    def audited() -> AuditEvent:
        return writer.record(
            request,
            Action.PATIENT_READ,
            actor=actor,
            patient_cpr="0101701234",
            section="snapshot",
            resource_ids=resource_ids,
            purpose="treatment",
            decision_reasons=["contextual", "residence"],
        )

    template = audited()
    fields = {
        field.attname: getattr(template, field.attname)
        for field in AuditEvent._meta.concrete_fields
        if not field.primary_key
    }

    def floor() -> None:
        # The base class's save: AuditEvent.save() refuses everyone but the writer.
        models.Model.save(AuditEvent(**fields), force_insert=True)

    timings: dict[str, list[float]] = {"record": [], "insert": []}
    cpu: dict[str, list[float]] = {"record": [], "insert": []}
    for n in range(warmup + events):
        for name, write in (("record", audited), ("insert", floor)):
            started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            write()
            elapsed = (time.perf_counter_ns() - started) / 1000
            # This thread's CPU: what the write costs the app server, without the commit's
            # wait for the disk or for the neighbours on a shared machine.
            elapsed_cpu = (time.thread_time_ns() - started_cpu) / 1000
            if n >= warmup:
                timings[name].append(elapsed)
                cpu[name].append(elapsed_cpu)
    result: dict[str, Any] = {"events": events}
    for name, values in timings.items():
        values.sort()
        result[name] = {
            "median_us": round(statistics.median(values), 1),
            "p99_us": round(values[int(len(values) * 0.99) - 1], 1),
            "cpu_median_us": round(statistics.median(cpu[name]), 1),
        }
    result["ratio_median"] = round(result["record"]["median_us"] / result["insert"]["median_us"], 2)
    result["overhead_median_us"] = round(
        result["record"]["median_us"] - result["insert"]["median_us"], 1
    )
    return result


def main(argv: list[str] | None = None) -> None:
    """Run :func:`verify_rate` (or :func:`write_cost`) in a throw-away test database; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument(
        "--write", type=int, default=0, metavar="N", help="time N writes instead of verify"
    )
    arguments = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.settings_test")
    import django

    django.setup()
    import orjson

    from indblik.core.bench import throwaway_database

    if arguments.write:
        with throwaway_database():
            written = write_cost(arguments.write)
        sys.stdout.write(orjson.dumps(written, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    with throwaway_database():
        result = verify_rate(arguments.rows, processes=arguments.processes)
        if arguments.processes > 1:
            # The same rows once more in one process, for comparison.
            from indblik.audit import integrity

            single = integrity.verify()
            result["one_process_rows_per_second"] = round(single.rows_per_second)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
