"""The user lifecycle: just-in-time provisioning at login, deactivation, expiry.

Every broker login runs :func:`provision`, which decides from the verified identity and the
organisation registry whether the person may sign in, and creates or updates the user. The
organisation's management grants and removes the role at the broker; Indblik follows what
the broker says at each login and removes users it no longer vouches for.
"""

from __future__ import annotations

import datetime
import hashlib
from importlib import import_module

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from indblik import audit
from indblik.identity import authorisations
from indblik.identity.attributes import BrokerIdentity
from indblik.identity.models import MAX_ROLES, AuthorisationStatus, User, UserKind, UserSession
from indblik.organisations.models import Organisation, Status

# Deactivations that a login with a valid role may undo. Any other reason (the organisation
# deprovisioned the user through SCIM, an administrator did) holds until undone by hand.
REACTIVATED_BY_LOGIN = frozenset({"inactive", "role-missing"})


class LoginRefused(Exception):
    """The person may not sign in; ``reason`` is the audited code shown on the refusal page."""

    def __init__(self, reason: str, *, user: User | None = None, deactivate: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user = user
        self.deactivate = deactivate


def username_for(persistent_id: str) -> str:
    """Return the username of a broker user: derived, never typed, never chosen in a form."""
    candidate = f"saml:{persistent_id}"
    if len(candidate) <= 150:
        return candidate
    return "saml:sha256:" + hashlib.sha256(persistent_id.encode("utf-8")).hexdigest()


def provision(identity: BrokerIdentity) -> User:
    """Create or update the user an accepted assertion describes, or raise LoginRefused.

    Checks, in order: the organisation (known, live, not suspended), then the role in the
    scope of *that organisation's* CVR (privileges scoped to any other CVR count for
    nothing), then the register of authorised health personnel (when loaded), then whether
    an earlier deactivation still holds. A professional whose role is
    gone is refused and, if known, deactivated (``LoginRefused.deactivate``).
    """
    existing = User.objects.filter(persistent_id=identity.persistent_id).first()
    if existing is not None and existing.kind != identity.kind:
        # One key, two kinds of person (a citizen's NameID equal to a professional's id):
        # never turn one account, and the audit history behind its id, into the other.
        raise LoginRefused("kind-mismatch", user=existing)
    if identity.kind == UserKind.CITIZEN:
        return _save(existing, identity, organisation_name="", roles=[], access_role="")
    roles = sorted(identity.roles_for(identity.cvr))
    admin_cvr = settings.INDBLIK_SAML_ADMIN_CVR
    if admin_cvr and identity.cvr == admin_cvr:
        if not settings.INDBLIK_SAML_ADMIN_ROLE or settings.INDBLIK_SAML_ADMIN_ROLE not in roles:
            raise LoginRefused("role-missing", user=existing, deactivate=existing is not None)
        return _save(
            existing,
            identity,
            organisation_name=identity.organisation_name,
            roles=roles,
            access_role=settings.INDBLIK_SAML_ADMIN_ROLE,
            staff=True,
            # The hospital is no registered organisation: with an empty CVR, the
            # organisations' network/status middleware treats its staff as hospital staff.
            organisation_cvr="",
        )
    organisation = Organisation.objects.filter(cvr=identity.cvr).first()
    if organisation is None:
        raise LoginRefused("organisation-unknown", user=existing)
    if organisation.status == Status.SUSPENDED:
        raise LoginRefused("organisation-suspended", user=existing)
    if organisation.status != Status.LIVE:
        raise LoginRefused("organisation-not-live", user=existing)
    # The organisation's own role first: it is the one that opens the record.
    granting = [organisation.role_uri, settings.INDBLIK_SAML_REVIEWER_ROLE]
    access_role = next((role for role in granting if role and role in roles), "")
    if not access_role:
        raise LoginRefused("role-missing", user=existing, deactivate=existing is not None)
    registered = authorisations.lookup(identity.authorisation_id)
    if registered is not None and registered.status != AuthorisationStatus.AUTHORISED:
        # The register overrules the organisation's assertion (Health Act §42); no register,
        # or an id it does not know, leaves the assertion standing.
        raise LoginRefused(f"authorisation-{registered.status}", user=existing)
    return _save(
        existing,
        identity,
        organisation_name=organisation.name,
        roles=roles,
        access_role=access_role,
    )


def _save(
    user: User | None,
    identity: BrokerIdentity,
    *,
    organisation_name: str,
    roles: list[str],
    access_role: str,
    staff: bool = False,
    organisation_cvr: str | None = None,
) -> User:
    if (
        user is not None
        and not user.is_active
        and user.deactivation_reason not in REACTIVATED_BY_LOGIN
    ):
        raise LoginRefused("user-deactivated", user=user)
    now = timezone.now()
    fields: dict[str, object] = {
        "kind": identity.kind,
        "full_name": identity.full_name,
        "email": identity.email,
        "organisation_cvr": identity.cvr if organisation_cvr is None else organisation_cvr,
        "organisation_name": organisation_name or identity.organisation_name,
        "roles": roles[:MAX_ROLES],
        "access_role": access_role,
        "authorisation_id": identity.authorisation_id,
        "delegated": bool(settings.INDBLIK_SAML_DELEGATED_ROLE)
        and settings.INDBLIK_SAML_DELEGATED_ROLE in roles,
        "loa": identity.loa,
        **_register_fields(identity),
        "cpr": identity.cpr,
        "is_staff": staff,
        "is_active": True,
        "deactivated_at": None,
        "deactivation_reason": "",
        "last_saml_login": now,
    }
    if user is None:
        user = _create(identity, fields)
    else:
        for name, value in fields.items():
            setattr(user, name, value)
        user.save()
    _sync_admin_group(user, staff)
    return user


def _register_fields(identity: BrokerIdentity) -> dict[str, str]:
    registered = authorisations.lookup(identity.authorisation_id)
    if registered is None:
        return {"profession": "", "authorisation_status": ""}
    return {"profession": registered.profession, "authorisation_status": registered.status}


def _create(identity: BrokerIdentity, fields: dict[str, object]) -> User:
    user = User(username=username_for(identity.persistent_id), persistent_id=identity.persistent_id)
    for name, value in fields.items():
        setattr(user, name, value)
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # The same person's first login finished in another worker a moment ago: update it.
        user = User.objects.get(persistent_id=identity.persistent_id)
        for name, value in fields.items():
            setattr(user, name, value)
        user.save()
    return user


# What a hospital administrator may do in /admin/ when the group is first made: register and
# onboard organisations (networks, care-system keys, checklist), look up and deactivate users,
# and read what happened (grants, review alerts, the audit log, ingestion runs, feeds,
# feedback, follow-up cases). Not the record store's patients and resources: clinical data is
# read through the chart, which audits it. Operators change the group as they see fit; it is
# filled only while it has no permissions at all.
ADMIN_GROUP_PERMISSIONS = (
    "organisations.add_organisation",
    "organisations.change_organisation",
    "organisations.view_organisation",
    "organisations.change_checkliststep",
    "organisations.view_checkliststep",
    "organisations.add_networkrange",
    "organisations.change_networkrange",
    "organisations.delete_networkrange",
    "organisations.view_networkrange",
    "organisations.add_caresystemkey",
    "organisations.change_caresystemkey",
    "organisations.delete_caresystemkey",
    "organisations.view_caresystemkey",
    "organisations.view_statuschange",
    "identity.change_user",
    "identity.view_user",
    "identity.view_authorisation",
    "access.view_grant",
    "access.view_reviewalert",
    "audit.view_auditevent",
    "audit.view_auditcheckpoint",
    "records.view_ingestionrun",
    "records.view_feed",
    "usage.view_feedback",
    "followup.view_case",
)


def _sync_admin_group(user: User, staff: bool) -> None:
    name = settings.INDBLIK_SAML_ADMIN_GROUP
    if staff:
        group, _ = Group.objects.get_or_create(name=name)
        if not group.permissions.exists():
            group.permissions.set(_default_admin_permissions())
        user.groups.add(group)
    else:
        user.groups.remove(*user.groups.filter(name=name))


def _default_admin_permissions() -> list[Permission]:
    wanted = Q(pk__in=[])
    for name in ADMIN_GROUP_PERMISSIONS:
        app_label, codename = name.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(wanted))
    if len(found) != len(ADMIN_GROUP_PERMISSIONS):
        missing = set(ADMIN_GROUP_PERMISSIONS) - {
            f"{p.content_type.app_label}.{p.codename}" for p in found
        }
        raise ImproperlyConfigured(f"unknown permissions for the admin group: {sorted(missing)}")
    return found


