"""Presenters: turn one section's FHIR resources into what its page template shows.

Each section has a module here with two functions:

- ``queries(filters: Filters) -> list[SectionQuery]`` — what to read from the record source
  (bounded: each query has a limit, so a page costs the same for a small or a huge record);
- ``present(page: PageInput) -> dict[str, Any]`` — the template context for
  ``chart/sections/<section>.html`` (plain dataclasses and strings; the template does no
  FHIR digging).

Presenters are pure: they never touch the database, the request or the audit log, so the
same presenter serves the local store and a live FHIR source. Everything they read is
untrusted, partially filled FHIR; they never raise on odd input (a missing field is shown as
missing). Resources ``entered-in-error`` are dropped; restricted ones never reach them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from indblik.records.sections import Section
from indblik.records.source import PatientRecord, SectionResult


@dataclass(frozen=True)
class Filters:
    """What the user asked for in the section's filter form (all optional)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: dt.datetime | None = None  # keyset paging cursor: rows dated strictly before
    department: str = ""  # free text matched against department/organisation names
    kind: str = ""  # free text matched against the type/category/code display
    text: str = ""  # free text search in the section


@dataclass(frozen=True)
class PageInput:
    """Everything a presenter may use."""

    section: Section
    patient: PatientRecord
    results: Mapping[Section, SectionResult]
    filters: Filters = field(default_factory=Filters)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
