"""The audit writer: the one way an audit row comes into being.

Call :func:`record` *before* reading or returning any clinical data. It either writes the row
or raises :class:`AuditWriteError`; it never swallows a database error. A view that lets the
error propagate fails closed: :class:`indblik.audit.middleware.AuditFailureMiddleware` turns it
into a 503 page that carries no data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db import Error as DatabaseError
from django.http import HttpRequest
from django.utils import timezone

from indblik.audit import canonical, net
from indblik.audit.actions import Action, Outcome
from indblik.audit.actors import Actor, actor_for_request
from indblik.audit.errors import AuditWriteError
from indblik.audit.models import AuditEvent
from indblik.audit.sanitize import clean_codes, clean_details, clean_text
from indblik.core import metrics

logger = logging.getLogger("indblik.audit")

MAX_RESOURCE_IDS = 100
MAX_DECISION_REASONS = 20


def record(
    request: HttpRequest | None,
    action: Action,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    patient_cpr: str = "",
    section: str = "",
    resource_ids: Iterable[str] = (),
    purpose: str = "",
    reason: str = "",
    decision_reasons: Iterable[str] = (),
    organisation_cvr: str = "",
    organisation_name: str = "",
    actor: Actor | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event now, or raise AuditWriteError; call it before reading any data.

    The actor, client address, user agent and request id come from ``request`` (None for
    commands and jobs); an explicit ``actor`` wins over the request's user. Free text is
    sanitised and bounded. A malformed argument (an unknown action, a CPR number that is not
    ten digits, a credential-like key in ``details``) is a programming error: ValueError.
    """
    try:
        if actor is None and request is not None:
            # Resolving the user may hit the database (session, user row): its failure is an
            # audit failure too, so the caller sees one kind of error and fails closed.
            actor = actor_for_request(request)
    except DatabaseError as exc:
        raise _write_failed(action, request, exc) from exc
    fields = _fields(
        action=action,
        outcome=outcome,
        actor=actor,
        patient_cpr=patient_cpr,
        section=section,
        resource_ids=resource_ids,
        purpose=purpose,
        reason=reason,
        decision_reasons=decision_reasons,
        organisation_cvr=organisation_cvr,
        organisation_name=organisation_name,
        details=details,
        client_ip=net.client_ip(request) if request is not None else None,
        user_agent=request.META.get("HTTP_USER_AGENT", "") if request is not None else "",
        request_id=net.request_id(request) if request is not None else "",
    )
    # Stamp the time immediately before the insert: checkpoints rely on a row reaching the
    # database soon after its `at` (see integrity.settled_horizon).
    event = _stamped(fields, timezone.now())
    using = DEFAULT_DB_ALIAS
    started = time.perf_counter()
    try:
        if transaction.get_connection(using).in_atomic_block:
            # Its own savepoint: inside a caller's atomic block a failed insert rolls back
            # just this row and leaves the caller's transaction usable.
            with transaction.atomic(using=using):
                # Model.save, not event.save(): AuditEvent.save() refuses all but the writer.
                models.Model.save(event, force_insert=True, using=using)
        else:
            # Outside one, the INSERT is a transaction by itself (autocommit): one round
            # trip, where BEGIN, INSERT, COMMIT would be three (docs/benchmarks.md).
            models.Model.save(event, force_insert=True, using=using)
    except DatabaseError as exc:
        raise _write_failed(action, request, exc) from exc
    metrics.audit_write(time.perf_counter() - started)
    return event


def _write_failed(action: str, request: HttpRequest | None, exc: Exception) -> AuditWriteError:
    # Operators must hear about this at once. Not the error's text: PostgreSQL's can quote the
    # whole failing row ("Failing row contains (…)"), CPR number included.
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None) or "-"
    request_ref = getattr(request, "indblik_request_id", "") if request is not None else ""
    metrics.audit_write_failed()
    logger.error(
        "audit write failed (%s, code %s); action %s, request %s",
        type(exc).__name__,
        code,
        action,
        request_ref or "-",
    )
    return AuditWriteError("the audit event could not be written")


