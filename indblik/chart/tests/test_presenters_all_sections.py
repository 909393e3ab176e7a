"""Every presenter of this batch over whole generated records: no exception, sensible output."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import (
    MY_SECTIONS,
    generated,
    generated_page,
    module,
    page_for,
    render,
)
from indblik.records.sections import Section


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def _walk(value: Any) -> None:
    """Fail if anything FHIR-shaped (a dict with resourceType) leaks into the context."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            _walk(getattr(value, item.name))
    elif isinstance(value, dict):
        assert "resourceType" not in value, value
        for item in value.values():
            _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item)


@pytest.mark.parametrize("section", MY_SECTIONS, ids=lambda section: section.value)
def test_each_presenter_reads_every_generated_citizen(section: Section) -> None:
    shown_somewhere = False
    for resources in generated():
        page = generated_page(section, resources)
        context = module(section).present(page)
        _walk(context)
        ids = context["resource_ids"]
        assert all(isinstance(key, str) and "/" in key for key in ids)
        assert len(ids) == len(set(ids)), "a resource is audited twice"
        own = {
            f"{item['resourceType']}/{item['id']}"
            for result in page.results.values()
            for item in result.resources
        }
        assert set(ids) <= own, "only resources the page read may be named"
        assert context["empty"] == (not ids)
        html = render(section, context)
        assert "{{" not in html and "resourceType" not in html
        assert "<script" not in html
        shown_somewhere = shown_somewhere or bool(ids)
    assert shown_somewhere, f"no generated citizen has anything in {section}"


@pytest.mark.parametrize("section", MY_SECTIONS, ids=lambda section: section.value)
def test_each_presenter_says_so_when_the_section_is_empty(section: Section) -> None:
    context = module(section).present(page_for(section, []))
    assert context["empty"] is True
    assert context["resource_ids"] == []
    html = render(section, context)
    assert 'class="empty"' in html


@pytest.mark.parametrize("section", MY_SECTIONS, ids=lambda section: section.value)
def test_each_presenter_survives_garbage(section: Section) -> None:
    garbage: list[Any] = [
        None,
        "Procedure",
        42,
        [],
        {},
        {"resourceType": 7},
        {"resourceType": "Procedure", "id": ["x"], "status": {"a": 1}, "code": "appendix"},
        {"resourceType": "ServiceRequest", "id": "s", "requester": "dr", "performer": 3},
        {"resourceType": "Device", "id": "d", "type": [1, 2], "deviceName": "x"},
        {"resourceType": "DeviceUseStatement", "id": "u", "timingPeriod": "2020", "device": 1},
        {"resourceType": "Communication", "id": "c", "payload": {"contentString": 1}},
        {"resourceType": "DocumentReference", "id": "dr", "content": [{"attachment": "x"}]},
        {"resourceType": "EpisodeOfCare", "id": "e", "period": [], "diagnosis": "x"},
        {"resourceType": "DiagnosticReport", "id": "r", "presentedForm": {"data": 5}},
        {"resourceType": "ImagingStudy", "id": "i", "numberOfInstances": "many"},
        {"resourceType": "QuestionnaireResponse", "id": "q", "item": [{"answer": "x"}, 3]},
        {"resourceType": "Observation", "id": "o", "category": "vital-signs", "component": 4},
        {"resourceType": "Condition", "id": "k", "clinicalStatus": "active", "onsetAge": "5"},
        {"resourceType": "FamilyMemberHistory", "id": "f", "condition": [None, {"code": 1}]},
        {"resourceType": "CarePlan", "id": "cp", "activity": [None, {"detail": "x"}], "goal": 1},
        {"resourceType": "Goal", "id": "g", "target": {"dueDate": 3}, "lifecycleStatus": 1},
        {"resourceType": "Observation", "id": "o3", "category": 5, "interpretation": 5},
        {"resourceType": "Condition", "id": "k2", "verificationStatus": 3, "category": [7]},
        {"resourceType": "DiagnosticReport", "id": "r2", "category": {"coding": [{"code": 1}]}},
        {
            "resourceType": "Observation",
            "id": "o2",
            "effectiveDateTime": "not a date",
            "valueQuantity": {"value": True},
        },
    ]
    filters = Filters(text="x", kind="y", department="z")
    for chosen in (Filters(), filters):
        context = module(section).present(page_for(section, garbage, filters=chosen))
        json.dumps(context["resource_ids"])
        render(section, context)
        render(section, context, print_view=True)
