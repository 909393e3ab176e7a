"""The organisation registry's business functions: the only way its rows change.

The ``indblik org …`` commands and the admin both call these, so every change is validated
the same way, happens in one transaction and writes one audit event (who changed what, before
and after; never key material or other secrets). The audit row is written inside the change's
transaction: if it cannot be written, the change is rolled back (no audit, no change).

Who acts is an :class:`indblik.audit.Actor` (``by``); pass the ``request`` too when there is
one, so the audit row also carries the client address and request id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from indblik import audit
from indblik.audit import Action, Actor, Outcome
from indblik.audit.sanitize import DETAILS_MAX_BYTES
from indblik.organisations import keys as care_keys
from indblik.organisations.errors import (
    GoLiveRefused,
    InvalidKey,
    RegistryError,
    TransitionRefused,
    UnknownOrganisation,
)
from indblik.organisations.models import (
    CareSystemKey,
    ChecklistStep,
    NetworkRange,
    Organisation,
    Status,
    StatusChange,
    Step,
)
from indblik.organisations.network import parse_cidr
from indblik.organisations.validators import validate_evidence, validate_role_uri

CONTACT_FIELDS = (
    "security_officer_name",
    "security_officer_email",
    "security_officer_phone",
    "technical_contact_name",
    "technical_contact_email",
    "technical_contact_phone",
)
# What update_organisation may change. Not the CVR (it *is* the organisation: register a new
# one), not the status (go_live/suspend/resume), not the role (set_role, its own event).
EDITABLE_FIELDS = ("name", "type", "municipality_code", "sor_code", "care_system", *CONTACT_FIELDS)
MAX_CIDRS_AT_ONCE = 20
MAX_ACTIVE_KEYS = 10
REASON_MAX_LENGTH = 500


# --- reading ----------------------------------------------------------------------------------


def get_organisation(cvr: str) -> Organisation:
    """Return the organisation with this CVR number, or raise UnknownOrganisation."""
    try:
        return Organisation.objects.get(cvr=cvr.strip())
    except Organisation.DoesNotExist:
        raise UnknownOrganisation(cvr.strip()) from None


def snapshot(org: Organisation) -> dict[str, str]:
    """Return the organisation's own fields as they are now (for audit before/after)."""
    return {
        "cvr": org.cvr,
        "name": org.name,
        "type": org.type,
        "municipality_code": org.municipality_code,
        "sor_code": org.sor_code,
        "care_system": org.care_system,
        **{name: getattr(org, name) for name in CONTACT_FIELDS},
        "role_uri": org.role_uri,
        "status": org.status,
    }


# --- registering and editing ------------------------------------------------------------------


def add_organisation(
    *,
    cvr: str,
    name: str,
    type: str,  # the model field's and the command option's name
    municipality_code: str = "",
    sor_code: str = "",
    care_system: str = "",
    contacts: Mapping[str, str] | None = None,
    by: Actor,
    request: HttpRequest | None = None,
) -> Organisation:
    """Register an organisation in status onboarding, with its six checklist steps open.

    ``contacts`` may hold any of CONTACT_FIELDS. Raises ValidationError (field by field) for
    a bad CVR number, type, municipality code or SOR code, or a CVR already registered.
    """
    extra = dict(contacts or {})
    unknown = sorted(set(extra) - set(CONTACT_FIELDS))
    if unknown:
        raise ValueError(f"unknown contact fields: {', '.join(unknown)}")
    org = Organisation(
        cvr=cvr.strip(),
        name=name.strip(),
        type=type.strip(),
        municipality_code=municipality_code.strip(),
        sor_code=sor_code.strip(),
        care_system=care_system.strip(),
        **{key: value.strip() for key, value in extra.items()},
    )
    org.full_clean()
    try:
        with transaction.atomic():
            org.save(force_insert=True)
            ChecklistStep.objects.bulk_create(
                ChecklistStep(organisation=org, step=step) for step in Step.values
            )
            StatusChange.objects.create(
                organisation=org,
                from_status="",
                to_status=Status.ONBOARDING,
                at=org.created_at,
                by_name=by.name,
                by_user_id=by.user_id,
                reason="registered",
            )
            _record(
                request,
                Action.ORGANISATION_CHANGE,
                by,
                org,
                {"change": "add", "before": None, "after": snapshot(org)},
            )
    except IntegrityError:
        # Two administrators registered the same CVR at once: full_clean saw neither.
        raise RegistryError(
            _("An organisation with CVR number %(cvr)s is already registered."),
            code="duplicate_cvr",
            params={"cvr": org.cvr},
        ) from None
    return org


