"""Large ingestions on PostgreSQL: chunks written by a writer thread on its own connection.

The writer thread is used only outside a transaction (these tests commit for real) and only
on PostgreSQL; it must store exactly what one thread stores, chunk by chunk.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import threading
import time
from typing import Any

import orjson
import psycopg
import pytest
from django.db import connection, connections, transaction

from indblik.records import synth
from indblik.records.ingest import ingest_payload, ingest_resources, sql
from indblik.records.ingest.store import CHUNK_SIZE, Ingestor, can_write_in_background
from indblik.records.models import Patient, Resource
from indblik.records.tests.test_synth_command import _stored

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]
NOW = dt.datetime(2025, 11, 25, tzinfo=dt.UTC)


@pytest.fixture
def writer_connections() -> list[Any]:
    """The database connections (Django wrappers) that stored chunks, filled by writer_threads."""
    return []


@pytest.fixture
def writer_threads(monkeypatch: pytest.MonkeyPatch, writer_connections: list[Any]) -> list[str]:
    """Record the name of the thread that stores each chunk (and its connection)."""
    names: list[str] = []
    store = Ingestor._store

    def recording(self: Ingestor, chunk: list[Any]) -> bool:
        names.append(threading.current_thread().name)
        writer_connections.append(connections["default"])
        return store(self, chunk)

    monkeypatch.setattr(Ingestor, "_store", recording)
    return names


def _clear() -> None:
    Patient.objects.all().delete()
    Resource.objects.all().delete()


def test_a_writer_thread_stores_what_one_thread_stores(
    writer_threads: list[str], writer_connections: list[Any]
) -> None:
    sessions = _other_sessions()  # earlier tests' threads may hold some: none may be added
    resources = list(synth.generate(16, seed=3, now=NOW))
    chunks = math.ceil(len(resources) / CHUNK_SIZE)
    assert chunks >= 3

    alone = ingest_resources(resources, source="synthetic", parallel=False)
    expected = _stored()
    assert alone.ok and set(writer_threads) == {threading.main_thread().name}

    _clear()
    writer_threads.clear()
    threaded = ingest_resources(resources, source="synthetic", parallel=True)

    assert threaded.ok, threaded.errors[:3]
    assert threaded.summary() == alone.summary()
    assert len(writer_threads) == chunks
    assert all(name.startswith("indblik-ingest-writer") for name in writer_threads)
    assert _stored() == expected
    # The writer thread's connection is its own, and closed when the run ends.
    writer = writer_connections[-1]
    assert writer is not connections["default"] and writer.connection is None
    assert _other_sessions(at_most=sessions) == sessions


def _other_sessions(at_most: int = 0) -> int:
    """Return how many other sessions use the test database (waiting a while for there to be
    no more than ``at_most``: a closed connection's backend takes a moment to exit)."""
    for _ in range(40):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (count,) = cursor.fetchone()
        if count <= at_most:
            return int(count)
        time.sleep(0.05)
    return int(count)


def test_ndjson_through_the_writer_reports_bad_lines_and_stores_the_others(
    writer_threads: list[str],
) -> None:
    resources = list(synth.generate(14, seed=4, now=NOW))
    lines = [orjson.dumps(resource) for resource in resources]
    bad = next(index for index, r in enumerate(resources) if r["resourceType"] == "Observation")
    broken = orjson.loads(lines[bad])
    broken["status"] = "no-such-status"
    lines[bad] = orjson.dumps(broken)
    payload = b"\n".join(lines) + b"\n"

    result = ingest_payload(
        io.BytesIO(payload),
        source="file",
        channel="cli",
        content_type="application/fhir+ndjson",
        parallel=True,
    )

    assert writer_threads and all(n.startswith("indblik-ingest-writer") for n in writer_threads)
    assert (result.created, result.failed) == (len(resources) - 1, 1)
    assert [error.entry_index for error in result.errors] == [bad + 1]  # 1-based line
    assert Resource.objects.count() + Patient.objects.count() == len(resources) - 1
    assert result.run_id is not None


def test_the_writer_is_not_used_inside_a_transaction(writer_threads: list[str]) -> None:
    resources = list(synth.generate(14, seed=5, now=NOW))
    assert can_write_in_background()
    with transaction.atomic():
        assert not can_write_in_background()
        result = ingest_resources(resources, source="synthetic", parallel=True)
        assert result.ok
    assert set(writer_threads) == {threading.main_thread().name}


def test_a_failure_in_the_writer_reaches_the_caller_and_later_chunks_are_not_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sessions = _other_sessions()
    resources = list(synth.generate(16, seed=6, now=NOW))
    store = Ingestor._store
    calls = []

    def failing_second(self: Ingestor, chunk: list[Any]) -> bool:
        calls.append(len(chunk))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return store(self, chunk)

    monkeypatch.setattr(Ingestor, "_store", failing_second)

    with pytest.raises(RuntimeError, match="disk full"):
        ingest_resources(resources, source="synthetic", parallel=True)

    assert len(calls) == 2  # the third chunk was never handed to the writer
    assert Resource.objects.count() + Patient.objects.count() == calls[0]
    assert _other_sessions(at_most=sessions) == sessions


def test_looking_up_stored_resources_probes_the_index_whatever_the_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fresh bulk load grows a table that has not been analysed: a plain join then hashed
    # the keys and scanned the whole table for every chunk.
    ingest_resources(list(synth.generate(10, seed=7, now=NOW)), source="synthetic")
    keys = list(Resource.objects.values_list("resource_type", "fhir_id")[:500])
    plans: list[str] = []
    execute = psycopg.Cursor.execute

    def explaining(self: psycopg.Cursor[Any], query: Any, params: Any = None, **kw: Any) -> Any:
        if "unnest" in str(query):
            with psycopg.Cursor(self.connection) as explain:
                execute(explain, f"EXPLAIN {query}", params)
                plans.extend(row[0] for row in explain.fetchall())
        return execute(self, query, params, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", explaining)
    found = sql.resource_states(keys)

    assert len(found) == len(keys)
    plan = "\n".join(plans)
    assert "Index Scan using resource_type_id" in plan, plan
    assert "Seq Scan on records_resource" not in plan, plan
