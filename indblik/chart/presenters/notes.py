"""Clinical notes: long text, readable, with author, department and date; newest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from indblik.chart.presenters import Filters, PageInput, common
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
LIMIT = 20
OPEN = 3  # the newest notes are shown unfolded

STATUS_NOTICE = frozenset({"preliminary", "amended", "superseded", "appended", "corrected"})


@dataclass(frozen=True)
class Note:
    """One note (DocumentReference or Composition) as the page shows it."""

    resource_id: str
    resource_type: str
    title: str
    kind: str
    date: str
    author: str
    department: str
    status: str
    status_code: str
    tone: str
    text: str
    links: list[common.DocumentLink]
    recipient: str
    open: bool

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


def queries(filters: Filters) -> list[SectionQuery]:
    return [section_query(Section.NOTES, filters, LIMIT)]


def section_query(section: Section, filters: Filters, limit: int) -> SectionQuery:
    """One page of a text section with the filter's dates and the paging cursor."""
    return SectionQuery(
        section, limit=limit, before=filters.before, since=filters.since, until=filters.until
    )


def present(page: PageInput) -> dict[str, Any]:
    return present_section(page, Section.NOTES)


def present_section(page: PageInput, section: Section) -> dict[str, Any]:
    """The context of a page of notes or discharge summaries."""
    result = page.results.get(section)
    rows, cursor = common.keyset_page(
        list(result.resources) if result else [], bool(result and result.has_more)
    )
    notes: list[Note] = []
    for resource in common.visible(rows):
        note = note_of(resource, open_=len(notes) < OPEN and page.filters.before is None)
        if (
            common.matches(page.filters.department, note.department)
            and common.matches(page.filters.kind, note.kind, note.title)
            and common.matches(page.filters.text, note.title, note.text, note.author)
        ):
            notes.append(note)
    return {
        "notes": notes,
        "next_before": cursor,
        "empty": not notes,
        "resource_ids": [note.reference for note in notes],
    }


def note_of(resource: Mapping[str, Any], *, open_: bool = False) -> Note:
    """A DocumentReference or Composition as a readable note."""
    kind = common.concept_text(resource.get("type"))
    title = _first_text(
        resource.get("title"),
        resource.get("description"),
        *(attachment.get("title") for attachment in common.attachments(resource)),
        kind,
    )
    status_code = common.document_status(resource)
    text = common.long_text(resource)
    links = [link for link in common.document_links(resource) if link.content_type != "text/plain"]
    context = resource.get("context") if isinstance(resource.get("context"), Mapping) else {}
    related = context.get("related") if isinstance(context, Mapping) else None
    period = context.get("period") if isinstance(context, Mapping) else None
    when = (period.get("start") if isinstance(period, Mapping) else None) or resource.get("date")
    return Note(
        resource_id=str(resource.get("id", "")),
        resource_type=str(resource.get("resourceType", "")),
        title=title or _("Untitled note"),
        kind=kind,
        date=common.date_text(when),
        author=common.person_text(resource),
        department=common.organisation_text(resource),
        status=common.status_label(status_code) if status_code in STATUS_NOTICE else "",
        status_code=status_code,
        tone=common.status_tone(status_code),
        text=text,
        links=links,
        recipient=common.reference_text(related),
        open=open_,
    )


def _first_text(*values: Any) -> str:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
