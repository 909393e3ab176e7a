"""Build presenter inputs from plain FHIR dicts, and render section templates (test helpers)."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterable, Mapping
from functools import cache
from types import ModuleType
from typing import Any

from django.template.loader import render_to_string

from indblik.chart.presenters import Filters, PageInput
from indblik.records import fhir, synth
from indblik.records.sections import Section, classify
from indblik.records.source import PatientRecord, SectionResult

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
PATIENT_REF = {"reference": "Patient/p1"}
MY_SECTIONS = (
    Section.PROCEDURES,
    Section.DEVICES,
    Section.CORRESPONDENCE,
    Section.EPISODES,
    Section.REFERRALS,
    Section.RESULTS_REVIEW,
    Section.ASSESSMENTS,
    Section.DIAGNOSES,
    Section.HISTORY,
    Section.CARE_PLANS,
)


def module(section: Section) -> ModuleType:
    return importlib.import_module(f"indblik.chart.presenters.{section.value.replace('-', '_')}")


def patient(resource: Mapping[str, Any] | None = None) -> PatientRecord:
    return PatientRecord(
        key="1",
        cpr="0101011234",
        name="Test Testesen",
        birth_date=dt.date(1940, 1, 1),
        gender="female",
        municipality_code="0101",
        deceased=False,
        resource=resource or {"resourceType": "Patient", "id": "p1"},
    )


def _newest_first(resources: Iterable[Any]) -> tuple[Any, ...]:
    def order(resource: Any) -> tuple[int, float]:
        if not isinstance(resource, dict):
            return (1, 0.0)
        moment = fhir.clinical_date(resource)
        return (1, 0.0) if moment is None else (0, -moment.timestamp())

    return tuple(sorted(resources, key=order))


def page_for(
    section: Section,
    resources: Iterable[Any],
    *,
    filters: Filters | None = None,
    extra: Mapping[Section, Iterable[Any]] | None = None,
    has_more: bool = False,
    now: dt.datetime = NOW,
) -> PageInput:
    """A page whose own section holds ``resources`` (as given: any shape), newest first."""
    results = {section: SectionResult(section, _newest_first(resources), has_more=has_more)}
    for other, items in (extra or {}).items():
        results[other] = SectionResult(other, _newest_first(items))
    return PageInput(
        section=section,
        patient=patient(),
        results=results,
        filters=filters or Filters(),
        now=now,
    )


def present(section: Section, resources: Iterable[Any], **kwargs: Any) -> dict[str, Any]:
    return module(section).present(page_for(section, resources, **kwargs))


def render(section: Section, context: Mapping[str, Any], *, print_view: bool = False) -> str:
    """Render the section template as the chart layout would include it."""
    full = {
        **context,
        "section": section,
        "section_title": str(section),
        "handle": "h" * 32,
        "grant": None,
        "patient": patient(),
        "filters": Filters(),
        "print_view": print_view,
        "now": NOW,
    }
    return render_to_string(f"chart/sections/{section.value}.html", full)


@cache
def generated() -> tuple[tuple[dict[str, Any], ...], ...]:
    """The resources of 5 generated citizens (seed 7), one tuple per citizen."""
    patients: dict[str, list[dict[str, Any]]] = {}
    shared: list[dict[str, Any]] = []
    for resource in synth.generate(5, seed=7, now=NOW):
        if resource.get("resourceType") == "Patient":
            patients[f"Patient/{resource['id']}"] = [resource]
            continue
        reference = fhir.patient_reference(resource)
        if reference in patients:
            patients[reference].append(resource)
        else:
            shared.append(resource)
    return tuple(tuple(items) for items in patients.values())


def generated_page(
    section: Section, resources: Iterable[dict[str, Any]], *, limit_by_queries: bool = True
) -> PageInput:
    """The page the chart would build for one generated citizen (sections by ``classify``)."""
    by_section: dict[Section, list[dict[str, Any]]] = {}
    for resource in resources:
        by_section.setdefault(classify(resource), []).append(resource)
    results: dict[Section, SectionResult] = {}
    for query in module(section).queries(Filters()):
        items = _newest_first(by_section.get(query.section, ()))
        kept = items[: query.limit] if limit_by_queries else items
        results[query.section] = SectionResult(query.section, kept, has_more=len(items) > len(kept))
    return PageInput(section=section, patient=patient(), results=results, now=NOW)
