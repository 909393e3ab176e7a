"""How fast the citizen's Min log page is with millions of other events in the audit table.

``python -m indblik.followup.bench --events 1000000,10000000`` against ``DATABASE_URL`` (a
fresh, migrated PostgreSQL database: ``indblik bench min-log`` makes one). It creates a
citizen with a few hundred lookups of their own, times ``/min-log/`` with only those in the
table, then bulk-loads synthetic events of other citizens (``INSERT … SELECT
generate_series``; the secondary indexes are dropped during the load and rebuilt after, and
row hashes are placeholders - ``verify`` is not this benchmark's subject) up to each size and
times the page again. Prints JSON, with the query plan of the log's query.

Refused outside INDBLIK_MODE=test: synthetic rows in a real, append-only log could never be
removed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

CITIZEN_CPR = "0101701234"
PROFESSIONALS = 25
VISITS = 60  # the measured citizen: 60 visits over two years, 5 events each (300 events)
SECTIONS = ("snapshot", "notes", "lab", "medication", "diagnoses", "encounters")
OTHER_CITIZENS = 500_000
LOAD_CHUNK = 1_000_000
_COLUMNS = (
    "at, action, outcome, user_id, actor_name, actor_authorisation, actor_role, "
    "actor_delegated, organisation_cvr, organisation_name, patient_cpr, section, resource_ids, "
    "client_ip, user_agent, request_id, purpose, reason, decision_reasons, details, "
    "hash_version, row_hash"
)
# Other citizens' events: the usual mix of actions, 5,000 users of 100 organisations,
# 500,000 citizens (20 events each on average), evenly over two years, in id order.
_FILLER = f"""
INSERT INTO audit_auditevent ({_COLUMNS})
SELECT
    now() - interval '730 days' + g * (interval '730 days' / %(total)s),
    (ARRAY['chart:patient:read', 'chart:patient:read', 'chart:patient:read',
           'chart:document:view', 'access:decision:allow', 'chart:section:search',
           'identity:session:login', 'followup:citizen-log:read'])[1 + g %% 8],
    'success',
    1000 + (g * 7919) %% 5000,
    'Sygeplejerske ' || (g * 7919) %% 5000,
    'A' || lpad(((g * 7919) %% 5000)::text, 4, '0'),
    'http://kombit.dk/roles/jobrole/sundhedsjournal/1',
    false,
    (29100000 + ((g * 7919) %% 5000) / 50)::text,
    'Kommune ' || ((g * 7919) %% 5000) / 50,
    CASE WHEN g %% 8 = 6 THEN '' ELSE
        '1' || lpad(((g * 48271) %% {OTHER_CITIZENS})::text, 9, '0') END,
    (ARRAY['snapshot', 'notes', 'lab', 'medication', 'diagnoses', 'encounters'])[1 + g %% 6],
    '["Observation/obs-' || g || '"]',
    ('10.20.' || (g %% 7) || '.' || (1 + g %% 250))::inet,
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36',
    lpad(to_hex(g), 32, '0'),
    'treatment',
    '',
    '["contextual", "residence"]'::jsonb,
    '{{}}'::jsonb,
    1,
    repeat('0', 64)
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""  # noqa: S608 - constants only, no input


