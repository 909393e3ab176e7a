"""Readers shared by the list sections (procedures, devices, referrals, diagnoses, plans…).

Like :mod:`common`, everything here accepts any JSON shape and never raises. Rows the
presenters build carry a :class:`When` for each date, so templates write
``<time datetime="{{ row.date.iso }}">{{ row.date.text }}</time>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import (
    COPENHAGEN,
    coding_text,
    concept_text,
    date_text,
    keyset_page,
    local,
    number_text,
    precision,
    quantity_text,
    reference_text,
    status_label,
    status_tone,
    visible,
)
from indblik.records import fhir
from indblik.records.sections import Section
from indblik.records.source import SectionQuery


@dataclass(frozen=True)
class When:
    """A FHIR date ready for a ``<time>`` element."""

    text: str  # Danish display: 24.01.2026 09:05, 24.01.2026, 05.2019, 2019
    iso: str  # valid HTML datetime: 2026-01-24T09:05+01:00, 2026-01-24, 2019-05, 2019
    at: dt.datetime  # aware; a partial date stands for its first moment (for sorting)
    partial: bool  # only a year or a month is known

    @property
    def day(self) -> dt.date:
        return self.at.astimezone(COPENHAGEN).date()


def when(value: Any) -> When | None:
    """Read a FHIR date/dateTime/instant; None when missing or unreadable."""
    at = local(value)
    if at is None:
        return None
    kind = precision(value)
    iso = value if kind in ("year", "month", "day") else at.isoformat(timespec="minutes")
    return When(text=date_text(value), iso=str(iso), at=at, partial=kind in ("year", "month"))


def first_when(*values: Any) -> When | None:
    """The first readable date among ``values``."""
    for value in values:
        found = when(value)
        if found is not None:
            return found
    return None


def codings(concepts: Any) -> set[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept or a list of them (nothing for odd shapes)."""
    pairs: set[tuple[str, str]] = set()
    for concept in as_list(concepts):
        found = get(concept, "coding")
        for coding in found if isinstance(found, list) else ():
            code = get(coding, "code")
            if isinstance(code, str | int) and not isinstance(code, bool) and str(code):
                system = get(coding, "system")
                pairs.add((system if isinstance(system, str) else "", str(code)))
    return pairs


def first_code(concept: Any) -> str:
    """``system|code`` of the first coding of a concept (or list of them), or ''."""
    for item in as_list(concept)[:1]:
        found = get(item, "coding")
        for coding in found if isinstance(found, list) else ():
            code = get(coding, "code")
            if isinstance(code, str) and code:
                system = get(coding, "system")
                return f"{system if isinstance(system, str) else ''}|{code}"
    return ""


def get(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]…`` through dicts only; None when anything is missing."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text_of(value: Any) -> str:
    """A plain string field, stripped ('' for anything that is not a string)."""
    return value.strip() if isinstance(value, str) else ""


