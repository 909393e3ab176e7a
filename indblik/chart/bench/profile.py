"""Where one chart page's time goes, in process (``python -m indblik.chart.bench.profile``).

Against a database prepared by :mod:`indblik.chart.bench.setup` (``DATABASE_URL``), it serves
the snapshot of the bench citizen and the floor page ``--requests`` times each through the
whole middleware stack (Django's test client: no HTTP, no server), then prints:

- the wall time per page of each (median over the requests);
- the page's queries, each with its median time;
- the cumulative time per phase (cProfile over the requests), for the functions named in
  :data:`PHASES`.

Example::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/indblik_prof INDBLIK_MODE=demo \\
      python -m indblik.chart.bench.profile --cookie sessionid=… --chart /chart/…/

Benchmarks only: it signs nothing in and writes only the audit rows of the pages it reads.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import time
from collections import defaultdict
from functools import partial
from typing import Any

import django

# (label, module path fragment, function name): the phases of a page, by the function whose
# cumulative time stands for them.
PHASES = (
    ("whole request (handler)", "django/core/handlers/base.py", "get_response"),
    ("session load", "django/contrib/sessions/backends/db.py", "load"),
    ("user load", "django/contrib/auth/__init__.py", "get_user"),
    ("organisation + networks", "indblik/organisations/middleware.py", "__call__"),
    ("chart view", "indblik/chart/views.py", "_page"),
    ("  grant re-check", "indblik/access/grants.py", "active_grant"),
    ("    patient", "indblik/records/source.py", "find_patient"),
    ("    blocks", "indblik/access/policy.py", "blocks"),
    ("  rules acknowledged", "indblik/chart/rules.py", "acknowledged"),
    ("  sections (read + decode)", "indblik/records/source.py", "sections"),
    ("  presenters", "indblik/chart/presenters/snapshot.py", "present"),
    ("  audit write", "indblik/audit/writer.py", "record"),
    ("  layout", "indblik/chart/views.py", "_layout"),
    ("  template render", "django/shortcuts.py", "render"),
    ("    feedback prompt", "indblik/usage/templatetags/usage_feedback.py", "feedback_prompt"),
    ("orjson decode", "~", "<built-in function loads>"),
    ("database execute", "django/db/backends/utils.py", "_execute"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cookie", required=True, help="name=value of the session cookie")
    parser.add_argument("--chart", required=True, help="the chart URL printed by setup")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--floor", type=int, default=13732, help="bytes of the floor page")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.chart.bench.settings")
    django.setup()

    from django.db import connection
    from django.test import Client

    name, _, value = args.cookie.partition("=")
    client = Client()
    client.cookies[name] = value
    floor = f"/bench/floor/{args.floor}"
    for url in (args.chart, floor):  # warm: imports, templates, connection
        for _ in range(5):
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")

    gc.freeze()  # as indblik.wsgi does once the application is loaded
    pauses: list[float] = []
    gc.callbacks.append(partial(_gc_pause, pauses, {}))
    for label, url in (("snapshot", args.chart), ("floor", floor)):
        pauses.clear()
        wall = []
        cpu = []
        for _ in range(args.requests):
            started, started_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        print(
            f"{label}: {statistics.median(wall):.2f} ms per page, {statistics.mean(cpu):.2f} ms "
            f"of this process's CPU (median, mean of {len(wall)}); garbage collector "
            f"{sum(pauses) / len(wall):.2f} ms per page ({len(pauses)} collections)"
        )

    times: dict[int, list[float]] = defaultdict(list)
    texts: dict[int, str] = {}
    for _ in range(min(args.requests, 50)):
        timings: list[tuple[str, float]] = []

        def timed(
            execute: Any, sql: str, params: Any, many: bool, context: Any, timings: Any = timings
        ) -> Any:
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                timings.append((sql, (time.perf_counter() - started) * 1000))

        with connection.execute_wrapper(timed):
            client.get(args.chart)
        for position, (sql, ms) in enumerate(timings):
            times[position].append(ms)
            texts.setdefault(position, " ".join(sql.split())[:120])
    print(f"\nqueries of one snapshot ({len(times)}), median ms:")
    for position, values in times.items():
        print(f"  {statistics.median(values):6.2f}  {texts[position]}")

    phase_times = timed_phases(client, args.chart, args.requests)
    print(f"\nphases of one snapshot (ms per page, mean of {args.requests}, no profiler):")
    print(f"  {'':32s} {'wall':>7s} {'CPU':>7s}")
    for label, (wall_ms, cpu_ms) in phase_times.items():
        print(f"  {label:32s} {wall_ms:7.2f} {cpu_ms:7.2f}")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        client.get(args.chart)
    profiler.disable()
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]
    print(f"\nphases of one snapshot (cProfile, cumulative ms per page, {args.requests} pages):")
    for label, path, function in PHASES:
        total = 0.0
        for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in table.items():
            if func == function and (filename.endswith(path) or path == "~"):
                total += ct
        print(f"  {label:32s} {total * 1000 / args.requests:7.2f}")
    if os.environ.get("PROFILE_TOP"):
        stats.sort_stats("cumulative").print_stats(int(os.environ["PROFILE_TOP"]))


def _gc_pause(pauses: list[float], started: dict[str, float], phase: str, info: Any) -> None:
    if phase == "start":
        started["at"] = time.perf_counter()
    elif "at" in started:
        pauses.append((time.perf_counter() - started.pop("at")) * 1000)


# (label, module, attribute path): functions timed by wrapping them (no profiler overhead).
TIMED = (
    ("grant re-check", "indblik.chart.views", "active_grant"),
    ("  patient", "indblik.records.source", "LocalStore.find_patient"),
    ("  blocks", "indblik.access.policy", "blocks"),
    ("rules acknowledged", "indblik.chart.rules", "acknowledged"),
    ("sections (read + decode)", "indblik.records.source", "LocalStore.sections"),
    ("presenter", "indblik.chart.presenters.registry", "Presenter.present"),
    ("audit write", "indblik.audit", "record"),
    ("layout", "indblik.chart.views", "_layout"),
    ("render (template)", "indblik.chart.views", "render"),
    ("  feedback check", "indblik.usage.feedback", "is_due"),
)


def timed_phases(client: Any, url: str, requests: int) -> dict[str, tuple[float, float]]:
    """Mean (wall, CPU) ms per page spent in each of :data:`TIMED` (and the whole request)."""
    import importlib

    totals: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    undo = []
    for label, module_name, attribute in TIMED:
        owner: Any = importlib.import_module(module_name)
        *parents, name = attribute.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            continue

        def wrapper(*a: Any, _original: Any = original, _label: str = label, **k: Any) -> Any:
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                return _original(*a, **k)
            finally:
                totals[_label] += time.perf_counter() - started
                cpu[_label] += time.process_time() - started_cpu

        setattr(owner, name, wrapper)
        undo.append((owner, name, original))
    try:
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            client.get(url)
        totals["whole request"] = time.perf_counter() - started
        cpu["whole request"] = time.process_time() - started_cpu
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)
    return {
        label: (seconds * 1000 / requests, cpu[label] * 1000 / requests)
        for label, seconds in totals.items()
    }


if __name__ == "__main__":
    main()
