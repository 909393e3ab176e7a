"""Outgoing correspondence: what the hospital sent, to whom, when, and what it said.

Letters arrive as Communications (MedCom-style messages with the text in the payload) or as
DocumentReferences/Compositions typed as letters (text in an attachment or the narrative).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import (
    DocumentLink,
    concept_text,
    document_links,
    long_text,
    status_code,
)
from indblik.chart.presenters.rows import (
    When,
    as_list,
    concepts_text,
    first_when,
    get,
    join,
    key_of,
    matches,
    newest_first,
    page_of,
    people_and_places,
    reference_type,
    section_query,
    status_of,
    text_of,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
LIMIT = 30

LABELS = {
    "completed": _("sent"),
    "in-progress": _("being sent"),
    "preparation": _("being prepared"),
    "not-done": _("not sent"),
    "current": _("sent"),
    "final": _("final"),
}


@dataclass(frozen=True)
class LetterRow:
    """One letter or message sent out of the hospital."""

    id: str
    title: str
    date: When | None
    sender: str  # the department
    author: str  # the person
    recipients: str
    status: str
    tone: str
    text: str
    attachments: tuple[DocumentLink, ...]
    related: int  # documents referred to by the message (shown elsewhere in the chart)


def queries(filters: Filters) -> list[SectionQuery]:
    return [section_query(Section.CORRESPONDENCE, filters, LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    rows = []
    for resource in current.resources:
        rtype = resource.get("resourceType")
        if rtype == "Communication":
            row = _message_row(resource)
        elif rtype in ("DocumentReference", "Composition"):
            row = _document_row(resource)
        else:
            continue
        if _wanted(row, page.filters):
            rows.append(row)
    rows = newest_first(rows)
    return {
        "letters": rows,
        "resource_ids": [row.id for row in rows if row.id],
        "next_before": current.next_before,
        "empty": not rows,
    }


def _message_row(resource: Mapping[str, Any]) -> LetterRow:
    texts = []
    related = 0
    for payload in as_list(resource.get("payload")):
        text = text_of(get(payload, "contentString"))
        if text:
            texts.append(text)
        if isinstance(get(payload, "contentReference"), Mapping):
            related += 1
    people, places = people_and_places(resource.get("sender"))
    label, tone = status_of(status_code(resource), LABELS)
    recipients = _recipients(resource.get("recipient"))
    title = concept_text(resource.get("topic")) or concepts_text(resource.get("category"))
    attached = long_text(resource)
    return LetterRow(
        id=key_of(resource),
        title=title or str(_("Message")),
        date=first_when(resource.get("sent"), resource.get("received")),
        sender=places,
        author=people,
        recipients=recipients,
        status=label,
        tone=tone,
        text=join("\n\n".join(texts), attached, sep="\n\n"),
        attachments=_links(resource, shown_text=bool(attached)),
        related=related,
    )


def _document_row(resource: Mapping[str, Any]) -> LetterRow:
    people, places = people_and_places(as_list(resource.get("author")))
    _custodian_people, custodian = people_and_places(resource.get("custodian"))
    code = status_code(resource) or text_of(resource.get("status"))
    label, tone = status_of(code, LABELS)
    title = (
        text_of(resource.get("description"))
        or text_of(resource.get("title"))
        or concept_text(resource.get("type"))
    )
    recipients = _recipients(
        [*as_list(get(resource, "context", "related")), *as_list(resource.get("attester"))]
    )
    text = long_text(resource)
    return LetterRow(
        id=key_of(resource),
        title=title or str(_("Letter")),
        date=first_when(get(resource, "context", "period", "start"), resource.get("date")),
        sender=join(places, custodian),
        author=people,
        recipients=recipients,
        status=label,
        tone=tone,
        text=text,
        attachments=_links(resource, shown_text=bool(text)),
        related=0,
    )


def _links(resource: Mapping[str, Any], *, shown_text: bool) -> tuple[DocumentLink, ...]:
    """Attachments to open; text already shown on the page is not offered again."""
    return tuple(
        link
        for link in document_links(resource)
        if not (shown_text and link.content_type.startswith("text/"))
    )


def _recipients(references: Any) -> str:
    """Recipients that are people or organisations (not an Appointment the letter is about)."""
    names = []
    for reference in as_list(references):
        if isinstance(reference, Mapping) and isinstance(reference.get("party"), Mapping):
            reference = reference["party"]  # Composition.attester
        if reference_type(reference) in ("Appointment", "Encounter", "EpisodeOfCare"):
            continue
        people, places = people_and_places(reference)
        for name in (people, places):
            if name and name not in names:
                names.append(name)
    return ", ".join(names)


def _wanted(row: LetterRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.title],
        department=[row.sender, row.author, row.recipients],
        text=[row.text],
    )
