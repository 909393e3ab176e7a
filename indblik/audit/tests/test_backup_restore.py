"""Back up with pg_dump, restore into an empty database, and the audit log verifies there.

The procedure of docs/operations.md, "Backup and restore", run for real: a database holding
records (ingested), a chart page's audit row, ordinary audit rows and a signed checkpoint is
dumped with Debian's ``pg_dump -Fc``, restored with ``pg_restore`` into a new database, and
``indblik audit verify --expect SEQ:DIGEST`` (a fresh process, the same audit key) passes on
the copy. A row changed in the copy afterwards makes it fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from indblik.access.testing import grant_client
from indblik.audit import integrity
from indblik.audit.models import AuditCheckpoint, AuditEvent
from indblik.chart.tests.conftest import load_citizens, richest_patient
from indblik.records.models import Patient

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_dump needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def url(name: str) -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def client_tool(name: str) -> str:
    """Return Debian's ``name`` if it can dump this server, else skip with the reason."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"(\d+)\.\d+", version.stdout)
    assert found, version.stdout
    server = connection.cursor().connection.info.server_version // 10000
    if int(found[1]) < server:
        pytest.skip(f"{name} {found[1]} cannot dump a PostgreSQL {server} server")
    return path


@pytest.fixture
def restored_name() -> Iterator[str]:
    """Yield the name of a database to restore into; drop it afterwards."""
    name = f"{connection.settings_dict['NAME']}_restored_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def verify(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``indblik audit verify`` in a new process against ``database`` (same audit key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDBLIK_", "DATABASE_URL"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "indblik.settings",
        "INDBLIK_MODE": "test",
        "DATABASE_URL": url(database),
        # The data directory holds the test run's generated audit key: the same key.
        "INDBLIK_DATA_DIR": str(settings.DATA_DIR),
    }
    return subprocess.run(
        [sys.executable, "-m", "indblik", "audit", "verify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


COUNTS = (
    "SELECT (SELECT count(*) FROM records_patient), (SELECT count(*) FROM audit_auditevent), "
    "(SELECT count(*) FROM audit_auditcheckpoint)"
)


def counts(database: str) -> tuple[int, int, int]:
    """Return how many patients, audit events and checkpoints ``database`` holds."""
    with psycopg.connect(url(database)) as db:
        row = db.execute(COUNTS).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_a_restored_backup_verifies_and_a_change_to_it_does_not(
    clock: Any, write_events: Callable[..., list[AuditEvent]], restored_name: str, tmp_path: Path
) -> None:
    pg_dump, pg_restore = client_tool("pg_dump"), client_tool("pg_restore")
    # Records through the ingestion core, a chart page read (its audit row through the view),
    # ordinary audit rows, and a signed checkpoint over them; a few rows left unsealed.
    load_citizens(2)
    nurse = grant_client(richest_patient())
    assert nurse.client.get(nurse.url()).status_code == 200
    write_events(5)
    clock.shift(3600)
    checkpoint = integrity.create_checkpoint()
    assert checkpoint is not None and checkpoint.row_count >= 6
    unsealed = write_events(3)
    live = connection.settings_dict["NAME"]
    assert counts(live) == (Patient.objects.count(), AuditEvent.objects.count(), 1)

    dump = tmp_path / "indblik.dump"
    dumped = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={dump}", url(live)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dumped.returncode == 0, dumped.stderr
    with psycopg.connect(url("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored_name}"')
    restored = subprocess.run(
        [pg_restore, "--no-owner", "--exit-on-error", f"--dbname={url(restored_name)}", str(dump)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert restored.returncode == 0, restored.stderr
    assert counts(restored_name) == counts(live)

    anchor = AuditCheckpoint.objects.get()
    intact = verify(restored_name, "--expect", f"{anchor.sequence}:{anchor.digest}")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "Audit log verified" in intact.stdout

    # Someone with the database's keys changes one row of the copy (the triggers came back
    # with the schema: only a superuser's replication role gets past them).
    changed = unsealed[1].pk
    with psycopg.connect(url(restored_name)) as db:
        with pytest.raises(psycopg.errors.RestrictViolation):
            db.execute("UPDATE audit_auditevent SET reason = 'forged' WHERE id = %s", [changed])
        db.rollback()
        db.execute("SET session_replication_role = replica")
        db.execute("UPDATE audit_auditevent SET reason = 'forged' WHERE id = %s", [changed])
        db.commit()
    tampered = verify(restored_name)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f"row {changed} was changed after it was written" in tampered.stderr
    # The live database was not touched.
    assert verify(live).returncode == 0