def update_organisation(
    *,
    org: Organisation,
    changes: Mapping[str, str],
    by: Actor,
    request: HttpRequest | None = None,
) -> Organisation:
    """Change the organisation's name, type, codes, care system or contacts (EDITABLE_FIELDS).

    Unchanged values are ignored; with nothing changed nothing is written. Raises
    ValidationError for a bad value, RegistryError for a field that cannot be changed here.
    """
    not_editable = sorted(set(changes) - set(EDITABLE_FIELDS))
    if not_editable:
        raise RegistryError(
            _("These cannot be changed here: %(fields)s."),
            code="not_editable",
            params={"fields": ", ".join(not_editable)},
        )
    with transaction.atomic():
        locked = _lock(org)
        before = snapshot(locked)
        for field, value in changes.items():
            setattr(locked, field, value.strip())
        after = snapshot(locked)
        changed = [field for field in EDITABLE_FIELDS if before[field] != after[field]]
        if not changed:
            return org
        locked.full_clean()
        locked.save()
        _record(
            request,
            Action.ORGANISATION_CHANGE,
            by,
            locked,
            {
                "change": "update",
                "before": {field: before[field] for field in changed},
                "after": {field: after[field] for field in changed},
            },
        )
    org.refresh_from_db()
    return org


def set_role(
    *, org: Organisation, role_uri: str, by: Actor, request: HttpRequest | None = None
) -> Organisation:
    """Set the job-function or user-system role URI that grants access for the organisation."""
    value = role_uri.strip()
    validate_role_uri(value)
    with transaction.atomic():
        locked = _lock(org)
        before = locked.role_uri
        if before == value:
            return org
        locked.role_uri = value
        locked.save(update_fields=["role_uri", "updated_at"])
        _record(
            request,
            Action.ORGANISATION_ROLE_CHANGE,
            by,
            locked,
            {"before": {"role_uri": before}, "after": {"role_uri": value}},
        )
    org.refresh_from_db()
    return org


# --- the onboarding checklist -----------------------------------------------------------------


def complete_step(
    *,
    org: Organisation,
    step: str,
    evidence: str = "",
    by: Actor,
    request: HttpRequest | None = None,
) -> ChecklistStep:
    """Mark an onboarding step done, recording when, by whom and the evidence.

    The agreement step needs evidence naming the signing date and the document reference.
    The job-role step needs the role set and the whitelist step at least one network range:
    the checklist must not say something the configuration contradicts.
    """
    key = _step(step)
    text = evidence.strip()
    validate_evidence(key, text)
    with transaction.atomic():
        locked = _lock(org)
        row, _created = ChecklistStep.objects.select_for_update().get_or_create(
            organisation=locked, step=key
        )
        if row.is_done:
            raise RegistryError(
                _(
                    "The step %(step)s was already done on %(when)s by %(by)s: reopen it first "
                    "to record it again."
                ),
                code="step_done",
                params={"step": key, "when": _when(row.done_at), "by": row.done_by_name or "-"},
            )
        if key == Step.JOB_ROLE and not locked.role_uri:
            raise RegistryError(
                _("Set the organisation's role before marking the job-role step done."),
                code="role_missing",
            )
        if key == Step.WHITELIST and not locked.network_ranges.exists():
            raise RegistryError(
                _("Allow at least one network range before marking the whitelist step done."),
                code="network_missing",
            )
        row.done_at = timezone.now()
        row.done_by_name = by.name
        row.done_by_user_id = by.user_id
        row.evidence = text
        row.save()
        _record(
            request,
            Action.ORGANISATION_CHECKLIST_DONE,
            by,
            locked,
            {"step": key, "before": {"done": False}, "after": {"done": True, "evidence": text}},
        )
    return row


