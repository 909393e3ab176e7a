"""The citizen's own log: every lookup of their record, as visits a citizen can read.

A *visit* is what one person from one organisation did in the record in one sitting: the
consecutive lookups (newest first) by the same user, for the same organisation, on the same
day and for the same purpose, with the parts of the record they saw. A refused attempt is a
row of its own. The query reads only the citizen's own rows, newest first, through the
``(patient_cpr, at)`` index, in batches of :data:`BATCH` events — the cost of a page does not
grow with the size of the table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from indblik.audit import Action, Outcome
from indblik.audit.models import AuditEvent
from indblik.followup.events import CITIZEN_ACTIONS, attempted_refusal, zone
from indblik.identity.models import User
from indblik.records.sections import TITLES, Section

PAGE_SIZE = 20  # visits per page
BATCH = 400  # events read per page (a visit longer than this continues on the next page)
EMERGENCY = "emergency"
_SECTIONS = {section.value: section for section in Section}


@dataclass
class Visit:
    """One row of the citizen's log."""

    start: dt.datetime
    end: dt.datetime
    user_id: int | None
    actor_name: str
    organisation_name: str
    organisation_cvr: str
    emergency: bool
    reason: str = ""
    refusal: str = ""  # a refused attempt: the policy's reason code
    profession: str = ""
    sections: list[str] = field(default_factory=list)
    printed: bool = False
    downloaded: bool = False
    searched: bool = False
    lookups: int = 0
    last_id: int = 0

    @property
    def section_titles(self) -> list[str]:
        return [str(TITLES[_SECTIONS[name]]) for name in self.sections]

    @property
    def same_minute(self) -> bool:
        return self.start.replace(second=0, microsecond=0) == self.end.replace(
            second=0, microsecond=0
        )


@dataclass(frozen=True)
class LogPage:
    """One page of the log and where the next begins."""

    visits: list[Visit]
    next_cursor: int | None


def citizen_log(cpr: str, *, cursor: int | None = None) -> LogPage:
    """Return a page of ``cpr``'s log, newest first, from before the event ``cursor``."""
    rows = AuditEvent.objects.filter(patient_cpr=cpr, action__in=CITIZEN_ACTIONS)
    if cursor is not None:
        # The cursor is an event id of this citizen's log; anything else is the first page.
        at = (
            AuditEvent.objects.filter(patient_cpr=cpr, pk=cursor)
            .values_list("at", flat=True)
            .first()
        )
        if at is not None:
            rows = rows.filter(Q(at__lt=at) | Q(at=at, pk__lt=cursor))
    events = list(
        rows.order_by("-at", "-id").values(
            "id",
            "at",
            "action",
            "outcome",
            "user_id",
            "actor_name",
            "organisation_cvr",
            "organisation_name",
            "section",
            "purpose",
            "reason",
            "decision_reasons",
            "details",
        )[: BATCH + 1]
    )
    more = len(events) > BATCH
    visits = _group(events[:BATCH])
    if more and len(visits) > 1:
        visits.pop()  # may continue in the next batch: it starts the next page whole
    if len(visits) > PAGE_SIZE:
        visits, more = visits[:PAGE_SIZE], True
    next_cursor = None
    if more:
        next_cursor = visits[-1].last_id if visits else events[BATCH - 1]["id"]
    # A grant opened without a page read after it (rare) is not a lookup.
    visits = [visit for visit in visits if visit.lookups or visit.refusal]
    _add_professions(visits)
    return LogPage(visits, next_cursor)


def _group(events: list[dict[str, Any]]) -> list[Visit]:
    tz = zone()
    visits: list[Visit] = []
    current_key: tuple[Any, ...] | None = None
    for event in events:
        local = timezone.localtime(event["at"], tz)
        refusal = ""
        if event["action"] == Action.ACCESS_DENIED:
            refusal = attempted_refusal(
                event["action"], event["decision_reasons"], event["details"]
            )
            if not refusal:
                continue  # the end of a grant, not an attempt: nothing for the citizen
        emergency = event["purpose"] == EMERGENCY
        key = (
            event["user_id"],
            event["organisation_cvr"],
            local.date(),
            emergency,
            refusal or "lookup",
            event["id"] if refusal else 0,
        )
        if key != current_key or not visits:
            visits.append(
                Visit(
                    start=local,
                    end=local,
                    user_id=event["user_id"],
                    actor_name=event["actor_name"],
                    organisation_name=event["organisation_name"],
                    organisation_cvr=event["organisation_cvr"],
                    emergency=emergency,
                    refusal=refusal,
                )
            )
            current_key = key
        visit = visits[-1]
        visit.start = local  # newest first: each older event moves the start back
        visit.last_id = event["id"]
        if event["reason"] and not visit.reason:
            visit.reason = event["reason"]
        if refusal or event["outcome"] != Outcome.SUCCESS:
            continue
        action = event["action"]
        if action == Action.ACCESS_ALLOWED:
            continue  # opened the access; the lookups follow
        visit.lookups += 1
        if event["section"] in _SECTIONS and event["section"] not in visit.sections:
            visit.sections.append(event["section"])
        visit.printed |= action == Action.PAGE_PRINT
        visit.downloaded |= action == Action.DOCUMENT_DOWNLOAD
        visit.searched |= action == Action.SECTION_SEARCH
    for visit in visits:
        visit.sections.reverse()  # in the order they were seen
    return visits


def _add_professions(visits: list[Visit]) -> None:
    ids = {visit.user_id for visit in visits if visit.user_id is not None}
    professions = dict(
        User.objects.filter(pk__in=ids).exclude(profession="").values_list("pk", "profession")
    )
    for visit in visits:
        visit.profession = professions.get(visit.user_id, "") if visit.user_id else ""
