"""Who the audit log names for a request: the signed-in user with the broker's facts."""

from __future__ import annotations

from django.http import HttpRequest

from indblik.audit import Actor
from indblik.identity.models import User


def actor_for_request(request: HttpRequest) -> Actor | None:
    """Return the actor of ``request`` (setting ``INDBLIK_AUDIT_ACTOR_RESOLVER``), or None."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not isinstance(user, User):
        return None
    return actor_for_user(user)


def actor_for_user(user: User) -> Actor:
    """Return the audit actor for ``user``: name, authorisation id, role, organisation."""
    return Actor(
        user_id=user.pk,
        name=user.get_full_name() or user.get_username(),
        authorisation=user.authorisation_id,
        role=user.access_role or str(user.kind),
        delegated=user.delegated,
        organisation_cvr=user.organisation_cvr,
        organisation_name=user.organisation_name,
    )
