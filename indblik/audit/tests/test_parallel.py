"""Verifying with several processes finds exactly what one process finds."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from indblik.audit import integrity
from indblik.audit.integrity import verification
from indblik.audit.models import AuditCheckpoint
from indblik.audit.testing import append_only_triggers_disabled


def test_the_log_is_split_at_checkpoint_boundaries_into_parts_of_similar_size() -> None:
    checkpoints = [
        AuditCheckpoint(sequence=n, first_id=n * 10 - 9, last_id=n * 10, row_count=10)
        for n in range(1, 7)
    ]
    parts = verification._partition(checkpoints, 3)
    assert [([c.sequence for c in group], after, upper) for group, after, upper in parts] == [
        ([1, 2], None, 20),
        ([3, 4], 20, 40),
        ([5, 6], 40, None),  # the last part also takes every unsealed row
    ]
    assert [group for group, _, _ in verification._partition([], 3)] == [[]]


@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="workers need committed rows")
@pytest.mark.django_db(transaction=True)
def test_two_processes_find_what_one_finds(clock: Any, write_events: Callable[..., Any]) -> None:
    rows = []
    for _ in range(4):
        rows += write_events(5)
        clock.shift(3600)
        assert integrity.create_checkpoint() is not None
    rows += write_events(3)  # not yet sealed
    assert integrity.verify(processes=2).ok
    with append_only_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [rows[2].pk])
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [rows[14].pk])
        cursor.execute("UPDATE audit_auditevent SET reason = 'y' WHERE id = %s", [rows[21].pk])
    one, two = integrity.verify(), integrity.verify(processes=2)
    assert (one.processes, two.processes) == (1, 2)
    assert two.problems == one.problems
    assert [(p.kind, p.row_id) for p in two.problems] == [
        ("row-changed", rows[2].pk),
        ("row-missing", rows[14].pk),
        ("row-changed", rows[21].pk),
    ]
    assert (two.rows, two.sealed_rows, two.unsealed_rows) == (one.rows, one.sealed_rows, 3)
    assert (two.first_unsealed_id, two.last_unsealed_id) == (rows[20].pk, rows[22].pk)


@pytest.mark.slow
def test_the_command_verifies_a_sqlite_file_with_two_processes_and_exits_1_on_tampering(
    tmp_path: Path,
) -> None:
    database = tmp_path / "indblik.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDBLIK_", "DATABASE_URL"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "indblik.settings",
        "INDBLIK_MODE": "test",
        "INDBLIK_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{database}",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], env=env, capture_output=True, text=True, timeout=300
        )

    assert run("-m", "indblik", "migrate", "--skip-checks", "-v", "0").returncode == 0
    fill = run(
        "-c",
        "import django; django.setup()\n"
        "from indblik.audit import bench, integrity, writer\n"
        "events = bench._synthetic_events(40)\n"
        "for _ in range(4):\n"
        "    writer.bulk_record_for_benchmark(next(events) for _ in range(10))\n"
        "    integrity.create_checkpoint()\n",
    )
    assert fill.returncode == 0, fill.stderr
    intact = run("-m", "indblik", "audit", "verify", "--processes", "2")
    assert intact.returncode == 0, intact.stderr
    assert "Audit log verified: 40 rows (40 sealed by 4 checkpoints" in intact.stdout
    assert "2 processes" in intact.stdout

    with sqlite3.connect(database) as db:  # an owner of the file can do anything
        db.execute("DROP TRIGGER audit_auditevent_no_update")
        db.execute("UPDATE audit_auditevent SET reason = 'forged' WHERE id = 33")
    tampered = run("-m", "indblik", "audit", "verify", "--processes", "2")
    assert tampered.returncode == 1
    assert "the append-only trigger audit_auditevent_no_update is missing" in tampered.stderr
    assert "row 33 was changed after it was written" in tampered.stderr
