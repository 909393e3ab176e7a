"""Discharge summaries (epikriser) sent to the GP: the same readable text as the notes."""

from __future__ import annotations

from typing import Any

from indblik.chart.presenters import Filters, PageInput, notes
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "department", "text")
LIMIT = 10


def queries(filters: Filters) -> list[SectionQuery]:
    return [notes.section_query(Section.DISCHARGE_SUMMARIES, filters, LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    return notes.present_section(page, Section.DISCHARGE_SUMMARIES)
