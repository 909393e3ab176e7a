"""The rules of use: their current version, and whether a user has acknowledged it.

Change ``VERSION`` whenever the text of ``chart/rules.html`` changes in substance: every user
is then shown the rules again before their next chart page.

A chart page asks :func:`acknowledged_by`, which remembers a "yes" in the (server-side)
session as ``[user id, version]``: later pages of the session then need no query. That is safe
because an acknowledgement is never withdrawn (nothing updates or deletes the rows; they go
only with the user), and a new ``VERSION`` no longer matches what the session remembers, so the
rules are asked again from the next page on.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import get_language

from indblik.chart.models import RulesAcknowledgement

VERSION = "2026-1"
SESSION_KEY = "indblik_rules_acknowledged"


def acknowledged(user: Any) -> bool:
    """Tell whether ``user`` has acknowledged the current version of the rules (one query)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return RulesAcknowledgement.objects.filter(user_id=user.pk, version=VERSION).exists()


def acknowledged_by(request: HttpRequest) -> bool:
    """Tell whether the request's user has acknowledged the current version (remembered).

    One query the first time in a session, none after a "yes" (see the module's docstring).
    """
    user = request.user
    if not getattr(user, "is_authenticated", False):
        return False
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY) == [user.pk, VERSION]:
        return True
    if not acknowledged(user):
        return False
    remember(request)
    return True


def remember(request: HttpRequest) -> None:
    """Remember in the session that the request's user has acknowledged the current version."""
    session = getattr(request, "session", None)
    if session is not None and getattr(request.user, "is_authenticated", False):
        session[SESSION_KEY] = [request.user.pk, VERSION]


def acknowledge(user: Any) -> RulesAcknowledgement:
    """Record that ``user`` has read and accepted the current version (idempotent)."""
    row, _created = RulesAcknowledgement.objects.get_or_create(
        user_id=user.pk, version=VERSION, defaults={"language": (get_language() or "")[:8]}
    )
    return row