def deactivate(
    user: User,
    *,
    reason: str,
    request: HttpRequest | None = None,
    actor: audit.Actor | None = None,
) -> int:
    """Deactivate ``user``, end all of the user's sessions at once; return how many ended.

    The audit row is written in the same transaction: a deactivation that cannot be logged
    does not happen.
    """
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            is_active=False, deactivated_at=timezone.now(), deactivation_reason=reason[:64]
        )
        user.is_active = False
        ended = end_sessions(user)
        _audit(request, audit.Action.USER_DEACTIVATED, user, reason, ended, actor)
    return ended


def delete(
    user: User,
    *,
    reason: str,
    request: HttpRequest | None = None,
    actor: audit.Actor | None = None,
) -> int:
    """Delete ``user`` after ending all of the user's sessions; return how many ended.

    The one way a user is deleted (SCIM, the admin): audited as ``identity:user:delete`` in
    the same transaction, so a deletion that cannot be logged does not happen.
    """
    with transaction.atomic():
        ended = end_sessions(user)
        _audit(request, audit.Action.USER_DELETED, user, reason, ended, actor)
        user.delete()
    return ended


def _audit(
    request: HttpRequest | None,
    action: audit.Action,
    user: User,
    reason: str,
    ended: int,
    actor: audit.Actor | None,
) -> None:
    audit.record(
        request,
        action,
        actor=actor,
        organisation_cvr=user.organisation_cvr,
        organisation_name=user.organisation_name,
        details={"user_id": user.pk, "reason": reason[:64], "sessions_ended": ended},
    )


