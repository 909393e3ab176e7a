"""``indblik ingest``: exit codes, messages, stdin, all-or-nothing transactions."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from django.core.management import CommandError, call_command

from indblik.records.models import Patient, Resource
from indblik.records.tests.test_ingest_helpers import FIXTURES, counts, fixture_json

pytestmark = pytest.mark.django_db
INDBLIK = Path(sys.executable).with_name("indblik")


def ingest(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def bad_transaction(tmp_path: Path) -> Path:
    bundle = fixture_json("transaction-bundle.json")
    del bundle["entry"][4]["resource"]["status"]
    path = tmp_path / "bad.json"
    path.write_bytes(orjson.dumps(bundle))
    return path


def test_it_stores_a_bundle_and_an_ndjson_file() -> None:
    out, err = ingest(
        str(FIXTURES / "transaction-bundle.json"), str(FIXTURES / "lab-results.ndjson")
    )

    assert "transaction-bundle.json: transaction: 8 created" in out
    assert "lab-results.ndjson: ndjson: 6 created" in out
    assert err == ""
    assert counts() == (1, 13, 2)


def test_it_records_the_source_it_is_given() -> None:
    ingest(str(FIXTURES / "patient-dk.json"), "--source", "migration-2024")

    assert Patient.objects.get().source == "migration-2024"


def test_it_refuses_a_transaction_with_one_bad_entry_and_names_file_entry_and_path(
    tmp_path: Path,
) -> None:
    path = bad_transaction(tmp_path)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("ingest", str(path), stdout=out, stderr=err)

    assert raised.value.returncode == 1
    assert f"{path}:entry 4: Observation.status: field required" in err.getvalue()
    assert "transaction refused, nothing stored" in out.getvalue()
    assert counts() == (0, 0, 0)


def test_it_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (FIXTURES / "transaction-bundle.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    out, _ = ingest("-")

    assert "stdin: transaction: 8 created" in out


def test_a_missing_file_is_a_clear_error_and_nothing_is_stored(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"nowhere\.json: no such file"):
        ingest(str(FIXTURES / "transaction-bundle.json"), str(tmp_path / "nowhere.json"))

    assert counts() == (0, 0, 0)


def test_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is a directory"):
        ingest(str(tmp_path))


def test_it_reports_the_line_of_a_bad_ndjson_line_and_keeps_the_good_ones(tmp_path: Path) -> None:
    ingest(str(FIXTURES / "transaction-bundle.json"))
    lines = (FIXTURES / "lab-results.ndjson").read_bytes().splitlines(keepends=True)
    broken = orjson.loads(lines[1])
    broken["valueQuantity"]["value"] = "high"
    path = tmp_path / "labs.ndjson"
    path.write_bytes(lines[0] + orjson.dumps(broken) + b"\n" + b"".join(lines[2:]))
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("ingest", str(path), stdout=io.StringIO(), stderr=err)

    assert err.getvalue().strip() == (
        f"{path}:line 2: Observation.valueQuantity.value: not a valid FHIR decimal"
    )
    assert Resource.objects.filter(resource_type="Observation").count() == 6


@pytest.mark.slow
def test_the_console_script_exits_0_only_when_everything_was_stored(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "INDBLIK_MODE": "test",
        "INDBLIK_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "indblik.settings",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(INDBLIK), *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    assert run("migrate", "-v0").returncode == 0
    good = run("ingest", str(FIXTURES / "transaction-bundle.json"))
    bad = run("ingest", str(bad_transaction(tmp_path)))
    missing = run("ingest", str(tmp_path / "missing.json"))

    assert (good.returncode, bad.returncode, missing.returncode) == (0, 1, 1)
    assert "8 created" in good.stdout
    assert "entry 4: Observation.status: field required" in bad.stderr
    assert "missing.json: no such file" in missing.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_it_shows_progress_on_a_terminal_only() -> None:
    terminal, pipe = Terminal(), io.StringIO()

    call_command("ingest", str(FIXTURES / "patient-dk.json"), stdout=io.StringIO(), stderr=terminal)
    call_command("ingest", str(FIXTURES / "patient-dk.json"), stdout=io.StringIO(), stderr=pipe)

    assert f"\r{FIXTURES / 'patient-dk.json'}: 1 resources, " in terminal.getvalue()
    assert "/s\x1b[K" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\x1b[K")
    assert pipe.getvalue() == ""
