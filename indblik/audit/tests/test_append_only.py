"""Nothing changes or deletes an audit row or checkpoint: not the ORM, not raw SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from indblik.audit import Action, AppendOnlyError, integrity, record
from indblik.audit.models import AuditCheckpoint, AuditEvent
from indblik.audit.testing import append_only_triggers_disabled

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="TRUNCATE exists on PostgreSQL only"
)


@pytest.fixture
def event() -> AuditEvent:
    return record(None, Action.PATIENT_READ, patient_cpr="0101701234", reason="first")


@pytest.fixture
def checkpoint(clock: Any, write_events: Callable[..., Any]) -> AuditCheckpoint:
    write_events(2)
    clock.shift(3600)
    sealed = integrity.create_checkpoint()
    assert sealed is not None
    return sealed


def refused_by_database(sql: str, params: list[Any] | None = None) -> bool:
    """Run ``sql``; tell whether the database refused it (in a savepoint, so the test goes on)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except IntegrityError as exc:
        assert "append-only" in str(exc)
        return True
    return False


def test_an_event_cannot_be_saved_again_or_deleted(event: AuditEvent) -> None:
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError, match="cannot be changed"):
        event.save()
    with pytest.raises(AppendOnlyError, match="cannot be deleted"):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == "first"


def test_rows_are_created_only_by_the_writer() -> None:
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.create(action="chart:patient:read", outcome="success")
    with pytest.raises(AppendOnlyError):
        AuditEvent(action="chart:patient:read", outcome="success").save()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(action="chart:patient:read")])
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda qs: qs.update(reason="rewritten"),
        lambda qs: qs.delete(),
        lambda qs: qs._raw_delete(qs.db),
        lambda qs: qs.bulk_update(list(qs), ["reason"]),
        lambda qs: qs.update_or_create(pk=1, defaults={"reason": "x"}),
    ],
    ids=["update", "delete", "raw_delete", "bulk_update", "update_or_create"],
)
def test_querysets_refuse_every_bulk_change(event: AuditEvent, change: Callable[..., Any]) -> None:
    for queryset in (AuditEvent.objects.all(), AuditEvent._base_manager.all()):
        with pytest.raises(AppendOnlyError):
            change(queryset)
    assert AuditEvent.objects.get(pk=event.pk).reason == "first"


def test_checkpoints_are_append_only_too(checkpoint: AuditCheckpoint) -> None:
    with pytest.raises(AppendOnlyError):
        checkpoint.save()
    with pytest.raises(AppendOnlyError):
        checkpoint.delete()
    with pytest.raises(AppendOnlyError):
        AuditCheckpoint.objects.update(row_count=0)


def test_raw_sql_cannot_update_or_delete_an_event(event: AuditEvent) -> None:
    assert refused_by_database("UPDATE audit_auditevent SET reason = %s", ["rewritten"])
    assert refused_by_database("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).reason == "first"


def test_raw_sql_cannot_update_or_delete_a_checkpoint(checkpoint: AuditCheckpoint) -> None:
    assert refused_by_database("UPDATE audit_auditcheckpoint SET row_count = 0")
    assert refused_by_database("DELETE FROM audit_auditcheckpoint")
    assert AuditCheckpoint.objects.get().row_count == 2


@postgresql_only
def test_truncate_is_refused_while_the_log_holds_rows(
    event: AuditEvent, checkpoint: AuditCheckpoint
) -> None:
    assert refused_by_database("TRUNCATE audit_auditevent")
    assert refused_by_database("TRUNCATE audit_auditcheckpoint")
    assert refused_by_database("TRUNCATE audit_auditevent, audit_auditcheckpoint")
    assert AuditEvent.objects.count() == 3


@postgresql_only
def test_truncating_an_empty_log_loses_nothing_and_is_allowed() -> None:
    # What lets the test runner flush other apps' tables after transactional tests.
    assert not refused_by_database("TRUNCATE audit_auditevent, audit_auditcheckpoint")


def test_the_owner_can_switch_the_triggers_off_which_is_why_verify_exists(
    event: AuditEvent,
) -> None:
    with append_only_triggers_disabled():
        assert not refused_by_database("UPDATE audit_auditevent SET reason = 'forged'")
        assert integrity.verify().problems[0].kind == "trigger"
    # ...and the helper puts them back.
    assert refused_by_database("UPDATE audit_auditevent SET reason = 'again'")
    assert [problem.kind for problem in integrity.verify().problems] == ["row-changed"]
