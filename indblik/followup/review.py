"""The reviewer's decision on a case: justified or not, with a note; audited."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from indblik import audit
from indblik.access.models import ReviewAlert
from indblik.audit import Action
from indblik.followup.models import Case, Status

MAX_NOTE = 2000


def decide(request: HttpRequest, case: Case, *, status: str, note: str) -> Case:
    """Record the reviewer's decision on ``case`` (and on its review alert, if any).

    The audit row and the change are one transaction: a decision that cannot be logged is
    not made. A decision can be changed later; every change is its own audit row.
    """
    if status not in (Status.JUSTIFIED, Status.NOT_JUSTIFIED):
        raise ValueError(f"unknown decision {status!r}")
    note = note.strip()[:MAX_NOTE]
    user = request.user
    now = timezone.now()
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        audit.record(
            request,
            Action.FOLLOWUP_REVIEW,
            patient_cpr=locked.patient_cpr,
            reason=note,
            details={
                "case": locked.pk,
                "rule": locked.rule,
                "decision": status,
                "previous": locked.status,
                "event": locked.event_id,
                "subject_user": locked.user_id,
            },
        )
        locked.status = status
        locked.note = note
        locked.reviewed_at = now
        locked.reviewed_by_id = user.pk
        locked.reviewed_by_name = user.get_full_name() or user.get_username()  # type: ignore[union-attr]
        locked.save(
            update_fields=["status", "note", "reviewed_at", "reviewed_by_id", "reviewed_by_name"]
        )
        if locked.alert_id is not None:
            # The access policy's alert is reviewed by this decision.
            ReviewAlert.objects.filter(pk=locked.alert_id).update(
                reviewed_at=now, reviewed_by_id=user.pk, review_note=note
            )
    return locked
