"""Which audit events are lookups of a record, and which refusals were real attempts.

Shared by the citizen's log and the follow-up rules, so that both count the same things.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from indblik.audit import Action

# A lookup: something of the record was shown, printed or downloaded.
LOOKUP_ACTIONS: tuple[str, ...] = (
    Action.PATIENT_READ,
    Action.DOCUMENT_VIEW,
    Action.DOCUMENT_DOWNLOAD,
    Action.PAGE_PRINT,
    Action.SECTION_SEARCH,
)
# A read by another system through the FHIR read API (another Indblik's live source, a
# FHIR client): the system is the reader; its own users' lookups are in its own log.
MACHINE_READ_ACTIONS: tuple[str, ...] = (Action.FHIR_READ,)
# What the citizen's log reads: lookups, the decisions that opened them (they carry the
# reason for an emergency lookup), refusals and other systems' reads.
CITIZEN_ACTIONS: tuple[str, ...] = (
    *LOOKUP_ACTIONS,
    Action.ACCESS_ALLOWED,
    Action.ACCESS_DENIED,
    *MACHINE_READ_ACTIONS,
)
# Refusals of a chart request that are the grant ending (timeout, sign-out, another session)
# rather than someone trying to see a record they may not: not shown, not flagged.
ROUTINE_CHART_REFUSALS = frozenset(
    {
        "grant-unknown",
        "grant-expired",
        "grant-revoked",
        "organisation-mismatch",
        "user-inactive",
        "role-missing",
        "organisation-not-live",
        "patient-unknown",
    }
)


def zone() -> ZoneInfo:
    """The time zone days and hours are counted in (``TIME_ZONE``, Europe/Copenhagen)."""
    return ZoneInfo(settings.TIME_ZONE)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Return the start of ``day`` and of the next day, local time, as aware datetimes."""
    tz = zone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def refusal_code(decision_reasons: Iterable[str]) -> str:
    """Return the first ``deny:`` reason without its prefix, or ``""``."""
    for reason in decision_reasons or ():
        if isinstance(reason, str) and reason.startswith("deny:"):
            return reason.removeprefix("deny:")
    return ""


def attempted_refusal(
    action: str, decision_reasons: Iterable[str], details: Mapping[str, Any] | None
) -> str:
    """Return the refusal code if this event is a refused attempt to see a record, else ``""``.

    An access decision that refused a launch always counts; a refused chart request counts
    only when it was not the grant simply ending (a citizen's new block does count).
    """
    if action != Action.ACCESS_DENIED:
        return ""
    code = refusal_code(decision_reasons)
    stage = (details or {}).get("stage", "")
    if stage == "chart" and code in ROUTINE_CHART_REFUSALS:
        return ""
    return code or "refused"