def as_list(value: Any) -> list[Any]:
    """A repeating element as a list (a single value becomes a list of one)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def notes_text(notes: Any) -> str:
    """The ``text`` of Annotations, one paragraph each."""
    texts = [text_of(get(note, "text")) for note in as_list(notes)]
    return "\n\n".join(text for text in texts if text)


def concepts_text(concepts: Any) -> str:
    """Texts of one or more CodeableConcepts, comma-separated, without repeats."""
    texts: list[str] = []
    for concept in as_list(concepts):
        text = concept_text(concept)
        if text and text not in texts:
            texts.append(text)
    return ", ".join(texts)


def references_text(references: Any) -> str:
    """Displays of one or more References, comma-separated, without repeats."""
    texts: list[str] = []
    for reference in as_list(references):
        text = reference_text(reference)
        if text and text not in texts:
            texts.append(text)
    return ", ".join(texts)


def join(*parts: str, sep: str = ", ") -> str:
    """Join the non-empty parts, without repeats."""
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return sep.join(seen)


DASH = " \N{EN DASH} "
PLACE_TYPES = ("Organization", "HealthcareService", "Location", "CareTeam")


def reference_type(reference: Any) -> str:
    """The resource type a Reference points at (``type``, else from the literal), or ''."""
    if not isinstance(reference, Mapping):
        return ""
    declared = reference.get("type")
    if isinstance(declared, str) and declared:
        return declared.rsplit("/", 1)[-1]
    literal = reference.get("reference")
    if isinstance(literal, str) and "/" in literal and not literal.startswith("urn:"):
        parts = literal.rstrip("/").split("/")
        # Type/id or …/Type/id/_history/n
        if len(parts) >= 4 and parts[-2] == "_history":
            return parts[-4]
        return parts[-2]
    return ""


def people_and_places(references: Any) -> tuple[str, str]:
    """Split references into (people, departments) display texts, each comma-separated."""
    people: list[str] = []
    places: list[str] = []
    for reference in as_list(references):
        if isinstance(reference, Mapping) and isinstance(reference.get("actor"), Mapping):
            reference = reference["actor"]  # a performer component
        text = reference_text(reference)
        if not text:
            continue
        target = places if reference_type(reference) in PLACE_TYPES else people
        if text not in target:
            target.append(text)
    return ", ".join(people), ", ".join(places)


def key_of(resource: Mapping[str, Any]) -> str:
    """``Type/id`` of a resource (what the audit event names), or '' without an id."""
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rtype, str) and isinstance(rid, str | int) and str(rid):
        return f"{rtype}/{rid}"
    return ""


def target_key(reference: Any) -> str:
    """``Type/id`` a Reference points at (absolute URLs and ``_history`` reduced), or ''."""
    if not isinstance(reference, Mapping):
        return ""
    literal = reference.get("reference")
    if not isinstance(literal, str) or not literal.strip():
        return ""
    parts = literal.strip().rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) < 2:
        return literal.strip()  # '#contained' or urn:uuid:…
    return f"{parts[-2]}/{parts[-1]}"


def value_text(element: Any) -> str:
    """The ``value[x]`` of an element (Observation, component, answer…) as display text."""
    if not isinstance(element, Mapping):
        return ""
    for key, value in element.items():
        if not isinstance(key, str) or not key.startswith("value") or value is None:
            continue
        kind = key[5:]
        if kind in ("Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity"):
            return quantity_text(value)
        if kind == "CodeableConcept":
            return concept_text(value)
        if kind == "Coding":
            return coding_text(value)
        if kind == "Boolean":
            if isinstance(value, bool):
                return str(_("yes") if value else _("no"))
            continue
        if kind in ("DateTime", "Date", "Instant"):
            return date_text(value)
        if kind == "Period" and isinstance(value, Mapping):
            return join(date_text(value.get("start")), date_text(value.get("end")), sep=DASH)
        if kind == "Range" and isinstance(value, Mapping):
            low, high = quantity_text(value.get("low")), quantity_text(value.get("high"))
            return join(low, high, sep=DASH)
        if kind == "Ratio" and isinstance(value, Mapping):
            top = quantity_text(value.get("numerator"))
            bottom = quantity_text(value.get("denominator"))
            return f"{top} / {bottom}" if top and bottom else top or bottom
        if kind == "Reference":
            return reference_text(value)
        if kind == "Attachment" and isinstance(value, Mapping):
            return text_of(value.get("title")) or str(_("attachment"))
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            return number_text(value)
        if isinstance(value, str):
            return value.strip()
    return ""


def status_of(code: str, labels: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(label, tone) of a status code; ``labels`` overrides the shared labels."""
    if not code:
        return "", ""
    label = (labels or {}).get(code)
    return (str(label) if label is not None else status_label(code)), status_tone(code)


def clinical_date(resource: Mapping[str, Any]) -> dt.datetime | None:
    """The date the record source orders this resource by (newest first)."""
    try:
        return fhir.clinical_date(dict(resource))
    except (TypeError, ValueError, AttributeError):
        return None


