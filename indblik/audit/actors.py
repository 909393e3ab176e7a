"""Who did it: the actor copied into each audit row, and the hook that derives it.

The row keeps *copies* (name, authorisation id, role, organisation) as they were at the time
of the event, so the log still reads correctly after a user is renamed, moves organisation or
is deleted. The identity app knows more about a user than Django's ``User`` does (the broker's
authorisation id, the job-function role, the organisation of the session); it plugs in by
naming its own resolver in the ``INDBLIK_AUDIT_ACTOR_RESOLVER`` setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

DEFAULT_RESOLVER = "indblik.audit.actors.django_user_actor"

ActorResolver = Callable[[HttpRequest], "Actor | None"]


@dataclass(frozen=True, slots=True)
class Actor:
    """The person (or system) behind an audited action, as recorded in the row."""

    user_id: int | None = None
    name: str = ""
    authorisation: str = ""
    role: str = ""
    delegated: bool = False
    organisation_cvr: str = ""
    organisation_name: str = ""


def django_user_actor(request: HttpRequest) -> Actor | None:
    """Return an actor from Django's authenticated user (the default resolver)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    name = user.get_full_name() or user.get_username()
    return Actor(user_id=user.pk, name=name)


@cache
def _load(path: str) -> ActorResolver:
    resolver: ActorResolver = import_string(path)
    return resolver


def actor_for_request(request: HttpRequest) -> Actor | None:
    """Return the actor of ``request`` through the configured resolver, or None if anonymous."""
    path = getattr(settings, "INDBLIK_AUDIT_ACTOR_RESOLVER", DEFAULT_RESOLVER)
    return _load(path)(request)