def reopen_step(
    *,
    org: Organisation,
    step: str,
    reason: str = "",
    by: Actor,
    request: HttpRequest | None = None,
) -> ChecklistStep:
    """Mark a done step open again (its evidence goes to the audit log, then is cleared).

    Refused while the organisation is live: a live organisation has every step done, so
    suspend it first if, say, its agreement has lapsed.
    """
    key = _step(step)
    reason = _reason(reason, required=False)
    with transaction.atomic():
        locked = _lock(org)
        if locked.status == Status.LIVE:
            raise TransitionRefused(
                _("%(name)s is live: suspend it before reopening a step."),
                code="reopen_live",
                params={"name": locked.name},
            )
        row, _created = ChecklistStep.objects.select_for_update().get_or_create(
            organisation=locked, step=key
        )
        if not row.is_done:
            raise RegistryError(
                _("The step %(step)s is not done."), code="step_open", params={"step": key}
            )
        before = {
            "done": True,
            "done_at": _when(row.done_at),
            "done_by": row.done_by_name,
            "evidence": row.evidence,
        }
        row.done_at = None
        row.done_by_name = ""
        row.done_by_user_id = None
        row.evidence = ""
        row.save()
        _record(
            request,
            Action.ORGANISATION_CHECKLIST_REOPEN,
            by,
            locked,
            {"step": key, "before": before, "after": {"done": False}},
            reason=reason,
        )
    return row


# --- status -----------------------------------------------------------------------------------


def go_live(*, org: Organisation, by: Actor, request: HttpRequest | None = None) -> Organisation:
    """Open the service to the organisation's users: onboarding → live.

    Raises GoLiveRefused (listing them) while any checklist step is open or the role or the
    network allowlist is missing; TransitionRefused unless the organisation is onboarding.
    """
    return _open(org, by, request, from_status=Status.ONBOARDING, reason="")


def resume(
    *, org: Organisation, reason: str = "", by: Actor, request: HttpRequest | None = None
) -> Organisation:
    """Lift a suspension once its cause is resolved: suspended → live.

    The same gate as go-live applies (a step may have been reopened while suspended).
    """
    return _open(org, by, request, from_status=Status.SUSPENDED, reason=_reason(reason, False))


def suspend(
    *, org: Organisation, reason: str, by: Actor, request: HttpRequest | None = None
) -> Organisation:
    """Stop a live organisation's access at once: live → suspended; a reason is required.

    Its open grants are revoked and its users' sessions ended now, so that resuming it (even
    a minute later) opens nothing that was open before: its users sign in and launch again.
    """
    text = _reason(reason, required=True)
    with transaction.atomic():
        locked = _lock(org)
        if locked.status != Status.LIVE:
            raise TransitionRefused(
                _("Only a live organisation can be suspended; %(name)s is %(status)s."),
                code="suspend_not_live",
                params={"name": locked.name, "status": locked.get_status_display()},
            )
        _change_status(locked, Status.SUSPENDED, by=by, reason=text, request=request)
        _end_open_access(locked)
    org.refresh_from_db()
    return org


def _end_open_access(org: Organisation) -> None:
    """Revoke the organisation's open grants and end its users' sessions."""
    from indblik.access.grants import revoke_open_grants
    from indblik.identity.models import User
    from indblik.identity.users import end_sessions_of

    revoke_open_grants("organisation-suspended", organisation=org)
    end_sessions_of(User.objects.filter(organisation_cvr=org.cvr))


def missing_setup(org: Organisation) -> list[str]:
    """Return what an organisation lacks to go live, beside its checklist (role, networks)."""
    missing = []
    if not org.role_uri:
        missing.append("role")
    if not org.network_ranges.exists():
        missing.append("network allowlist")
    return missing


