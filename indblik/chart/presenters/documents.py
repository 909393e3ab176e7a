"""Uploaded documents and images (scans, photos): what they are, and links to open them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from indblik.chart.presenters import Filters, PageInput, common
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "kind")
LIMIT = 30


@dataclass(frozen=True)
class Document:
    """One uploaded document or image."""

    resource_id: str
    resource_type: str
    title: str
    kind: str
    date: str
    author: str
    department: str
    body_site: str
    note: str
    links: list[common.DocumentLink]
    status: str
    tone: str

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


def queries(filters: Filters) -> list[SectionQuery]:
    return [
        SectionQuery(
            Section.DOCUMENTS,
            limit=LIMIT,
            before=filters.before,
            since=filters.since,
            until=filters.until,
        )
    ]


def present(page: PageInput) -> dict[str, Any]:
    result = page.results.get(Section.DOCUMENTS)
    rows, cursor = common.keyset_page(
        list(result.resources) if result else [], bool(result and result.has_more)
    )
    items = [
        item
        for item in (document_of(resource) for resource in common.visible(rows))
        if common.matches(page.filters.kind, item.kind, item.title)
    ]
    return {
        "documents": items,
        "next_before": cursor,
        "empty": not items,
        "resource_ids": [item.reference for item in items],
    }


def document_of(resource: Mapping[str, Any]) -> Document:
    """A DocumentReference or Media as a row with links to its attachments."""
    attachments = common.attachments(resource)
    first_title = next(
        (
            str(item["title"]).strip()
            for item in attachments
            if isinstance(item.get("title"), str) and item["title"].strip()
        ),
        "",
    )
    kind = common.concept_text(resource.get("type")) or common.concept_text(
        resource.get("category")
    )
    description = resource.get("description")
    title = first_title or (description.strip() if isinstance(description, str) else "") or kind
    notes = " ".join(
        str(item.get("text")).strip()
        for item in resource.get("note") or ()
        if isinstance(item, Mapping) and isinstance(item.get("text"), str)
    )
    status_code = common.document_status(resource)
    shown_status = status_code in ("preliminary", "amended", "superseded")
    context = resource.get("context")
    period = context.get("period") if isinstance(context, Mapping) else None
    created = resource.get("createdPeriod")
    when = (
        resource.get("createdDateTime")
        or (created.get("start") if isinstance(created, Mapping) else None)
        or (period.get("start") if isinstance(period, Mapping) else None)
        or resource.get("date")
        or resource.get("issued")
    )
    return Document(
        resource_id=str(resource.get("id", "")),
        resource_type=str(resource.get("resourceType", "")),
        title=title or _("Untitled document"),
        kind=kind,
        date=common.date_text(when),
        author=common.person_text(resource),
        department=common.organisation_text(resource),
        body_site=common.concept_text(resource.get("bodySite")),
        note=notes,
        links=common.document_links(resource),
        status=common.status_label(status_code) if shown_status else "",
        tone=common.status_tone(status_code),
    )
