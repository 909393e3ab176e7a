"""The citizen's own log: every lookup of their record, as visits a citizen can read.

A *visit* is what one person from one organisation did in the record in one sitting: the
consecutive lookups (newest first) by the same user, for the same organisation, on the same
day and for the same purpose, with the parts of the record they saw. A refused attempt is a
row of its own. Another system's reads through the FHIR read API (another Indblik's live
source, a FHIR client) are visits of that system, with the kinds of record data it read; the
hospital's patient portal reading this log through the API is not a lookup of the record.

The query reads only the citizen's own rows, newest first, through the ``(patient_cpr, at)``
index, in batches of :data:`BATCH` events — the cost of a page does not grow with the size of
the table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import BooleanField, Case, Q, Value, When
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from indblik.audit import Action, Outcome
from indblik.audit.models import AuditEvent
from indblik.followup.events import (
    CITIZEN_ACTIONS,
    MACHINE_READ_ACTIONS,
    attempted_refusal,
    zone,
)
from indblik.identity.models import User
from indblik.records.sections import TITLES, Section

PAGE_SIZE = 20  # visits per page
BATCH = 400  # events read per page (a visit longer than this continues on the next page)
MAX_BATCHES = 10  # batches read at most for one page when they make no visit
EMERGENCY = "emergency"
_SECTIONS = {section.value: section for section in Section}
# What a system read, in the citizen's words, by FHIR resource type (the API's audit rows
# name types, not chart pages; a type that several pages show gets a wider title).
_TYPE_TITLES: dict[str, Promise] = {
    "Patient": TITLES[Section.DEMOGRAPHICS],
    "RelatedPerson": TITLES[Section.DEMOGRAPHICS],
    "Encounter": TITLES[Section.ENCOUNTERS],
    "Composition": _("Notes and discharge summaries"),
    "Observation": _("Lab tests and measurements"),
    "DiagnosticReport": _("Results and reports"),
    "ImagingStudy": TITLES[Section.RESULTS_REVIEW],
    "Procedure": TITLES[Section.PROCEDURES],
    "Device": TITLES[Section.DEVICES],
    "DeviceUseStatement": TITLES[Section.DEVICES],
    "DocumentReference": _("Documents and images"),
    "Media": _("Documents and images"),
    "Binary": _("Documents and images"),
    "Communication": TITLES[Section.CORRESPONDENCE],
    "EpisodeOfCare": TITLES[Section.EPISODES],
    "ServiceRequest": _("Referrals and orders"),
    "QuestionnaireResponse": TITLES[Section.ASSESSMENTS],
    "Condition": _("Diagnoses and problems"),
    "FamilyMemberHistory": TITLES[Section.HISTORY],
    "Appointment": _("Appointments"),
    "CarePlan": TITLES[Section.CARE_PLANS],
    "Goal": TITLES[Section.CARE_PLANS],
    "Flag": TITLES[Section.ALERTS],
    "AllergyIntolerance": TITLES[Section.ALLERGIES],
    "Consent": _("Blocks and consents"),
}
OTHER_DATA = _("Other parts of the record")
_TYPE_ORDER = {rtype: position for position, rtype in enumerate(_TYPE_TITLES)}
# API reads that are no read of the citizen's record, left out in SQL (so that they cannot
# fill a batch): the patient portal reading this log (AuditEvent), and a read that found no
# record of the citizen and named nothing (a batch says "not found" only when none of its
# entries found the citizen). CASE, not a bare condition: a row without the JSON key is kept.
_NOT_A_READ_OF_THE_RECORD = Case(
    When(
        Q(action__in=MACHINE_READ_ACTIONS, section="AuditEvent")
        | Q(action__in=MACHINE_READ_ACTIONS, resource_ids="[]", details__patient="not found"),
        then=Value(True),
    ),
    default=Value(False),
    output_field=BooleanField(),
)


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
    machine: bool = False  # another system's reads through the FHIR read API
    resource_types: list[str] = field(default_factory=list)

    @property
    def section_titles(self) -> list[str]:
        titles = [str(TITLES[_SECTIONS[name]]) for name in self.sections]
        for rtype in self.resource_types:
            title = str(_TYPE_TITLES.get(rtype, OTHER_DATA))
            if title not in titles:
                titles.append(title)
        return titles

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
    """Return a page of ``cpr``'s log, newest first, from before the event ``cursor``.

    A batch of events that makes no visit (refusals that were a grant ending, grants opened
    without a lookup) does not end the page: up to :data:`MAX_BATCHES` batches are read until
    one does, so a run of such events cannot hide older lookups behind an empty page.
    """
    rows = (
        AuditEvent.objects.filter(patient_cpr=cpr, action__in=CITIZEN_ACTIONS)
        .alias(hidden=_NOT_A_READ_OF_THE_RECORD)
        .filter(hidden=False)
    )
    position: tuple[dt.datetime, int] | None = None
    if cursor is not None:
        # The cursor is an event id of this citizen's log; anything else is the first page.
        at = (
            AuditEvent.objects.filter(patient_cpr=cpr, pk=cursor)
            .values_list("at", flat=True)
            .first()
        )
        if at is not None:
            position = (at, cursor)
    visits: list[Visit] = []
    next_cursor: int | None = None
    for _batch in range(MAX_BATCHES):
        page = rows
        if position is not None:
            at, before = position
            page = rows.filter(Q(at__lt=at) | Q(at=at, pk__lt=before))
        events = list(page.order_by("-at", "-id").values(*_COLUMNS)[: BATCH + 1])
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
        if visits or next_cursor is None:
            break
        position = (next(e["at"] for e in events if e["id"] == next_cursor), next_cursor)
    _add_professions(visits)
    return LogPage(visits, next_cursor)


_COLUMNS = (
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
)


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
        machine = event["action"] in MACHINE_READ_ACTIONS
        emergency = event["purpose"] == EMERGENCY
        key = (
            event["user_id"],
            event["organisation_cvr"],
            local.date(),
            emergency,
            refusal or ("machine" if machine else "lookup"),
            event["actor_name"] if machine else event["id"] if refusal else 0,
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
                    machine=machine,
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
        if machine:
            read = set(visit.resource_types) | set(_types_read(event))
            visit.resource_types = sorted(
                read, key=lambda t: (_TYPE_ORDER.get(t, len(_TYPE_ORDER)), t)
            )
            continue
        if event["section"] in _SECTIONS and event["section"] not in visit.sections:
            visit.sections.append(event["section"])
        visit.printed |= action == Action.PAGE_PRINT
        visit.downloaded |= action == Action.DOCUMENT_DOWNLOAD
        visit.searched |= action == Action.SECTION_SEARCH
    for visit in visits:
        visit.sections.reverse()  # in the order they were seen
    return visits


def _types_read(event: dict[str, Any]) -> list[str]:
    """The resource types an API read showed: a batch names its entries' types."""
    details = event["details"] if isinstance(event["details"], dict) else {}
    if event["section"] != "batch":
        return [event["section"]] if event["section"] else []
    if details.get("continued"):
        return []  # the ids of the batch's first row, continued: its types are there
    types = details.get("types")
    missed = details.get("not_found")
    missed = missed if isinstance(missed, dict) else {}
    if not isinstance(types, dict):
        return []
    # Only the types of entries that found the citizen's record.
    return [
        str(rtype)
        for rtype, entries in types.items()
        if _count(entries) > _count(missed.get(rtype))
    ]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _add_professions(visits: list[Visit]) -> None:
    ids = {visit.user_id for visit in visits if visit.user_id is not None}
    professions = dict(
        User.objects.filter(pk__in=ids).exclude(profession="").values_list("pk", "profession")
    )
    for visit in visits:
        visit.profession = professions.get(visit.user_id, "") if visit.user_id else ""