def main(argv: list[str] | None = None) -> None:
    """Set up, load, measure; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000000,10000000", help="table sizes to measure")
    parser.add_argument("--requests", type=int, default=200, help="page loads per measurement")
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.events.split(","))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "indblik.settings")
    import django

    django.setup()
    import orjson
    from django.conf import settings
    from django.db import connection

    if settings.INDBLIK_MODE != "test" or connection.vendor != "postgresql":
        sys.exit("the Min log benchmark needs INDBLIK_MODE=test and PostgreSQL")
    client, own_events = _citizen()
    results: dict[str, Any] = {"citizen_events": own_events, "stages": []}
    results["stages"].append(_measure(client, args.requests))
    loaded = 0
    for size in sizes:
        load_seconds = _load(loaded, size - loaded, span=sizes[-1])
        loaded = size
        stage = _measure(client, args.requests)
        stage["load_seconds"] = round(load_seconds, 1)
        results["stages"].append(stage)
    results["plan"] = _plan()
    sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")


def _citizen() -> tuple[Any, int]:
    """Create the citizen, the professionals who looked, and the citizen's events (SQL)."""
    import datetime as dt

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from indblik.identity.models import User, UserKind

    citizen = User.objects.create(
        username="bench-citizen",
        kind=UserKind.CITIZEN,
        persistent_id="bench-citizen",
        cpr=CITIZEN_CPR,
        full_name="Karen Sørensen",
        loa="Substantial",
    )
    for n in range(PROFESSIONALS):
        User.objects.create(
            id=100 + n,
            username=f"bench-nurse-{n}",
            kind=UserKind.PROFESSIONAL,
            persistent_id=f"bench-nurse-{n}",
            full_name=f"Sygeplejerske {n}",
            profession="Sygeplejerske" if n % 3 else "Læge",
        )
    rows = []
    start = timezone.now() - dt.timedelta(days=730)
    for visit in range(VISITS):
        at = start + dt.timedelta(days=visit * 12, hours=8 + visit % 8)
        user = 100 + visit % PROFESSIONALS
        emergency = visit % 15 == 0
        purpose = "emergency" if emergency else "treatment"
        actions = ["access:decision:allow"] + ["chart:patient:read"] * 3 + ["chart:page:print"]
        for step, action in enumerate(actions):
            rows.append(
                (
                    at + dt.timedelta(minutes=step),
                    action,
                    user,
                    f"Sygeplejerske {user - 100}",
                    str(29189846 + visit % 3),
                    ("Københavns", "Aarhus", "Odense")[visit % 3] + " Kommune",
                    SECTIONS[(visit + step) % len(SECTIONS)] if step else "",
                    purpose,
                    "bevidstløs, pårørende kan ikke nås" if emergency else "",
                )
            )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO audit_auditevent ({_COLUMNS}) VALUES (%s, %s, 'success', %s, %s, '', "  # noqa: S608
            "'http://kombit.dk/roles/jobrole/sundhedsjournal/1', false, %s, %s, '0101701234', "
            "%s, '[]', '10.20.0.7', 'Mozilla/5.0', '', %s, %s, '[\"contextual\"]', '{}', 1, "
            "repeat('0', 64))",
            rows,
        )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(citizen)
    return client, len(rows)


def _load(first: int, count: int, *, span: int) -> float:
    """Append ``count`` synthetic events after the ``first`` ones; rebuild indexes; return seconds.

    Event ``g`` of ``span`` lies at ``g/span`` of the two years, so the final table covers
    them evenly (a smaller stage covers their beginning).
    """
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent' "
            "AND indexname NOT LIKE '%%pkey'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for low in range(first + 1, first + count + 1, LOAD_CHUNK):
            high = min(low + LOAD_CHUNK - 1, first + count)
            cursor.execute(_FILLER, {"first": low, "last": high, "total": span})
            print(
                f"loaded up to {high:,} in {time.perf_counter() - started:.0f} s", file=sys.stderr
            )
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("VACUUM (ANALYZE) audit_auditevent")
    return time.perf_counter() - started


def _measure(client: Any, requests: int) -> dict[str, Any]:
    """Time ``/min-log/`` (newest page, then an older page), alternating; return ms."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent")
        (rows,) = cursor.fetchone()
        cursor.execute(
            "SELECT id FROM audit_auditevent WHERE patient_cpr = %s AND action = %s "
            "ORDER BY at LIMIT 1 OFFSET 30",
            [CITIZEN_CPR, "chart:page:print"],
        )
        (middle,) = cursor.fetchone()
    urls = {"newest": "/min-log/", "older": f"/min-log/?before={middle}"}
    for url in urls.values():  # warm up: connections, templates, caches
        for _ in range(5):
            _get(client, url)
    times: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(requests):
        for name, url in urls.items():
            started = time.perf_counter()
            _get(client, url)
            times[name].append((time.perf_counter() - started) * 1000)
    stage: dict[str, Any] = {"table_rows": rows}
    for name, values in times.items():
        values.sort()
        stage[name] = {
            "median_ms": round(statistics.median(values), 2),
            "p99_ms": round(values[int(len(values) * 0.99) - 1], 2),
            "n": len(values),
        }
    return stage


def _get(client: Any, url: str) -> None:
    response = client.get(url)
    if response.status_code != 200 or b"Sygeplejerske" not in response.content:
        raise RuntimeError(f"{url} answered {response.status_code}")


def _plan() -> str:
    """Return PostgreSQL's plan (EXPLAIN ANALYZE, BUFFERS) of the log's first-page query."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from indblik.followup.citizen import citizen_log

    with CaptureQueriesContext(connection) as captured:
        citizen_log(CITIZEN_CPR)
    sql = next(
        query["sql"] for query in captured.captured_queries if "audit_auditevent" in query["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


if __name__ == "__main__":
    main()
