"""The access policy: the only place that decides whether a user may see a citizen's record.

There is no national register of treatment relationships, so Indblik combines evidence per
organisation type (ARCHITECTURE.md, "Access policy"):

- contextual: the organisation's care system asserted, in a signed launch token, that the
  citizen is open in it (always required);
- residence: the citizen lives in the municipality (the address's municipality code);
- care event: the hospital sent a notification, discharge, referral or appointment that
  references the organisation (SOR or CVR) within N days;
- emergency: the organisation type allows emergency access and the user gave a reason; the
  grant is short and always raises a review alert.

A citizen's block (FHIR Consent with a ``deny`` provision, for all external organisations or
for one) wins over everything except an emergency override where the type allows it.
Deceased and unknown citizens are refused like any other refusal (no existence leak).

The defaults below can be changed per type with ``INDBLIK_ACCESS_POLICY`` (JSON), e.g.
``{"municipality": {"care_event_days": 14}}``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from indblik.access.models import ReviewAlert
from indblik.organisations.models import Organisation, OrganisationType
from indblik.records import fhir
from indblik.records.sections import Section
from indblik.records.source import (
    LocalStore,
    PatientRecord,
    RecordSource,
    SectionQuery,
    SectionResult,
    SourceUnavailable,
    source,
)


@dataclass(frozen=True)
class TypePolicy:
    """What counts as a treatment relationship for one organisation type."""

    care_event_days: int  # a care event referencing the organisation this recent is evidence
    grant_minutes: int  # how long a treatment grant lasts
    residence: bool = False  # living in the municipality is evidence (municipalities only)
    emergency: bool = False  # emergency access (reason required, review alert) is allowed
    emergency_only: bool = False  # every lookup is an emergency lookup (the 1813 line)
    emergency_grant_minutes: int = 120
    block_override: bool = False  # an emergency may override a citizen's block (alert raised)


DEFAULTS: dict[str, TypePolicy] = {
    OrganisationType.MUNICIPALITY: TypePolicy(
        care_event_days=30, grant_minutes=240, residence=True
    ),
    OrganisationType.NEAR_CLINIC: TypePolicy(care_event_days=90, grant_minutes=240),
    OrganisationType.HOSPICE: TypePolicy(care_event_days=90, grant_minutes=480),
    OrganisationType.SOCIAL_SERVICES: TypePolicy(care_event_days=30, grant_minutes=240),
    OrganisationType.EMERGENCY_LINE: TypePolicy(
        care_event_days=0,
        grant_minutes=120,
        emergency=True,
        emergency_only=True,
        block_override=True,
    ),
}

EMERGENCY = "emergency"
TREATMENT = "treatment"
PURPOSES = (TREATMENT, EMERGENCY)
MAX_REASON = 500


# The kinds of review alert a decision raises.
Alert = ReviewAlert.Kind


@dataclass(frozen=True)
class Decision:
    """The answer of :func:`decide`: allowed or not, why, and until when."""

    allowed: bool
    reasons: tuple[str, ...]
    expires_at: dt.datetime | None = None
    purpose: str = TREATMENT
    emergency_override: bool = False
    alerts: tuple[str, ...] = ()

    @property
    def refusal(self) -> str:
        """The first ``deny:`` reason (what the refusal is about), or ``""`` if allowed."""
        for reason in self.reasons:
            if reason.startswith("deny:"):
                return reason.removeprefix("deny:")
        return ""


def policy_for(org_type: str) -> TypePolicy:
    """Return the policy of an organisation type, with ``INDBLIK_ACCESS_POLICY`` applied."""
    return policies()[org_type]


def policies() -> dict[str, TypePolicy]:
    """Return every type's policy (defaults overridden by settings); raise on bad settings."""
    overrides: Mapping[str, Any] = getattr(settings, "INDBLIK_ACCESS_POLICY", None) or {}
    if not isinstance(overrides, Mapping):
        raise ImproperlyConfigured("INDBLIK_ACCESS_POLICY must be a JSON object")
    result = dict(DEFAULTS)
    fields = {f.name: f.type for f in dataclasses.fields(TypePolicy)}
    for org_type, changes in overrides.items():
        if org_type not in result:
            raise ImproperlyConfigured(
                f"INDBLIK_ACCESS_POLICY: unknown organisation type {org_type!r}"
            )
        if not isinstance(changes, Mapping):
            raise ImproperlyConfigured(f"INDBLIK_ACCESS_POLICY[{org_type!r}] must be an object")
        for name, value in changes.items():
            if name not in fields:
                raise ImproperlyConfigured(f"INDBLIK_ACCESS_POLICY: unknown setting {name!r}")
            wanted = bool if fields[name] in (bool, "bool") else int
            if type(value) is not wanted or (wanted is int and value < 0):
                raise ImproperlyConfigured(
                    f"INDBLIK_ACCESS_POLICY[{org_type!r}][{name!r}] must be a "
                    f"{'boolean' if wanted is bool else 'non-negative integer'}"
                )
        result[org_type] = dataclasses.replace(result[org_type], **changes)
    return result