def _fields(
    *,
    action: str,
    outcome: str,
    actor: Actor | None,
    patient_cpr: str,
    section: str,
    resource_ids: Iterable[str],
    purpose: str,
    reason: str,
    decision_reasons: Iterable[str],
    organisation_cvr: str,
    organisation_name: str,
    details: Mapping[str, Any] | None,
    client_ip: str | None,
    user_agent: str,
    request_id: str,
) -> dict[str, Any]:
    """Return the validated, sanitised column values of a row (everything but time and hash)."""
    action = Action(action)  # ValueError on an unknown action
    outcome = Outcome(outcome)
    actor = actor or Actor()
    cleaned_details = clean_details(details)
    if isinstance(resource_ids, str):
        raise ValueError("resource_ids: pass a list of ids, not a single string")
    all_ids = list(resource_ids)
    ids = clean_codes(all_ids, max_items=MAX_RESOURCE_IDS, max_length=128)
    if len(all_ids) > MAX_RESOURCE_IDS:
        cleaned_details["resource_ids_omitted"] = len(all_ids) - MAX_RESOURCE_IDS
    return {
        "hash_version": canonical.HASH_VERSION,
        "action": action.value,
        "outcome": outcome.value,
        "user_id": None if actor.user_id is None else int(actor.user_id),
        "actor_name": clean_text(actor.name, 200),
        "actor_authorisation": clean_text(actor.authorisation, 64),
        "actor_role": clean_text(actor.role, 200),
        "actor_delegated": bool(actor.delegated),
        "organisation_cvr": _digits(
            organisation_cvr or actor.organisation_cvr, 8, "organisation_cvr"
        ),
        "organisation_name": clean_text(organisation_name or actor.organisation_name, 200),
        "patient_cpr": _digits(patient_cpr, 10, "patient_cpr"),
        "section": clean_text(section, 32),
        "resource_ids": orjson.dumps(ids).decode(),
        "client_ip": None if client_ip is None else canonical.canonical_ip(client_ip),
        "user_agent": clean_text(user_agent, 300),
        "request_id": clean_text(request_id, 64),
        "purpose": clean_text(purpose, 64),
        "reason": clean_text(reason, 500),
        "decision_reasons": clean_codes(
            decision_reasons, max_items=MAX_DECISION_REASONS, max_length=64
        ),
        "details": cleaned_details,
    }


def _digits(value: str, length: int, name: str) -> str:
    """Return a CPR/CVR number as bare digits, or raise ValueError (never log garbage)."""
    digits = value.replace("-", "").replace(" ", "")
    if digits and not (len(digits) == length and digits.isascii() and digits.isdigit()):
        raise ValueError(f"{name} must be {length} digits")
    return digits


def _stamped(fields: dict[str, Any], at: datetime) -> AuditEvent:
    """Return an unsaved event with its time and the hash of its canonical form."""
    values = {**fields, "at": at}
    return AuditEvent(**values, row_hash=canonical.row_hash(values))


def bulk_record_for_benchmark(
    events: Iterable[Mapping[str, Any]], *, batch_size: int = 5000
) -> int:
    """Insert synthetic events in bulk for a benchmark; never use it for real events.

    Each mapping holds ``at`` plus any keyword of :func:`record` except ``request`` (and may
    give ``client_ip``, ``user_agent``, ``request_id``). Rows are sanitised and hashed exactly
    as :func:`record` does, so ``verify`` treats them like real ones. Refused outside
    INDBLIK_MODE=test: synthetic rows in a real, append-only log could never be removed.
    """
    if settings.INDBLIK_MODE != "test":
        raise RuntimeError("bulk_record_for_benchmark runs only with INDBLIK_MODE=test")
    queryset = AuditEvent.objects.all()
    written = 0
    batch: list[AuditEvent] = []
    for spec in events:
        params = dict(spec)
        at = params.pop("at")
        fields = _fields(
            action=params.pop("action"),
            outcome=params.pop("outcome", Outcome.SUCCESS),
            actor=params.pop("actor", None),
            patient_cpr=params.pop("patient_cpr", ""),
            section=params.pop("section", ""),
            resource_ids=params.pop("resource_ids", ()),
            purpose=params.pop("purpose", ""),
            reason=params.pop("reason", ""),
            decision_reasons=params.pop("decision_reasons", ()),
            organisation_cvr=params.pop("organisation_cvr", ""),
            organisation_name=params.pop("organisation_name", ""),
            details=params.pop("details", None),
            client_ip=params.pop("client_ip", None),
            user_agent=params.pop("user_agent", ""),
            request_id=params.pop("request_id", ""),
        )
        if params:
            raise ValueError(f"unknown event fields: {', '.join(sorted(params))}")
        batch.append(_stamped(fields, at))
        if len(batch) == batch_size:
            written += len(_bulk_insert(queryset, batch))
            batch = []
    if batch:
        written += len(_bulk_insert(queryset, batch))
    return written


def _bulk_insert(queryset: models.QuerySet[AuditEvent], batch: list[AuditEvent]) -> list[Any]:
    # The base class's bulk_create: AuditEvent's own queryset refuses it on purpose.
    with transaction.atomic():
        return models.QuerySet.bulk_create(queryset, batch)