def _open(
    org: Organisation,
    by: Actor,
    request: HttpRequest | None,
    *,
    from_status: Status,
    reason: str,
) -> Organisation:
    with transaction.atomic():
        locked = _lock(org)
        if locked.status != from_status:
            if from_status == Status.ONBOARDING:
                message = _(
                    "%(name)s is %(status)s, not onboarding: it cannot go live again "
                    "(resume a suspended organisation instead)."
                )
            else:
                message = _("%(name)s is %(status)s, not suspended: there is nothing to resume.")
            raise TransitionRefused(
                message,
                code="wrong_status",
                params={"name": locked.name, "status": locked.get_status_display()},
            )
        open_steps = locked.open_steps()
        missing = missing_setup(locked)
        if not open_steps and not missing:
            _change_status(locked, Status.LIVE, by=by, reason=reason, request=request)
    if open_steps or missing:
        # Outside the transaction, which wrote nothing: a refused go-live is worth a row too.
        _record(
            request,
            Action.ORGANISATION_STATUS_CHANGE,
            by,
            locked,
            {
                "before": {"status": locked.status},
                "after": {"status": locked.status},
                "open_steps": open_steps,
                "missing": missing,
            },
            outcome=Outcome.REFUSED,
        )
        raise GoLiveRefused(open_steps=open_steps, missing=missing)
    org.refresh_from_db()
    return org


def _change_status(
    locked: Organisation, to: Status, *, by: Actor, reason: str, request: HttpRequest | None
) -> None:
    before = locked.status
    locked.status = to
    locked.save(update_fields=["status", "updated_at"])
    StatusChange.objects.create(
        organisation=locked,
        from_status=before,
        to_status=to,
        at=timezone.now(),
        by_name=by.name,
        by_user_id=by.user_id,
        reason=reason,
    )
    _record(
        request,
        Action.ORGANISATION_STATUS_CHANGE,
        by,
        locked,
        {"before": {"status": before}, "after": {"status": str(to)}},
        reason=reason,
    )


# --- network allowlist ------------------------------------------------------------------------


def allow_network(
    *, org: Organisation, cidrs: Iterable[str], by: Actor, request: HttpRequest | None = None
) -> list[str]:
    """Add networks (CIDR) to the allowlist; return those that were new, normalised.

    All or nothing: one bad or too-wide range refuses the whole call. Ranges already allowed
    are skipped.
    """
    wanted = _networks(cidrs)
    with transaction.atomic():
        locked = _lock(org)
        before = sorted(locked.network_ranges.values_list("cidr", flat=True))
        added = [cidr for cidr in wanted if cidr not in before]
        if not added:
            return []
        now = timezone.now()
        NetworkRange.objects.bulk_create(
            NetworkRange(
                organisation=locked,
                cidr=cidr,
                added_at=now,
                added_by_name=by.name,
                added_by_user_id=by.user_id,
            )
            for cidr in added
        )
        _record(
            request,
            Action.ORGANISATION_NETWORK_CHANGE,
            by,
            locked,
            {
                "change": "allow",
                "added": added,
                "before": before,
                "after": sorted([*before, *added]),
            },
        )
    return added


def deny_network(
    *, org: Organisation, cidrs: Iterable[str], by: Actor, request: HttpRequest | None = None
) -> list[str]:
    """Remove networks from the allowlist; return them, normalised.

    All or nothing: a range that is not in the allowlist refuses the whole call. Removing the
    last range of a live organisation is allowed: it shuts every user out (fail closed).
    """
    unwanted = _networks(cidrs)
    with transaction.atomic():
        locked = _lock(org)
        before = sorted(locked.network_ranges.values_list("cidr", flat=True))
        absent = [cidr for cidr in unwanted if cidr not in before]
        if absent:
            raise RegistryError(
                _("Not in the allowlist of %(name)s: %(cidrs)s."),
                code="network_absent",
                params={"name": locked.name, "cidrs": ", ".join(absent)},
            )
        locked.network_ranges.filter(cidr__in=unwanted).delete()
        _record(
            request,
            Action.ORGANISATION_NETWORK_CHANGE,
            by,
            locked,
            {
                "change": "deny",
                "removed": unwanted,
                "before": before,
                "after": [cidr for cidr in before if cidr not in unwanted],
            },
        )
    return unwanted