def end_sessions(user: User) -> int:
    """Delete every session of ``user`` (and its SAML session); return how many there were."""
    return end_sessions_of(User.objects.filter(pk=user.pk))


def end_sessions_of(users: QuerySet[User]) -> int:
    """Delete every session of ``users`` (and their SAML sessions); return how many there were.

    Reads only the users who have a session, in one query, however many ``users`` are.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    rows = list(UserSession.objects.filter(user__in=users))
    for row in rows:
        store(row.session_key).delete()
        if row.saml_session_key:
            store(row.saml_session_key).delete()
    UserSession.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)


def inactive_users(days: int, *, now: datetime.datetime | None = None) -> list[User]:
    """Return the active broker users who have not signed in for ``days`` days.

    Local accounts (created by an operator, without a persistent id) are left to the
    operator: their lifecycle is not the broker's.
    """
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    return list(
        User.objects.filter(is_active=True, persistent_id__isnull=False)
        .filter(Q(last_login__lt=cutoff) | Q(last_login__isnull=True, date_joined__lt=cutoff))
        .order_by("pk")
    )


def expire_inactive(days: int, *, now: datetime.datetime | None = None) -> list[User]:
    """Deactivate the broker users inactive for ``days`` days; return them."""
    users = inactive_users(days, now=now)
    for user in users:
        deactivate(user, reason="inactive")
    return users
