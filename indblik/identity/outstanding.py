"""The AuthnRequests this browser has sent and not yet seen answered.

Kept in djangosaml2's SAML session (its own cookie, which the broker's cross-site POST still
carries), so a response is accepted only in the browser that asked for it: a response stolen
or replayed into another session finds no outstanding request there. Each entry remembers
which IdP was asked, when, and where to go afterwards (so no RelayState needs trusting).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

SESSION_KEY = "indblik_saml_requests"
# A browser with many tabs may start several sign-ins; older ones are forgotten first.
MAX_OUTSTANDING = 5


@dataclass(frozen=True)
class Outstanding:
    """One AuthnRequest sent from this browser."""

    request_id: str
    idp: str
    next_url: str
    at: datetime.datetime


def add(session: SessionBase, *, request_id: str, idp: str, next_url: str) -> None:
    """Remember a request just sent."""
    entries = _entries(session)
    entries[request_id] = {"idp": idp, "next": next_url, "at": timezone.now().timestamp()}
    newest = sorted(entries.items(), key=lambda item: item[1]["at"])[-MAX_OUTSTANDING:]
    session[SESSION_KEY] = dict(newest)


def find(session: SessionBase, request_id: str) -> Outstanding | None:
    """Return the outstanding request ``request_id`` if it exists and is recent enough."""
    if not request_id:
        return None
    entry = _entries(session).get(request_id)
    if entry is None:
        return None
    at = datetime.datetime.fromtimestamp(float(entry["at"]), tz=datetime.UTC)
    max_age = datetime.timedelta(minutes=settings.INDBLIK_SAML_REQUEST_MAX_AGE_MINUTES)
    if timezone.now() - at > max_age:
        return None
    return Outstanding(
        request_id=request_id, idp=str(entry["idp"]), next_url=str(entry["next"]), at=at
    )


def consume(session: SessionBase, request_id: str) -> None:
    """Forget a request once a response to it was accepted: one response per request."""
    entries = _entries(session)
    if entries.pop(request_id, None) is not None:
        session[SESSION_KEY] = entries


def _entries(session: SessionBase) -> dict[str, dict[str, Any]]:
    value = session.get(SESSION_KEY)
    return dict(value) if isinstance(value, dict) else {}
