"""Searching one organisation's log: saved filters, the query, and the CSV export.

The CPR number a reviewer searches for never goes into a URL (browser history, proxy logs,
the Referer header): the search form is a POST, and the filter is saved in the reviewer's
session under a random id that the result pages and the export carry instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from indblik.audit import Action, Outcome
from indblik.audit.export import csv_safe
from indblik.audit.models import AuditEvent
from indblik.followup.events import LOOKUP_ACTIONS, day_bounds, refusal_code, zone
from indblik.records.models import Patient

SESSION_KEY = "indblik_followup_filters"
MAX_SAVED = 20
DEFAULT_DAYS = 30
PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000

KIND_LOOKUPS = "lookups"
KIND_REFUSED = "refused"
KIND_ALL = "all"
REFUSED_ACTIONS: tuple[str, ...] = (Action.ACCESS_DENIED, Action.LAUNCH_REFUSED)


@dataclass(frozen=True)
class Filters:
    """What the reviewer searches for (always within their own organisation)."""

    organisation_cvr: str
    user_id: int | None = None
    cpr: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    section: str = ""
    kind: str = KIND_LOOKUPS

    def to_session(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat() if self.until else None
        return data

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> Filters:
        return cls(
            organisation_cvr=str(data["organisation_cvr"]),
            user_id=data.get("user_id"),
            cpr=data.get("cpr") or "",
            since=dt.date.fromisoformat(data["since"]) if data.get("since") else None,
            until=dt.date.fromisoformat(data["until"]) if data.get("until") else None,
            section=data.get("section") or "",
            kind=data.get("kind") or KIND_LOOKUPS,
        )

    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """The time range searched (the last 30 days when no dates are given)."""
        today = timezone.localdate(timezone.now(), zone())
        until = self.until or today
        since = self.since or (until - dt.timedelta(days=DEFAULT_DAYS - 1))
        return day_bounds(since)[0], day_bounds(until)[1]

    def audit_details(self) -> dict[str, Any]:
        """The filter for the audit row: everything but the CPR (it has its own column)."""
        since, until = self.window()
        return {
            "user": self.user_id,
            "citizen": bool(self.cpr),
            "since": since.date().isoformat(),
            "until": (until - dt.timedelta(days=1)).date().isoformat(),
            "section": self.section,
            "kind": self.kind,
        }


def save(request: HttpRequest, filters: Filters) -> str:
    """Keep ``filters`` in the session; return the id the result pages use."""
    saved = dict(request.session.get(SESSION_KEY) or {})
    filter_id = secrets.token_urlsafe(12)
    saved[filter_id] = filters.to_session()
    while len(saved) > MAX_SAVED:
        saved.pop(next(iter(saved)))
    request.session[SESSION_KEY] = saved
    return filter_id


def load(request: HttpRequest, filter_id: str, organisation_cvr: str) -> Filters | None:
    """Return the saved filters of this session and organisation, or None."""
    data = (request.session.get(SESSION_KEY) or {}).get(filter_id)
    if not isinstance(data, dict) or data.get("organisation_cvr") != organisation_cvr:
        return None
    try:
        return Filters.from_session(data)
    except (KeyError, TypeError, ValueError):
        return None


def events(filters: Filters) -> QuerySet[AuditEvent]:
    """The organisation's events matching ``filters``, newest first.

    ``organisation_cvr`` is always the first condition: the ``(organisation_cvr, at)`` index
    serves the query, and no other organisation's row can ever match.
    """
    since, until = filters.window()
    rows = AuditEvent.objects.filter(
        organisation_cvr=filters.organisation_cvr, at__gte=since, at__lt=until
    )
    if filters.kind == KIND_LOOKUPS:
        rows = rows.filter(action__in=LOOKUP_ACTIONS, outcome=Outcome.SUCCESS)
    elif filters.kind == KIND_REFUSED:
        rows = rows.filter(action__in=REFUSED_ACTIONS, outcome=Outcome.REFUSED)
    else:
        rows = rows.filter(action__in=(*LOOKUP_ACTIONS, Action.ACCESS_ALLOWED, *REFUSED_ACTIONS))
    if filters.user_id is not None:
        rows = rows.filter(user_id=filters.user_id)
    if filters.cpr:
        rows = rows.filter(patient_cpr=filters.cpr)
    if filters.section:
        rows = rows.filter(section=filters.section)
    return rows.order_by("-at", "-id")


def page(filters: Filters, cursor: int | None) -> tuple[list[AuditEvent], int | None]:
    """One page of results from before the event ``cursor``, and the next cursor."""
    rows = events(filters)
    if cursor is not None:
        at = rows.filter(pk=cursor).values_list("at", flat=True).first()
        if at is not None:
            rows = rows.filter(Q(at__lt=at) | Q(at=at, pk__lt=cursor))
    found = list(rows[: PAGE_SIZE + 1])
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    return found, (found[-1].pk if more and found else None)


def citizen_names(cprs: set[str]) -> dict[str, str]:
    """The names of the citizens with these CPR numbers (one query)."""
    rows = Patient.objects.filter(cpr__in=cprs).values_list("cpr", "given", "family")
    return {cpr or "": f"{given} {family}".strip() for cpr, given, family in rows}


# --- CSV -----------------------------------------------------------------------------------

CSV_HEADER = (
    "time",
    "action",
    "outcome",
    "user_id",
    "user",
    "authorisation",
    "organisation_cvr",
    "cpr",
    "citizen",
    "section",
    "purpose",
    "reason",
    "refusal",
    "event_id",
)


def safe_cell(value: Any) -> str:
    """Return ``value`` as text a spreadsheet shows as text, on one line (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return csv_safe(text.replace("\r", " ").replace("\n", " "))


def csv_rows(filters: Filters) -> Iterator[str]:
    """Yield the CSV export (UTF-8 with BOM, semicolon-separated, as Danish Excel expects)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return value

    writer.writerow(CSV_HEADER)
    yield "\ufeff" + flush()
    tz = zone()
    rows = events(filters)[:EXPORT_MAX_ROWS]
    names: dict[str, str] = {}
    batch: list[AuditEvent] = []
    for event in rows.iterator(chunk_size=2000):
        batch.append(event)
        if len(batch) == 2000:
            yield _write(writer, flush, batch, names, tz)
            batch = []
    if batch:
        yield _write(writer, flush, batch, names, tz)


def _write(writer: Any, flush: Any, batch: list[AuditEvent], names: dict[str, str], tz: Any) -> str:
    wanted = {event.patient_cpr for event in batch if event.patient_cpr} - names.keys()
    if wanted:
        names.update(citizen_names(wanted))
    for event in batch:
        writer.writerow(
            [
                safe_cell(value)
                for value in (
                    timezone.localtime(event.at, tz).isoformat(timespec="seconds"),
                    event.action,
                    event.outcome,
                    event.user_id,
                    event.actor_name,
                    event.actor_authorisation,
                    event.organisation_cvr,
                    event.patient_cpr,
                    names.get(event.patient_cpr, ""),
                    event.section,
                    event.purpose,
                    event.reason,
                    refusal_code(event.decision_reasons),
                    event.pk,
                )
            ]
        )
    return str(flush())
