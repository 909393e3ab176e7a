"""Drains, catheters and lines: in place now with days in place, then removed ones."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from indblik.chart.presenters import Filters
from indblik.chart.tests.presenter_pages import PATIENT_REF, present, render
from indblik.records.sections import Section

S = Section.DEVICES


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def device(rid: str, status: str = "active", text: str = "KAD (kateter à demeure), Ch 14"):
    return {
        "resourceType": "Device",
        "id": rid,
        "status": status,
        "type": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "20568009",
                    "display": "Urinary catheter",
                }
            ],
            "text": text,
        },
        "patient": PATIENT_REF,
    }


def use(rid: str, device_id: str, status: str = "active", **extra):
    return {
        "resourceType": "DeviceUseStatement",
        "id": rid,
        "status": status,
        "subject": PATIENT_REF,
        "timingPeriod": {"start": "2026-02-22T08:20:00+01:00"},
        "device": {"reference": f"Device/{device_id}"},
        "bodySite": {
            "coding": [{"system": "http://snomed.info/sct", "code": "89837001"}],
            "text": "Urinblære",
        },
        "source": {"reference": "Organization/u", "display": "Urologisk Afdeling, Herlev"},
        **extra,
    }


def test_a_catheter_in_place_shows_site_inserted_date_and_days_in_place():
    # NOW is 01.03.2026 10:00 Danish time: inserted 22.02 is 7 calendar days ago.
    context = present(S, [device("d1"), use("u1", "d1")])
    (row,) = context["in_place"]
    assert row.name == "KAD (kateter à demeure), Ch 14"
    assert row.site == "Urinblære"
    assert row.inserted.text == "22.02.2026 08:20"
    assert row.days == 7
    assert (row.status, row.tone) == ("in place", "active")
    assert row.department == "Urologisk Afdeling, Herlev"
    assert context["resource_ids"] == ["DeviceUseStatement/u1", "Device/d1"]
    html = render(S, context)
    assert "7 days" in html and 'datetime="2026-02-22T08:20+01:00"' in html


def test_a_removed_line_counts_days_until_removal():
    removed = use(
        "u2",
        "d2",
        "completed",
        timingPeriod={"start": "2026-02-01T11:00:00+01:00", "end": "2026-02-04T09:00:00+01:00"},
    )
    context = present(S, [device("d2", "inactive", "PVK"), removed])
    assert context["in_place"] == []
    (row,) = context["removed"]
    assert row.days == 3 and row.removed.text == "04.02.2026 09:00"
    assert (row.status, row.tone) == ("removed", "done")


def test_an_end_date_in_the_past_means_removed_even_if_the_status_says_active():
    stale = use("u3", "d3", timingPeriod={"start": "2026-01-01", "end": "2026-01-05"})
    context = present(S, [stale])
    assert context["in_place"] == [] and context["removed"][0].days == 4


def test_a_device_without_a_statement_still_shows_and_an_unknown_date_gives_no_day_count():
    partial = use("u4", "other", timingPeriod={"start": "2025"})
    context = present(S, [device("d4"), partial])
    rows = {row.id: row for row in context["in_place"]}
    assert rows["Device/d4"].inserted is None and rows["Device/d4"].days is None
    assert rows["DeviceUseStatement/u4"].days is None  # only the year is known
    assert rows["DeviceUseStatement/u4"].inserted.text == "2025"
    assert rows["DeviceUseStatement/u4"].name == "Device without a name"
    render(S, context)


def test_devices_in_place_ignore_the_date_filter_but_removed_ones_obey_it():
    old_active = use("u5", "d5", timingPeriod={"start": "2024-06-01T10:00:00+02:00"})
    old_removed = use(
        "u6",
        "d6",
        "completed",
        timingPeriod={"start": "2024-06-01T10:00:00+02:00", "end": "2024-06-03"},
    )
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    context = present(S, [old_active, old_removed], filters=Filters(since=since))
    assert [row.id for row in context["in_place"]] == ["DeviceUseStatement/u5"]
    assert context["removed"] == []


def test_entered_in_error_statements_are_hidden():
    context = present(S, [use("u7", "d7", "entered-in-error")])
    assert context["empty"] is True


def test_the_query_reads_the_whole_bounded_list():
    from indblik.chart.presenters import devices

    (query,) = devices.queries(Filters(since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    assert query.since is None and query.before is None and query.limit <= 500
