"""`indblik audit export`: formats that round-trip, filters, atomic files, audited, strict."""

from __future__ import annotations

import csv
import os
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.management import CommandError, call_command
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

from indblik.audit import Action, Actor, Outcome, export, record
from indblik.audit.models import AuditEvent
from indblik.audit.tests.forward_kit import event_id_of

pytestmark = pytest.mark.django_db

ANNE = Actor(user_id=41, name="Anne Holm", organisation_cvr="29189846", organisation_name="KK")
BO = Actor(user_id=42, name="Bo Berg", organisation_cvr="55133018", organisation_name="Aarhus")


@pytest.fixture
def events(clock: Any) -> list[AuditEvent]:
    """Four events on 3 and 4 March 2025, two patients, two organisations."""
    written = [
        record(None, Action.PATIENT_READ, actor=ANNE, patient_cpr="0101701234", section="snapshot"),
        record(
            None,
            Action.ACCESS_DENIED,
            outcome=Outcome.REFUSED,
            actor=BO,
            patient_cpr="0202802345",
            reason='=HYPERLINK("http://evil")',
            decision_reasons=["no_relationship"],
        ),
    ]
    clock.shift(86400)  # 4 March
    written += [
        record(None, Action.LOGIN, actor=ANNE),
        record(
            None,
            Action.DOCUMENT_VIEW,
            actor=BO,
            patient_cpr="0101701234",
            resource_ids=["DocumentReference/d1"],
        ),
    ]
    return written


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("audit", "export", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_csv_round_trips_and_defuses_formulas(events: list[AuditEvent], tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    _, err = run("--format", "csv", "--out", str(path))
    assert "Exported 4 audit events." in err
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # CPR numbers inside
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(export.CSV_COLUMNS)
    assert [int(row["id"]) for row in rows] == [event.pk for event in events]
    refused = rows[1]
    assert refused["reason"] == '\'=HYPERLINK("http://evil")'  # shown, never run
    assert refused["patient_cpr"] == "0202802345"
    assert orjson.loads(refused["decision_reasons"]) == ["no_relationship"]
    for row, event in zip(rows, events, strict=True):
        assert row["row_hash"] == event.row_hash
        assert row["action"] == event.action and row["actor_name"] == event.actor_name
        assert orjson.loads(row["resource_ids"]) == event.resource_id_list


def test_fhir_ndjson_has_one_valid_audit_event_per_line(
    events: list[AuditEvent], tmp_path: Path
) -> None:
    path = tmp_path / "log.ndjson"
    run("--format", "fhir", "--out", str(path))
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    for line, event in zip(lines, events, strict=True):
        resource = orjson.loads(line)
        FhirAuditEvent.model_validate(resource)
        assert resource["id"] == f"indblik-{event.pk}"


def test_syslog_lines_are_one_message_per_line(events: list[AuditEvent], tmp_path: Path) -> None:
    path = tmp_path / "log.syslog"
    run("--format", "syslog", "--out", str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [event_id_of(line) for line in lines] == [event.pk for event in events]
    assert all(line.startswith("<8") and "<AuditMessage>" in line for line in lines)


def test_filters_by_period_patient_and_organisation(
    events: list[AuditEvent], tmp_path: Path
) -> None:
    path = tmp_path / "x.ndjson"
    run("--format", "fhir", "--out", str(path), "--since", "2025-03-04")
    assert _ids(path) == [f"indblik-{e.pk}" for e in events[2:]]
    run("--format", "fhir", "--out", str(path), "--force", "--until", "2025-03-04")
    assert _ids(path) == [f"indblik-{e.pk}" for e in events[:2]]
    run("--format", "fhir", "--out", str(path), "--force", "--patient", "010170-1234")
    assert _ids(path) == [f"indblik-{events[0].pk}", f"indblik-{events[3].pk}"]
    run("--format", "fhir", "--out", str(path), "--force", "--org", "55133018")
    assert _ids(path) == [f"indblik-{events[1].pk}", f"indblik-{events[3].pk}"]
    run(
        "--format", "fhir", "--out", str(path), "--force",
        "--since", "2025-03-03T09:00:00Z", "--until", "2025-03-03T10:00:00+00:00",
        "--org", "29189846",
    )  # fmt: skip
    assert _ids(path) == [f"indblik-{events[0].pk}"]


def _ids(path: Path) -> list[str]:
    return [orjson.loads(line)["id"] for line in path.read_text().splitlines()]


def test_the_export_is_audited_without_the_cpr_in_its_details(
    events: list[AuditEvent], tmp_path: Path
) -> None:
    path = tmp_path / "x.csv"
    run("--format", "csv", "--out", str(path), "--patient", "0101701234", "--since", "2025-03-01")
    audit_event = AuditEvent.objects.get(action=Action.AUDIT_EXPORT)
    assert audit_event.patient_cpr == "0101701234"
    assert audit_event.actor_name.startswith("command-line (")
    assert audit_event.details["format"] == "csv"
    assert audit_event.details["destination"] == "file"
    assert audit_event.details["since"].startswith("2025-03-01T00:00:00+01:00")  # Danish midnight
    assert "0101701234" not in orjson.dumps(audit_event.details).decode()
    # The export's own event is not in the export (it is a snapshot taken before it).
    with path.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 2


def test_export_to_standard_output(events: list[AuditEvent]) -> None:
    out, _ = run("--format", "fhir", "--org", "29189846")
    assert [orjson.loads(line)["id"] for line in out.splitlines()] == [
        f"indblik-{events[0].pk}",
        f"indblik-{events[2].pk}",
    ]


def test_an_unwritable_destination_leaves_nothing(events: list[AuditEvent], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        # root may write anywhere but in /proc.
        directory = locked if not os.access(locked, os.W_OK) else Path("/proc")
        with pytest.raises(CommandError, match="cannot write"):
            run("--format", "csv", "--out", str(directory / "indblik-log.csv"))
        assert not (directory / "indblik-log.csv").exists()
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_failure_half_way_leaves_no_file(
    events: list[AuditEvent], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = export.csv_row

    def failing(event: AuditEvent) -> list[str]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return original(event)

    monkeypatch.setattr(export, "csv_row", failing)
    with pytest.raises(CommandError, match="No space left on device"):
        run("--format", "csv", "--out", str(tmp_path / "log.csv"))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_only_with_force(
    events: list[AuditEvent], tmp_path: Path
) -> None:
    path = tmp_path / "log.csv"
    path.write_text("keep me")
    with pytest.raises(CommandError, match="exists; use --force"):
        run("--format", "csv", "--out", str(path))
    assert path.read_text() == "keep me"
    run("--format", "csv", "--out", str(path), "--force")
    assert path.read_text().startswith("id,at,action")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "invalid choice"),
        (["--format", "csv", "--patient", "12345"], "CPR number is 10 digits"),
        (["--format", "csv", "--org", "1234"], "CVR number is 8 digits"),
        (["--format", "csv", "--since", "yesterday"], "not a date or time"),
        (
            ["--format", "csv", "--since", "2025-03-04", "--until", "2025-03-03"],
            "--since must be before",
        ),
        (["--format", "csv", "--out", "/nonexistent-dir/x.csv"], "is not a directory"),
        ([], "--format"),
    ],
)
def test_bad_arguments_are_refused_clearly(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not AuditEvent.objects.filter(action=Action.AUDIT_EXPORT).exists()


def test_csv_safe_prefixes_every_formula_start() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "|cmd", "%0A"):
        assert export.csv_safe(text) == "'" + text
    assert export.csv_safe("Anne") == "Anne"
