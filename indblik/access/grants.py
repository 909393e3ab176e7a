"""Patient-scoped grants: opened after an allowing decision, re-checked on every request.

The chart calls :func:`active_grant` with the handle from its URL. Anything wrong — a handle
of another user or another session, an expired or revoked grant, a user who lost the role, an
organisation no longer live, a citizen who has since blocked the organisation or died — is a
404 (:class:`django.http.Http404`), the same answer as for a handle that never existed, so no
URL edit or handle swap tells anyone anything. Denials of an existing grant are audited and
revoke the grant.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from django.db import transaction
from django.http import Http404, HttpRequest
from django.utils import timezone

from indblik import audit
from indblik.access import policy
from indblik.access.models import Grant, ReviewAlert
from indblik.organisations.models import Organisation
from indblik.records.live.source import FhirServerSource
from indblik.records.sections import Section
from indblik.records.source import (
    LocalStore,
    PatientRecord,
    RecordSource,
    SectionQuery,
    SectionResult,
    source,
)

logger = logging.getLogger("indblik.access")

HANDLE_BYTES = 24  # 32 URL-safe characters: unguessable, and short enough for a URL


@dataclass(frozen=True)
class ActiveGrant:
    """A grant that holds for this request, with the patient as the source has them now.

    ``sections`` holds what the caller asked :func:`active_grant` to ``read`` (None when it
    was not read with the re-check: then the caller reads it itself).
    """

    grant: Grant
    organisation: Organisation
    patient: PatientRecord
    record_source: RecordSource
    sections: Mapping[Section, SectionResult] | None = None

    @property
    def handle(self) -> str:
        return self.grant.handle

    @property
    def expires_at(self) -> Any:
        return self.grant.expires_at

    @property
    def purpose(self) -> str:
        return self.grant.purpose


def open_grant(
    request: HttpRequest,
    *,
    organisation: Organisation,
    patient: PatientRecord,
    decision: policy.Decision,
    reason: str = "",
    launch_jti: str = "",
) -> Grant:
    """Create the grant for an allowing decision (and its review alerts), bound to this session.

    The caller has audited the decision. The session must exist (the user is signed in).
    """
    if not decision.allowed or decision.expires_at is None:
        raise ValueError("a grant needs an allowing decision")
    user = request.user
    if not user.is_authenticated:
        raise ValueError("a grant needs a signed-in user")
    session_key = request.session.session_key
    if not session_key:
        request.session.save()
        session_key = request.session.session_key
    with transaction.atomic():
        grant = Grant.objects.create(
            handle=secrets.token_urlsafe(HANDLE_BYTES),
            user=user,
            session_key=session_key or "",
            organisation=organisation,
            patient_cpr=patient.cpr,
            patient_key=patient.key,
            patient_origin=patient.origin,
            purpose=decision.purpose,
            reason=reason.strip()[: policy.MAX_REASON],
            emergency_override=decision.emergency_override,
            decision_reasons=list(decision.reasons),
            launch_jti=launch_jti[:200],
            expires_at=decision.expires_at,
        )
        for kind in decision.alerts:
            ReviewAlert.objects.create(
                kind=kind,
                grant=grant,
                organisation=organisation,
                user=user,
                reason=grant.reason,
            )
    return grant


def active_grant(
    request: HttpRequest, handle: str, *, read: Iterable[SectionQuery] = ()
) -> ActiveGrant:
    """Return the grant named by ``handle`` if it holds for this request; else raise Http404.

    ``read``: sections of the patient the caller will show if the grant holds. On the local
    store they are read in the same statement as the citizen's blocks, from a live source
    beside the patient's search (where the server takes batches), and returned in
    ``ActiveGrant.sections``; nothing of them leaves this function unless every check has
    passed. (Otherwise ``sections`` is None and the caller reads them.)
    """
    user = request.user
    session_key = getattr(request, "session", None) and request.session.session_key
    if not user.is_authenticated or not session_key or not _plausible(handle):
        raise Http404
    # No join: the organisation of a grant that holds is the request's own, already read by
    # NetworkAllowlistMiddleware (a refusal reads the grant's for its audit row).
    grant = Grant.objects.filter(handle=handle, user_id=user.pk, session_key=session_key).first()
    if grant is None:
        _audit_denial(request, None, "grant-unknown")
        raise Http404
    if grant.revoked_at is not None:
        _audit_denial(request, grant, "grant-revoked")
        raise Http404
    if grant.expires_at <= timezone.now():
        _revoke(request, grant, "grant-expired")
    # The organisation the request acts for (set by NetworkAllowlistMiddleware, which has
    # already refused a non-live organisation or an address outside its networks).
    organisation = getattr(request, "indblik_organisation", None)
    if organisation is None or organisation.pk != grant.organisation_id:
        _revoke(request, grant, "organisation-mismatch")
    problem = policy.user_may_act_for(user, organisation)
    if problem:
        _revoke(request, grant, problem)
    reader = source()
    queries = list(read)
    read_along: Mapping[Section, SectionResult] | None = None
    if (
        queries
        and isinstance(reader, FhirServerSource)
        and grant.patient_origin
        and grant.patient_origin == reader.origin
    ):
        # A live source that gave the grant its patient id: the page's searches of that id
        # go out beside the search of the patient by CPR number (one round trip's time), and
        # are used only if that search finds the same patient and every check below passes.
        patient, read_along = reader.find_patient_reading(
            grant.patient_cpr, grant.patient_key, queries
        )
    else:
        patient = reader.find_patient(grant.patient_cpr)
    if patient is None:
        _revoke(request, grant, "patient-unknown")
    if patient.deceased:
        _revoke(request, grant, "patient-deceased")
    if grant.emergency_override:
        return ActiveGrant(grant, organisation, patient, reader, read_along)
    along = _ReadAlong(reader, queries) if queries and isinstance(reader, LocalStore) else None
    if policy.blocks(patient, organisation, record_source=along or reader):
        _revoke(request, grant, "blocked")
    return ActiveGrant(grant, organisation, patient, reader, along.results if along else read_along)


class _ReadAlong(LocalStore):
    """The local store as :func:`policy.blocks` sees it: its read carries the page's too.

    The policy reads the citizen's consents with its own query (its shape and rules stay in
    ``access.policy``); this adds the caller's queries to that one ``sections`` statement and
    keeps their results for after the decision. A query for the policy's own section is never
    mixed in (the caller's would replace it): the caller's are then read afterwards, apart.
    Only for the local store (it is one, so the policy treats it as one); a live source reads
    the page beside the patient instead (``FhirServerSource.find_patient_reading``).
    """

    def __init__(self, reader: LocalStore, queries: Iterable[SectionQuery]) -> None:
        self.reader = reader
        self.queries = list(queries)
        self.results: dict[Section, SectionResult] | None = None

    def section(self, patient: PatientRecord, query: SectionQuery) -> SectionResult:
        if self.results is not None or any(q.section == query.section for q in self.queries):
            return self.reader.section(patient, query)
        results = self.reader.sections(patient, [query, *self.queries])
        own = results.pop(query.section)
        self.results = results
        return own

    def find_patient(self, cpr: str) -> PatientRecord | None:
        return self.reader.find_patient(cpr)

    def sections(
        self, patient: PatientRecord, queries: Iterable[SectionQuery]
    ) -> dict[Section, SectionResult]:
        return self.reader.sections(patient, queries)

    def resolve(self, references: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        return self.reader.resolve(references)

    def care_events(
        self, patient: PatientRecord, organisations: Iterable[str], since: dt.datetime
    ) -> list[Mapping[str, Any]]:
        return self.reader.care_events(patient, organisations, since)


def revoke_open_grants(
    reason: str, *, organisation: Organisation | None = None, users: Any = None
) -> int:
    """Revoke at once the open grants of ``organisation`` or of ``users`` (a queryset of
    users); return how many. For access that ends for good (an organisation suspended, an
    authorisation withdrawn), not only at the next request's re-check."""
    grants = Grant.objects.filter(revoked_at__isnull=True)
    if organisation is not None:
        grants = grants.filter(organisation=organisation)
    if users is not None:
        grants = grants.filter(user__in=users)
    if organisation is None and users is None:
        raise ValueError("revoke_open_grants: name the organisation or the users")
    return grants.update(revoked_at=timezone.now(), revoked_reason=reason)


def _plausible(handle: str) -> bool:
    return 16 <= len(handle) <= 64 and all(c.isalnum() or c in "-_" for c in handle)


def _revoke(request: HttpRequest, grant: Grant, reason: str) -> NoReturn:
    """End ``grant`` for good, audit why, and answer 404 (raises)."""
    Grant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    _audit_denial(request, grant, reason)
    raise Http404


def _audit_denial(request: HttpRequest, grant: Grant | None, reason: str) -> None:
    """Audit a refused chart request; the refusal stands even if the audit write fails."""
    try:
        audit.record(
            request,
            audit.Action.ACCESS_DENIED,
            outcome=audit.Outcome.REFUSED,
            patient_cpr=grant.patient_cpr if grant else "",
            purpose=grant.purpose if grant else "",
            decision_reasons=[f"deny:{reason}"],
            organisation_cvr=grant.organisation.cvr if grant else "",
            organisation_name=grant.organisation.name if grant else "",
            details={"stage": "chart"},
        )
    except audit.AuditWriteError:
        logger.error("a refused chart request (%s) could not be audited", reason)
