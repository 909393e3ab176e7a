"""The local store's reads: several sections in one statement give what one-by-one gives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from indblik.records import synth
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient, Resource
from indblik.records.sections import PAGES, Section
from indblik.records.source import LocalStore, SectionQuery, patient_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient() -> Any:
    result = ingest_resources(synth.generate(3, seed=7), source="test", validate=False)
    assert result.ok
    rows = Patient.objects.all()
    richest = max(rows, key=lambda row: Resource.objects.filter(patient=row).count())
    return patient_record(richest)


def queries() -> list[SectionQuery]:
    middle = dt.datetime.now(dt.UTC) - dt.timedelta(days=120)
    found = [SectionQuery(section, limit=7) for section in (*PAGES, Section.ALERTS)]
    found += [
        SectionQuery(Section.LAB, limit=5, before=middle),
        SectionQuery(Section.NOTES, limit=3, since=middle - dt.timedelta(days=200), until=middle),
        SectionQuery(Section.APPOINTMENTS, limit=2, upcoming=True),
        SectionQuery(Section.CONSENTS, limit=10, include_restricted=True),
    ]
    return found


def test_sections_in_one_statement_equal_one_by_one(patient: Any) -> None:
    store = LocalStore()
    for query in queries():
        other = Section.ALLERGIES if query.section == Section.ALERTS else Section.ALERTS
        together = store.sections(patient, [query, SectionQuery(other, limit=1)])
        alone = store.section(patient, query)
        assert together[query.section].resources == alone.resources, query
        assert together[query.section].has_more == alone.has_more, query


def test_a_whole_page_of_sections_is_one_query(patient: Any) -> None:
    store = LocalStore()
    wanted = [
        SectionQuery(section, limit=5) for section in PAGES if section != Section.DEMOGRAPHICS
    ]
    with CaptureQueriesContext(connection) as captured:
        results = store.sections(patient, wanted)
    assert len(captured.captured_queries) == 1
    assert list(results) == [query.section for query in wanted]
    assert sum(len(result.resources) for result in results.values()) > 20


def test_restricted_resources_never_come_back(patient: Any, settings: Any) -> None:
    store = LocalStore()
    Resource.objects.filter(patient_id=int(patient.key), section=Section.LAB).update(
        restricted=True
    )
    wanted = [SectionQuery(Section.LAB, limit=50), SectionQuery(Section.NOTES, limit=50)]
    assert store.sections(patient, wanted)[Section.LAB].resources == ()
    assert store.section(patient, wanted[0]).resources == ()
    notes = store.sections(patient, wanted)[Section.NOTES].resources
    assert notes
    code = Resource.objects.filter(patient_id=int(patient.key), section=Section.NOTES)[0].code
    settings.INDBLIK_RESTRICTED_TYPES = [code]
    hidden = store.sections(patient, wanted)[Section.NOTES].resources
    assert len(hidden) < len(notes)
    assert hidden == store.section(patient, wanted[1]).resources
