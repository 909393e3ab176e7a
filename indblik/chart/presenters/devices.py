"""Drains, catheters and lines: what is in place now, where, since when, and for how many days.

A device in place matters whatever the date filter says (a catheter placed a year ago is still
today's problem), so the section reads one bounded list without date filters and applies the
dates only to devices already removed. A DeviceUseStatement and its Device are one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import concept_text, reference_text, status_code
from indblik.chart.presenters.rows import (
    When,
    as_list,
    concepts_text,
    days_between,
    first_when,
    get,
    join,
    key_of,
    matches,
    named_references,
    newest_first,
    notes_text,
    page_of,
    people_and_places,
    target_key,
    text_of,
    when,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
# Devices and their use statements come in pairs; a long hospital stay rarely has more than a
# few dozen lines and drains.
LIMIT = 200

REMOVED_STATUSES = frozenset({"completed", "stopped", "not-done", "inactive"})
PLANNED_STATUSES = frozenset({"intended"})


@dataclass(frozen=True)
class DeviceRow:
    """One drain, catheter, line or tube."""

    id: str
    ids: tuple[str, ...]
    name: str
    site: str
    status: str
    tone: str
    in_place: bool
    inserted: When | None
    removed: When | None
    days: int | None  # days in place (until removal, or until today)
    reason: str
    recorded_by: str
    department: str
    note: str

    @property
    def date(self) -> When | None:
        return self.inserted


def queries(filters: Filters) -> list[SectionQuery]:
    # No date filters or paging here: the presenter keeps every device still in place.
    return [SectionQuery(section=Section.DEVICES, limit=LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    devices = {
        key_of(resource): resource
        for resource in current.resources
        if resource.get("resourceType") == "Device" and key_of(resource)
    }
    now = when(page.now)
    used: set[str] = set()
    rows: list[DeviceRow] = []
    for resource in current.resources:
        if resource.get("resourceType") != "DeviceUseStatement":
            continue
        device = devices.get(target_key(resource.get("device")))
        if device is not None:
            used.add(key_of(device))
        rows.append(_statement_row(resource, device, now))
    for key, device in devices.items():
        if key not in used:
            rows.append(_device_row(device))
    filters = page.filters
    rows = [row for row in rows if _wanted(row, filters)]
    in_place = newest_first(row for row in rows if row.in_place)
    removed = newest_first(row for row in rows if not row.in_place and _in_window(row, filters))
    shown = in_place + removed
    return {
        "in_place": in_place,
        "removed": removed,
        "resource_ids": [key for row in shown for key in row.ids],
        "empty": not shown,
    }


def _statement_row(
    statement: Mapping[str, Any], device: Mapping[str, Any] | None, now: When | None
) -> DeviceRow:
    code = status_code(statement)
    inserted = first_when(
        get(statement, "timingPeriod", "start"),
        statement.get("timingDateTime"),
        next(iter(as_list(get(statement, "timingTiming", "event"))), None),
        statement.get("recordedOn"),
    )
    removed = first_when(get(statement, "timingPeriod", "end"))
    # A stated end in the past means the device is out, whatever the status says.
    ended = removed is not None and now is not None and removed.at <= now.at
    in_place = code not in REMOVED_STATUSES and code not in PLANNED_STATUSES and not ended
    if device is not None and status_code(device) == "inactive" and code != "active":
        in_place = False
    status, tone = _state(code, in_place=in_place, planned=code in PLANNED_STATUSES)
    people, places = people_and_places(
        [statement.get("source"), *as_list(statement.get("informationSource"))]
    )
    device_people, device_places = people_and_places(
        [(device or {}).get("owner"), (device or {}).get("location")]
    )
    return DeviceRow(
        id=key_of(statement),
        ids=tuple(key for key in (key_of(statement), key_of(device or {})) if key),
        name=_device_name(device) or reference_text(statement.get("device")) or _unnamed(),
        site=concepts_text(statement.get("bodySite")),
        status=status,
        tone=tone,
        in_place=in_place,
        inserted=inserted,
        removed=removed if not in_place else None,
        days=_days(inserted, removed if not in_place else now),
        reason=join(
            concepts_text(statement.get("reasonCode")),
            named_references(statement.get("reasonReference"), {}),
        ),
        recorded_by=people,
        department=join(places, device_places, device_people),
        note=join(
            notes_text(statement.get("note")), notes_text((device or {}).get("note")), sep="\n\n"
        ),
    )


def _device_row(device: Mapping[str, Any]) -> DeviceRow:
    """A Device without a use statement: no dates, only whether it is active."""
    code = status_code(device)
    in_place = code == "active"
    status, tone = _state(code, in_place=in_place, planned=False)
    _people, places = people_and_places([device.get("owner"), device.get("location")])
    return DeviceRow(
        id=key_of(device),
        ids=tuple(key for key in (key_of(device),) if key),
        name=_device_name(device) or _unnamed(),
        site="",
        status=status,
        tone=tone,
        in_place=in_place,
        inserted=None,
        removed=None,
        days=None,
        reason="",
        recorded_by="",
        department=places,
        note=notes_text(device.get("note")),
    )


def _state(code: str, *, in_place: bool, planned: bool) -> tuple[str, str]:
    """(label, tone): a nurse asks "is it in?", not for the FHIR status."""
    if planned:
        return str(_("planned")), "pending"
    if in_place:
        return str(_("in place")), "active"
    if code == "not-done":
        return str(_("not placed")), "cancelled"
    return str(_("removed")), "done"


def _device_name(device: Mapping[str, Any] | None) -> str:
    if not device:
        return ""
    name = concept_text(device.get("type"))
    if name:
        return name
    for entry in as_list(device.get("deviceName")):
        text = text_of(get(entry, "name"))
        if text:
            return text
    return text_of(device.get("modelNumber"))


def _unnamed() -> str:
    return str(_("Device without a name"))


def _days(start: When | None, end: When | None) -> int | None:
    """Days in place; unknown when only a year or month of insertion is known."""
    if start is None or end is None or start.partial or end.partial:
        return None
    return days_between(start, end)


def _wanted(row: DeviceRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.name],
        department=[row.department, row.recorded_by],
        text=[row.site, row.reason, row.note, row.status],
    )


def _in_window(row: DeviceRow, filters: Filters) -> bool:
    """Dates filter removed devices by insertion date; undated ones always show."""
    moment = row.inserted
    if moment is None:
        return True
    if filters.since is not None and moment.at < filters.since:
        return False
    return not (filters.until is not None and moment.at >= filters.until)