def _networks(cidrs: Iterable[str]) -> list[str]:
    """Return the ranges parsed and normalised, without repeats, or raise ValidationError."""
    if isinstance(cidrs, str):
        cidrs = [cidrs]
    found: list[str] = []
    for text in cidrs:
        cidr = str(parse_cidr(text))
        if cidr not in found:
            found.append(cidr)
    if not found:
        raise RegistryError(_("Give at least one network range."), code="no_cidr")
    if len(found) > MAX_CIDRS_AT_ONCE:
        raise RegistryError(
            _("At most %(max)d network ranges at once."),
            code="too_many_cidrs",
            params={"max": MAX_CIDRS_AT_ONCE},
        )
    return found


# --- care-system keys -------------------------------------------------------------------------


def add_keys(
    *,
    org: Organisation,
    jwks_json: str | bytes,
    by: Actor,
    request: HttpRequest | None = None,
) -> list[CareSystemKey]:
    """Register the public keys of a JWK or JWK Set (several at once, for rotation).

    All or nothing. Besides :func:`indblik.organisations.keys.parse_jwks`'s checks, refuses a
    ``kid`` the organisation has used before (even for a removed key: old audit rows name it)
    and a key that is already active under another kid.
    """
    parsed = care_keys.parse_jwks(jwks_json)
    with transaction.atomic():
        locked = _lock(org)
        existing = list(CareSystemKey.objects.filter(organisation=locked))
        active = [row for row in existing if row.is_active]
        for key in parsed:
            clash = next((row for row in existing if row.kid == key.kid), None)
            if clash is not None:
                raise InvalidKey(
                    _(
                        "The kid %(kid)s is already used by a key of %(name)s (%(state)s): give "
                        "the new key a new kid."
                    ),
                    code="kid_used",
                    params={
                        "kid": repr(key.kid),
                        "name": locked.name,
                        "state": _("active") if clash.is_active else _("removed"),
                    },
                )
            same = next((row for row in active if row.thumbprint == key.thumbprint), None)
            if same is not None:
                raise InvalidKey(
                    _("The key %(kid)s is already registered as %(other)s."),
                    code="key_registered",
                    params={"kid": repr(key.kid), "other": repr(same.kid)},
                )
        if len(active) + len(parsed) > MAX_ACTIVE_KEYS:
            raise InvalidKey(
                _("At most %(max)d active keys per organisation: remove old ones first."),
                code="too_many_keys",
                params={"max": MAX_ACTIVE_KEYS},
            )
        now = timezone.now()
        rows = [
            CareSystemKey.objects.create(
                organisation=locked,
                kid=key.kid,
                jwk=key.jwk,
                kty=key.kty,
                crv=key.crv,
                size=key.size,
                thumbprint=key.thumbprint,
                added_at=now,
                added_by_name=by.name,
                added_by_user_id=by.user_id,
            )
            for key in parsed
        ]
        before = [row.kid for row in active]
        _record(
            request,
            Action.ORGANISATION_KEY_CHANGE,
            by,
            locked,
            {
                "change": "add",
                "added": [key.describe() for key in parsed],
                "before": {"active": before},
                "after": {"active": [*before, *(k.kid for k in parsed)]},
            },
        )
    return rows


