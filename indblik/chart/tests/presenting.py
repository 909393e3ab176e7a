"""Build a PageInput from hand-written FHIR for presenter tests (no database)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from indblik.chart.presenters import Filters, PageInput
from indblik.records.sections import Section
from indblik.records.source import PatientRecord, SectionResult

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
PATIENT = PatientRecord(
    key="1",
    cpr="0101501234",
    name="Test Testsen",
    birth_date=dt.date(1950, 1, 1),
    gender="female",
    municipality_code="0101",
    deceased=False,
    resource={"resourceType": "Patient", "id": "p1"},
)


def page(
    section: Section,
    results: Mapping[Section, Sequence[Any]],
    *,
    has_more: bool = False,
    filters: Filters | None = None,
) -> PageInput:
    return PageInput(
        section=section,
        patient=PATIENT,
        results={
            key: SectionResult(key, tuple(value), has_more=has_more)
            for key, value in results.items()
        },
        filters=filters or Filters(),
        now=NOW,
    )
