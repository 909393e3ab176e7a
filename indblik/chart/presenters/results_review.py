"""Results review: imaging and pathology reports with their text.

What the nurse reads is the conclusion, so each report shows its full text: the conclusion,
coded conclusions, inline text of the presented form, else the narrative (as plain text, never
as HTML). A study without a report yet says so; an order without a study is "ordered".
Preliminary reports are marked as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import (
    DocumentLink,
    attachment_text,
    coding_text,
    concept_text,
    document_links,
    media_type,
    narrative_text,
    status_code,
)
from indblik.chart.presenters.rows import (
    When,
    as_list,
    codings,
    concepts_text,
    first_when,
    get,
    join,
    key_of,
    matches,
    newest_first,
    notes_text,
    page_of,
    people_and_places,
    references_text,
    section_query,
    status_of,
    target_key,
    text_of,
    value_text,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "kind", "text")
LIMIT = 30

KINDS = {
    "RAD": _("Imaging"),
    "CT": _("Imaging"),
    "MR": _("Imaging"),
    "US": _("Imaging"),
    "NMR": _("Imaging"),
    "NMS": _("Imaging"),
    "RX": _("Imaging"),
    "VUS": _("Imaging"),
    "imaging": _("Imaging"),
    "PAT": _("Pathology"),
    "SP": _("Pathology"),
    "CP": _("Pathology"),
    "CYTO": _("Pathology"),
    "pathology": _("Pathology"),
}
LABELS = {
    "registered": _("registered, no answer yet"),
    "partial": _("preliminary"),
    "preliminary": _("preliminary"),
    "final": _("final"),
    "available": _("awaiting report"),
}


@dataclass(frozen=True)
class ReportRow:
    """One examination and what was found."""

    id: str
    ids: tuple[str, ...]
    name: str
    kind: str  # Imaging, Pathology…
    status: str
    tone: str
    date: When | None  # when the examination was done
    issued: When | None  # when the answer was given
    department: str
    interpreter: str
    requester: str
    conclusion: str  # the report text, plain
    reason: str  # why it was asked for (orders)
    images: str  # "CT, 249 billeder"
    attachments: tuple[DocumentLink, ...]


def queries(filters: Filters) -> list[SectionQuery]:
    return [section_query(Section.RESULTS_REVIEW, filters, LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for resource in current.resources:
        by_type.setdefault(str(resource.get("resourceType", "")), []).append(resource)
    studies = {key_of(item): item for item in by_type.get("ImagingStudy", ()) if key_of(item)}
    orders = {key_of(item): item for item in by_type.get("ServiceRequest", ()) if key_of(item)}
    used: set[str] = set()
    rows: list[ReportRow] = []
    for report in by_type.get("DiagnosticReport", ()):
        linked = [
            studies[target_key(ref)]
            for ref in as_list(report.get("imagingStudy"))
            if target_key(ref) in studies
        ]
        order = next(
            (
                orders[target_key(ref)]
                for ref in as_list(report.get("basedOn"))
                if target_key(ref) in orders
            ),
            None,
        )
        used.update(key_of(item) for item in [*linked, *([order] if order else [])])
        rows.append(_report_row(report, linked, order))
    for study in by_type.get("ImagingStudy", ()):
        if key_of(study) not in used:
            used.update(target_key(ref) for ref in as_list(study.get("basedOn")))
            rows.append(_study_row(study))
    for observation in by_type.get("Observation", ()):
        rows.append(_observation_row(observation))
    for key, order in orders.items():
        if key not in used:
            rows.append(_order_row(order))
    rows = newest_first(row for row in rows if _wanted(row, page.filters))
    return {
        "reports": rows,
        "resource_ids": [key for row in rows for key in row.ids if key],
        "next_before": current.next_before,
        "empty": not rows,
    }


def _kind(resource: Mapping[str, Any]) -> str:
    for _system, code in sorted(codings(resource.get("category"))):
        if code in KINDS:
            return str(KINDS[code])
    return concepts_text(resource.get("category"))


def report_text(report: Mapping[str, Any]) -> str:
    """The readable answer of a report: conclusion, coded conclusions, text forms, narrative."""
    parts = [text_of(report.get("conclusion"))]
    coded = concepts_text(report.get("conclusionCode"))
    if coded and coded not in parts[0]:
        parts.append(coded)
    for form in as_list(report.get("presentedForm")):
        kind = media_type(get(form, "contentType"))
        decoded = attachment_text(form)
        if not decoded:
            continue
        text = (
            narrative_text(decoded) if kind in ("text/html", "application/xhtml+xml") else decoded
        )
        text = text.replace("\r\n", "\n").strip()
        if text and text not in parts:
            parts.append(text)
    if not any(parts):
        parts.append(narrative_text(get(report, "text", "div")))
    return "\n\n".join(part for part in parts if part)


def _images(studies: list[Mapping[str, Any]]) -> str:
    texts = []
    for study in studies:
        modalities = ", ".join(
            dict.fromkeys(coding_text(item) for item in as_list(study.get("modality")) if item)
        )
        count = study.get("numberOfInstances")
        count_text = (
            str(_("%(count)s images") % {"count": count})
            if isinstance(count, int) and not isinstance(count, bool)
            else ""
        )
        texts.append(join(modalities, count_text))
    return "; ".join(text for text in texts if text)


def _report_row(
    report: Mapping[str, Any],
    studies: list[Mapping[str, Any]],
    order: Mapping[str, Any] | None,
) -> ReportRow:
    label, tone = status_of(status_code(report), LABELS)
    people, places = people_and_places(report.get("performer"))
    interpreters, interpreter_places = people_and_places(report.get("resultsInterpreter"))
    requesters, requester_places = people_and_places((order or {}).get("requester"))
    return ReportRow(
        id=key_of(report),
        ids=tuple(key_of(item) for item in [report, *studies, *([order] if order else [])]),
        name=concept_text(report.get("code"))
        or join(*(text_of(study.get("description")) for study in studies))
        or str(_("Examination")),
        kind=_kind(report),
        status=label,
        tone=tone,
        date=first_when(
            report.get("effectiveDateTime"),
            get(report, "effectivePeriod", "start"),
            *(study.get("started") for study in studies),
            report.get("issued"),
        ),
        issued=first_when(report.get("issued")),
        department=join(places, interpreter_places),
        interpreter=join(interpreters, people),
        requester=join(requesters, requester_places),
        conclusion=report_text(report),
        reason="",
        images=_images(studies),
        attachments=tuple(
            link for link in document_links(report) if not link.content_type.startswith("text/")
        ),
    )


def _study_row(study: Mapping[str, Any]) -> ReportRow:
    code = status_code(study)
    label, tone = status_of(code, LABELS)
    if code == "available":
        tone = "pending"  # images taken, the answer is what the nurse waits for
    _people, places = people_and_places(study.get("referrer"))
    return ReportRow(
        id=key_of(study),
        ids=(key_of(study),),
        name=text_of(study.get("description"))
        or concepts_text(study.get("procedureCode"))
        or str(_("Imaging study")),
        kind=str(_("Imaging")),
        status=label,
        tone=tone,
        date=first_when(study.get("started")),
        issued=None,
        department=join(places, references_text(study.get("location"))),
        interpreter=references_text(study.get("interpreter")),
        requester=references_text(study.get("referrer")),
        conclusion=join(notes_text(study.get("note")), narrative_text(get(study, "text", "div"))),
        reason=concepts_text(study.get("reasonCode")),
        images=_images([study]),
        attachments=(),
    )


def _observation_row(observation: Mapping[str, Any]) -> ReportRow:
    label, tone = status_of(status_code(observation), LABELS)
    people, places = people_and_places(observation.get("performer"))
    value = value_text(observation)
    components = [
        join(concept_text(get(item, "code")), value_text(item), sep=": ")
        for item in as_list(observation.get("component"))
    ]
    return ReportRow(
        id=key_of(observation),
        ids=(key_of(observation),),
        name=concept_text(observation.get("code")) or str(_("Examination")),
        kind=_kind(observation),
        status=label,
        tone=tone,
        date=first_when(
            observation.get("effectiveDateTime"),
            get(observation, "effectivePeriod", "start"),
            observation.get("issued"),
        ),
        issued=first_when(observation.get("issued")),
        department=places,
        interpreter=people,
        requester="",
        conclusion=join(
            value,
            "\n".join(text for text in components if text),
            notes_text(observation.get("note")),
            sep="\n\n",
        ),
        reason="",
        images="",
        attachments=(),
    )


def _order_row(order: Mapping[str, Any]) -> ReportRow:
    code = status_code(order)
    label, tone = status_of("requested" if code == "active" else code)
    people, places = people_and_places(order.get("requester"))
    _performers, performer_places = people_and_places(order.get("performer"))
    return ReportRow(
        id=key_of(order),
        ids=(key_of(order),),
        name=concept_text(order.get("code")) or str(_("Examination")),
        kind=_kind(order),
        status=label,
        tone=tone,
        date=first_when(
            order.get("occurrenceDateTime"),
            get(order, "occurrencePeriod", "start"),
            order.get("authoredOn"),
        ),
        issued=None,
        department=performer_places,
        interpreter="",
        requester=join(people, places),
        conclusion="",
        reason=join(
            concepts_text(order.get("reasonCode")),
            references_text(order.get("reasonReference")),
            notes_text(order.get("note")),
        ),
        images="",
        attachments=(),
    )


def _wanted(row: ReportRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.name, row.kind],
        department=[row.department, row.interpreter, row.requester],
        text=[row.conclusion, row.images, row.status],
    )