def remove_key(
    *, org: Organisation, kid: str, by: Actor, request: HttpRequest | None = None
) -> CareSystemKey:
    """Stop trusting one key (soft removal: the row stays for the history)."""
    with transaction.atomic():
        locked = _lock(org)
        row = CareSystemKey.objects.select_for_update().filter(organisation=locked, kid=kid).first()
        if row is None:
            raise InvalidKey(
                _("%(name)s has no key with kid %(kid)s."),
                code="kid_unknown",
                params={"name": locked.name, "kid": repr(kid[:200])},
            )
        if not row.is_active:
            raise InvalidKey(
                _("The key %(kid)s was already removed on %(when)s."),
                code="kid_removed",
                params={"kid": repr(kid), "when": _when(row.removed_at)},
            )
        before = list(
            CareSystemKey.objects.filter(organisation=locked, removed_at__isnull=True)
            .order_by("added_at", "pk")
            .values_list("kid", flat=True)
        )
        row.removed_at = timezone.now()
        row.removed_by_name = by.name
        row.removed_by_user_id = by.user_id
        row.save()
        _record(
            request,
            Action.ORGANISATION_KEY_CHANGE,
            by,
            locked,
            {
                "change": "remove",
                "removed": [row.describe()],
                "before": {"active": before},
                "after": {"active": [other for other in before if other != kid]},
            },
        )
    return row


# --- helpers ----------------------------------------------------------------------------------


def _lock(org: Organisation) -> Organisation:
    """Return the organisation's row, locked until the transaction ends (PostgreSQL).

    Serialises changes to one organisation, so two administrators cannot, say, reopen a step
    and go live at the same moment. (SQLite serialises all writers anyway.)
    """
    try:
        return Organisation.objects.select_for_update().get(pk=org.pk)
    except Organisation.DoesNotExist:
        raise UnknownOrganisation(org.cvr) from None


def _step(step: str) -> str:
    if step not in Step.values:
        raise RegistryError(
            _("Unknown step %(step)s: the steps are %(steps)s."),
            code="unknown_step",
            params={"step": repr(step[:40]), "steps": ", ".join(Step.values)},
        )
    return step


def _reason(reason: str, required: bool) -> str:
    text = " ".join(reason.split())
    if required and not text:
        raise RegistryError(_("Give a reason."), code="reason_required")
    if len(text) > REASON_MAX_LENGTH:
        raise RegistryError(
            _("The reason is at most %(max)d characters."),
            code="reason_length",
            params={"max": REASON_MAX_LENGTH},
        )
    return text


def _when(value: Any) -> str:
    return "-" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _record(
    request: HttpRequest | None,
    action: Action,
    by: Actor,
    org: Organisation,
    details: dict[str, Any],
    *,
    reason: str = "",
    outcome: Outcome = Outcome.SUCCESS,
) -> None:
    """Write the change's audit event; its failure rolls the change back (AuditWriteError)."""
    full = {"cvr": org.cvr, "organisation": org.name, **details}
    audit.record(request, action, outcome=outcome, actor=by, reason=reason, details=_fit(full))


# Leave room for what the writer adds (e.g. resource_ids_omitted).
_DETAILS_BUDGET = DETAILS_MAX_BYTES - 128


def _fit(details: dict[str, Any]) -> dict[str, Any]:
    """Return ``details`` shortened, if needed, to fit the audit row's size limit.

    Long free text (names, evidence) and long lists (ranges, keys) are cut step by step
    rather than refusing the change; ``"shortened": true`` says so. The full state is still
    in the registry's own tables.
    """
    if len(orjson.dumps(details)) <= _DETAILS_BUDGET:
        return details
    for max_text, max_items in ((100, 20), (50, 10), (24, 5), (12, 3)):
        shortened: dict[str, Any] = _cut(details, max_text, max_items)
        shortened["shortened"] = True
        if len(orjson.dumps(shortened)) <= _DETAILS_BUDGET:
            return shortened
    return {"cvr": details["cvr"], "shortened": True}


def _cut(value: Any, max_text: int, max_items: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= max_text else value[: max_text - 1] + "…"
    if isinstance(value, dict):
        return {key: _cut(item, max_text, max_items) for key, item in value.items()}
    if isinstance(value, list):
        kept = [_cut(item, max_text, max_items) for item in value[:max_items]]
        if len(value) > max_items:
            kept.append(f"… {len(value) - max_items} more")
        return kept
    return value