def newest_first(rows: Iterable[Any], key: Any = None) -> list[Any]:
    """Sort rows by ``row.date`` (a :class:`When` or None), newest first, undated last."""
    pick = key or (lambda row: row.date)

    def order(row: Any) -> tuple[int, float]:
        found = pick(row)
        if isinstance(found, When):
            found = found.at
        return (1, 0.0) if found is None else (0, -found.timestamp())

    return sorted(rows, key=order)


def matches(
    filters: Filters,
    *,
    kind: Iterable[str] = (),
    department: Iterable[str] = (),
    text: Iterable[str] = (),
) -> bool:
    """Does a row pass the form's free-text filters? (``text`` searches everything given.)"""
    kinds, departments, texts = list(kind), list(department), list(text)

    def found(needle: Any, haystack: list[str]) -> bool:
        wanted = needle.strip().casefold() if isinstance(needle, str) else ""
        return not wanted or any(wanted in value.casefold() for value in haystack if value)

    return (
        found(filters.kind, kinds)
        and found(filters.department, departments)
        and found(filters.text, kinds + departments + texts)
    )


def section_query(section: Section, filters: Filters, limit: int) -> SectionQuery:
    """One page of a section: newest first, the form's date window and paging cursor."""
    return SectionQuery(
        section=section,
        limit=limit,
        before=filters.before,
        since=filters.since,
        until=filters.until,
    )


@dataclass(frozen=True)
class Page:
    """The visible resources of the page's own section, cut for keyset paging."""

    resources: list[Mapping[str, Any]]
    next_before: dt.datetime | None
    has_more: bool


def page_of(page: PageInput, section: Section | None = None) -> Page:
    """Read the section's result: drop what must not show, cut the page at a clean date."""
    result = page.results.get(section or page.section)
    if result is None:
        return Page([], None, False)
    raw = [item for item in as_list(result.resources) if isinstance(item, Mapping)]
    try:
        kept, cursor = keyset_page(raw, bool(result.has_more))
    except (TypeError, ValueError):
        kept, cursor = raw, None
    return Page(visible(kept), cursor, bool(result.has_more))


def resources_of(page: PageInput, section: Section) -> list[Mapping[str, Any]]:
    """Visible resources of another section the presenter asked for (e.g. diagnosis names)."""
    result = page.results.get(section)
    if result is None:
        return []
    return visible(item for item in as_list(result.resources) if isinstance(item, Mapping))


def condition_names(page: PageInput) -> dict[str, str]:
    """``Condition/id`` → name, from the diagnoses the presenter asked for (to name references)."""
    names: dict[str, str] = {}
    for resource in resources_of(page, Section.DIAGNOSES):
        if resource.get("resourceType") == "Condition":
            name = concept_text(resource.get("code"))
            if name and key_of(resource):
                names[key_of(resource)] = name
    return names


def named_references(references: Any, names: Mapping[str, str]) -> str:
    """Displays of references, looking up those without one in ``names`` (by ``Type/id``)."""
    texts: list[str] = []
    for reference in as_list(references):
        if isinstance(reference, Mapping) and isinstance(reference.get("condition"), Mapping):
            reference = reference["condition"]  # EpisodeOfCare.diagnosis
        text = reference_text(reference) or names.get(target_key(reference), "")
        if text and text not in texts:
            texts.append(text)
    return ", ".join(texts)


def named_keys(references: Any, names: Mapping[str, str]) -> list[str]:
    """``Type/id`` of the references :func:`named_references` named from ``names``."""
    keys = []
    for reference in as_list(references):
        if isinstance(reference, Mapping) and isinstance(reference.get("condition"), Mapping):
            reference = reference["condition"]
        key = target_key(reference)
        if not reference_text(reference) and key in names and key not in keys:
            keys.append(key)
    return keys


def days_between(start: When, end: When) -> int:
    """Whole calendar days from one date to another in Danish time (never negative)."""
    return max(0, (end.day - start.day).days)
