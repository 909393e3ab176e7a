"""`indblik audit checkpoint|verify|public-key`: clear messages and honest exit codes."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connection

from indblik.audit import keys
from indblik.audit.models import AuditCheckpoint
from indblik.audit.testing import append_only_triggers_disabled

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("audit", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_checkpoint_with_nothing_to_seal_says_so() -> None:
    out, _ = run("checkpoint")
    assert "Nothing to seal: no rows since the last checkpoint." in out


def test_checkpoint_says_when_rows_wait_for_the_margin(
    clock: Any, write_events: Callable[..., Any]
) -> None:
    write_events(2)
    clock.shift(10)
    out, _ = run("checkpoint")
    assert "Nothing to seal yet: 2 newer rows (oldest 10 s old)" in out


def test_checkpoint_seals_and_prints_the_digest(
    clock: Any, write_events: Callable[..., Any]
) -> None:
    rows = write_events(3)
    clock.shift(3600)
    out, _ = run("checkpoint")
    assert f"Checkpoint 1 sealed 3 rows (ids 1-{rows[-1].pk})." in out
    checkpoint = AuditCheckpoint.objects.get()
    assert f"anchor 1:{checkpoint.digest} key {checkpoint.key_id}" in out


def test_verify_passes_and_summarises(clock: Any, write_events: Callable[..., Any]) -> None:
    write_events(3)
    clock.shift(3600)
    run("checkpoint")
    write_events(1)
    out, _ = run("verify")
    assert out.startswith("Audit log verified: 4 rows (3 sealed by 1 checkpoints, 1 not yet sealed")


def test_verify_fails_with_the_first_problem(clock: Any, write_events: Callable[..., Any]) -> None:
    rows = write_events(2)
    with append_only_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'forged' WHERE id = %s", [rows[0].pk])
    with pytest.raises(CommandError) as raised:
        run("verify")
    assert raised.value.returncode == 1
    assert str(raised.value) == (
        f"audit log verification failed: row {rows[0].pk} was changed after it was written "
        "(its content does not match its hash)"
    )


def test_the_real_exit_status_is_1_on_a_tampered_log(
    write_events: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = write_events(1)
    with append_only_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [rows[0].pk])
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["indblik", "audit", "verify"])
    assert exited.value.code == 1
    assert f"row {rows[0].pk} was changed" in capsys.readouterr().err


def test_the_real_exit_status_is_0_on_an_intact_log(write_events: Callable[..., Any]) -> None:
    write_events(1)
    execute_from_command_line(["indblik", "audit", "verify"])  # returns: no SystemExit


def test_checkpoint_refuses_to_seal_a_tampered_row(
    clock: Any, write_events: Callable[..., Any]
) -> None:
    rows = write_events(1)
    with append_only_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [rows[0].pk])
    clock.shift(3600)
    with pytest.raises(CommandError, match="checkpoint refused") as raised:
        run("checkpoint")
    assert raised.value.returncode == 1


def test_a_missing_production_key_is_a_configuration_error(
    settings: Any, clock: Any, write_events: Callable[..., Any]
) -> None:
    settings.PRODUCTION = True
    settings.INDBLIK_AUDIT_KEY_FILE = ""
    write_events(1)
    clock.shift(3600)
    with pytest.raises(CommandError, match="INDBLIK_AUDIT_KEY_FILE") as raised:
        run("checkpoint")
    assert raised.value.returncode == 2


def test_public_key_prints_the_key_id_and_pem() -> None:
    out, _ = run("public-key")
    public = keys.load_signing_key().public_key()
    assert out.startswith(f"key id {keys.key_id(public)}\n-----BEGIN PUBLIC KEY-----")


def test_a_subcommand_is_required() -> None:
    with pytest.raises(CommandError):
        run()


def test_an_anchor_kept_elsewhere_reveals_a_log_whose_newest_part_was_cut_off(
    clock: Any, write_events: Callable[..., Any]
) -> None:
    write_events(2)
    clock.shift(3600)
    run("checkpoint")
    write_events(2)
    clock.shift(3600)
    out, _ = run("checkpoint")
    anchor = out.split("anchor ")[1].split()[0]  # what the central log received
    run("verify", "--expect", anchor)
    # The owner removes the newest checkpoint and the rows it sealed: the chain that is left
    # is still valid, so only the anchor can tell.
    newest = AuditCheckpoint.objects.get(sequence=2)
    with append_only_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditcheckpoint WHERE sequence = 2")
        cursor.execute("DELETE FROM audit_auditevent WHERE id >= %s", [newest.first_id])
    run("verify")
    with pytest.raises(CommandError, match="checkpoint 2: it is missing") as raised:
        run("verify", "--expect", anchor)
    assert raised.value.returncode == 1


def test_a_malformed_anchor_is_refused() -> None:
    with pytest.raises(CommandError, match="SEQUENCE:DIGEST"):
        run("verify", "--expect", "2:abc")


def test_an_anchor_with_another_digest_fails(clock: Any, write_events: Callable[..., Any]) -> None:
    write_events(1)
    clock.shift(3600)
    run("checkpoint")
    with pytest.raises(CommandError, match="digest differs"):
        run("verify", "--expect", "1:" + "ab" * 32)


def test_verify_refuses_a_silly_number_of_processes() -> None:
    with pytest.raises(CommandError, match="--processes must be between 1 and 64"):
        run("verify", "--processes", "0")