def organisation_keys(org: Organisation) -> list[str]:
    """The keys a care event may reference the organisation by (``cvr:…``, ``sor:…``)."""
    keys = [f"cvr:{org.cvr}"]
    if org.sor_code:
        keys.append(f"sor:{org.sor_code}")
    return keys


def user_may_act_for(user: Any, org: Organisation) -> str:
    """Return ``""`` if the user may use Indblik for ``org`` now, else the refusal reason."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return "user-inactive"
    if not org.is_live:
        return "organisation-not-live"
    if getattr(user, "organisation_cvr", "") != org.cvr:
        return "organisation-mismatch"
    if not org.role_uri or not user.holds(org.role_uri):
        return "role-missing"
    return ""


MAX_CONSENTS = 500  # a citizen's consents read to decide on blocks (more: refuse to decide)


def blocks(
    patient: PatientRecord,
    org: Organisation,
    *,
    record_source: RecordSource | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Return the ids of the citizen's active blocks that cover ``org`` (empty: none).

    With a live record source the blocks a citizen made in Min log live in this server's own
    store (the hospital's server does not hold them): both are read, and either blocks.
    """
    reader = record_source or source()
    query = SectionQuery(Section.CONSENTS, limit=MAX_CONSENTS, include_restricted=True)
    consents = _complete(reader.section(patient, query))
    if not isinstance(reader, LocalStore):
        local = LocalStore()
        own = local.find_patient(patient.cpr)
        if own is not None:
            consents.extend(_complete(local.section(own, query)))
    moment = now or timezone.now()
    # A deny may name an organisation by a literal reference (Organization/<id>): read those
    # Organizations for their CVR and SOR identifiers.
    named = sorted({ref for consent in consents for ref in _literal_actors(consent)})
    organisations: dict[str, Mapping[str, Any]] = {}
    if named:
        organisations.update(reader.resolve(named))
        if not isinstance(reader, LocalStore):
            organisations.update(LocalStore().resolve(named))
    return [
        str(consent.get("id", "?"))
        for consent in consents
        if consent.get("resourceType") == "Consent"
        and blocks_organisation(consent, org, moment, organisations)
    ]


def _complete(result: SectionResult) -> list[Mapping[str, Any]]:
    """The consents read, if they are all of them; else refuse to decide (fail closed).

    A consent the source could not read (a live source skips a malformed one with a notice) or
    one beyond the read (``has_more``) may be the block that applies: the caller answers "the
    record cannot be read now" rather than decide without it.
    """
    if result.has_more or result.notices:
        raise SourceUnavailable("malformed", "the citizen's consents could not all be read")
    return list(result.resources)


def blocks_organisation(
    consent: Mapping[str, Any],
    org: Organisation,
    now: dt.datetime,
    organisations: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """Tell whether an active Consent denies this organisation at ``now``.

    A deny anywhere in the provision tree counts: at the top (``deny``, perhaps for named
    actors) or nested as an exception to a permit ("permit, except organisation X"). What the
    deny is limited to (data, classes, purposes) is not weighed: it blocks the whole record
    (fail closed), and neither does a nested permit lift a deny. An actor is matched by its
    CVR or SOR identifier, given in the reference or, for a literal reference
    (``Organization/<id>``), on the Organization in ``organisations`` (reference → resource);
    an actor that cannot be identified so counts as this organisation (fail closed).
    """
    if consent.get("status") != "active":
        return False
    return _provision_blocks(consent.get("provision"), org, now, organisations or {}, None, 0)


MAX_PROVISION_DEPTH = 10


def _provision_blocks(
    provision: Any,
    org: Organisation,
    now: dt.datetime,
    organisations: Mapping[str, Mapping[str, Any]],
    parent: str | None,
    depth: int,
) -> bool:
    if not isinstance(provision, Mapping):
        return False
    kind = provision.get("type")
    if kind is None and parent is not None:
        kind = "deny" if parent == "permit" else "permit"  # an exception to its parent
    if depth > MAX_PROVISION_DEPTH:
        return kind == "deny"  # too deep to read: a deny in it is taken at its word
    period = provision.get("period")
    if isinstance(period, Mapping):
        start = fhir.parse_datetime(period.get("start"))
        end = fhir.parse_datetime(period.get("end"))
        if (start and start > now) or (end and end <= now):
            return False  # the provision and its exceptions apply only within the period
    if kind == "deny" and _actors_cover(provision.get("actor"), org, organisations):
        return True
    nested = provision.get("provision")
    return any(
        _provision_blocks(child, org, now, organisations, kind, depth + 1)
        for child in (nested if isinstance(nested, list) else ())
    )


def _actors_cover(
    actors: Any, org: Organisation, organisations: Mapping[str, Mapping[str, Any]]
) -> bool:
    """Tell whether a deny's actors include ``org``; none at all means every organisation."""
    if not actors:
        return True  # deny for every external organisation
    if not isinstance(actors, list):
        return True  # unreadable: taken as naming this organisation (fail closed)
    wanted = {("cvr", org.cvr)} | ({("sor", org.sor_code)} if org.sor_code else set())
    for actor in actors:
        reference = actor.get("reference") if isinstance(actor, Mapping) else None
        if not isinstance(reference, Mapping):
            return True
        identifier = reference.get("identifier")
        if isinstance(identifier, Mapping):
            identifiers: list[Any] = [identifier]
        else:
            target = organisations.get(str(reference.get("reference") or ""))
            if target is None or target.get("resourceType") != "Organization":
                return True  # whom it names is not known here: fail closed
            found = target.get("identifier")
            identifiers = found if isinstance(found, list) else []
        if wanted & _organisation_keys(identifiers):
            return True
    return False


def _organisation_keys(identifiers: list[Any]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for identifier in identifiers:
        if not isinstance(identifier, Mapping):
            continue
        system, value = identifier.get("system"), str(identifier.get("value", ""))
        if system in fhir.CVR_SYSTEMS:
            keys.add(("cvr", value))
        elif system == fhir.SOR_SYSTEM:
            keys.add(("sor", value))
    return keys


def _literal_actors(consent: Mapping[str, Any]) -> list[str]:
    """The literal references (``Organization/<id>``) of the actors in a Consent's provisions."""
    found: list[str] = []
    pending: list[tuple[Any, int]] = [(consent.get("provision"), 0)]
    while pending:
        provision, depth = pending.pop()
        if not isinstance(provision, Mapping) or depth > MAX_PROVISION_DEPTH:
            continue
        actors = provision.get("actor")
        for actor in actors if isinstance(actors, list) else ():
            reference = actor.get("reference") if isinstance(actor, Mapping) else None
            if isinstance(reference, Mapping) and not isinstance(
                reference.get("identifier"), Mapping
            ):
                literal = reference.get("reference")
                if isinstance(literal, str) and literal:
                    found.append(literal)
        nested = provision.get("provision")
        pending.extend((child, depth + 1) for child in (nested if isinstance(nested, list) else ()))
    return found


def decide(
    user: Any,
    organisation: Organisation,
    patient: PatientRecord | None,
    purpose: str = TREATMENT,
    *,
    reason: str = "",
    contextual: bool = False,
    record_source: RecordSource | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """Decide whether ``user`` of ``organisation`` may see ``patient`` now, and why.

    ``contextual`` is True when a verified launch token from the organisation's care system
    names this patient. The caller audits the decision (allow or deny) with its reasons.
    """
    moment = now or timezone.now()
    reasons: list[str] = []

    def deny(why: str) -> Decision:
        return Decision(False, (*reasons, f"deny:{why}"), purpose=purpose)

    problem = user_may_act_for(user, organisation)
    if problem:
        return deny(problem)
    rules = policy_for(organisation.type)
    reasons.append(f"type:{organisation.type}")
    if purpose not in PURPOSES:
        return deny("purpose-unknown")
    if rules.emergency_only:
        purpose = EMERGENCY
    reason = reason.strip()
    if purpose == EMERGENCY:
        if not rules.emergency:
            return deny("emergency-not-allowed")
        if not reason:
            return deny("reason-missing")
    if not contextual:
        return deny("no-launch-context")
    reasons.append("contextual:launch-token")
    if patient is None:
        return deny("patient-unknown")
    if patient.deceased:
        return deny("patient-deceased")

    reader = record_source or source()
    alerts: list[str] = []
    override = False
    blocking = blocks(patient, organisation, record_source=reader, now=moment)
    if blocking:
        reasons.extend(f"block:Consent/{consent_id}" for consent_id in blocking)
        if purpose == EMERGENCY and rules.block_override:
            override = True
            alerts.append(Alert.BLOCK_OVERRIDE)
            reasons.append("override:emergency")
        else:
            return deny("blocked")

    if purpose == EMERGENCY:
        reasons.append("emergency:reason-given")
        alerts.insert(0, Alert.EMERGENCY)
        minutes = rules.emergency_grant_minutes
    else:
        evidence = _relationship(patient, organisation, rules, reader, moment)
        if not evidence:
            return deny("no-treatment-relationship")
        reasons.extend(evidence)
        minutes = rules.grant_minutes
    return Decision(
        True,
        tuple(reasons),
        expires_at=moment + dt.timedelta(minutes=minutes),
        purpose=purpose,
        emergency_override=override,
        alerts=tuple(alerts),
    )


def _relationship(
    patient: PatientRecord,
    org: Organisation,
    rules: TypePolicy,
    reader: RecordSource,
    now: dt.datetime,
) -> list[str]:
    """Return the evidence of a treatment relationship beyond the launch token (may be empty)."""
    evidence: list[str] = []
    if (
        rules.residence
        and org.municipality_code
        and patient.municipality_code == org.municipality_code
    ):
        evidence.append(f"residence:{org.municipality_code}")
    if rules.care_event_days > 0 and not evidence:
        since = now - dt.timedelta(days=rules.care_event_days)
        events = reader.care_events(patient, organisation_keys(org), since)
        evidence.extend(_event_reason(event) for event in events[:3])
    return evidence


def _event_reason(event: Mapping[str, Any]) -> str:
    return f"care-event:{event.get('resourceType', '?')}/{event.get('id', '?')}"


def refusal_reasons(reasons: Iterable[str]) -> list[str]:
    """The ``deny:`` reasons among ``reasons`` (for pages and tests)."""
    return [reason.removeprefix("deny:") for reason in reasons if reason.startswith("deny:")]
