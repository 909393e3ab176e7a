"""Lab presenter on tricky FHIR."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from indblik.chart.presenters import Filters, lab
from indblik.chart.tests.presenting import page
from indblik.records.sections import Section

LAB = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory",
        }
    ]
}


def obs(value: float | None = 7.0, **fields: object) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "Observation",
        "id": f"o{value}",
        "status": "final",
        "category": [LAB],
        "code": {
            "coding": [
                {"system": "urn:oid:1.2.208.176.2.1", "code": "NPU02319", "display": "B—Hæmoglobin"}
            ],
            "text": "Hæmoglobin",
        },
        "effectiveDateTime": "2026-02-01T08:00:00+01:00",
        "referenceRange": [{"low": {"value": 8.3}, "high": {"value": 10.5}}],
    }
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": "mmol/L"}
    resource.update(fields)
    return resource


def test_a_value_below_the_range_is_flagged_low_without_an_interpretation() -> None:
    row = lab.result_row(obs(7.0))
    assert row is not None
    assert row.value == "7" or row.value == "7,0" or row.value.startswith("7")
    assert row.flag is not None and row.flag.direction == "low" and row.flag.symbol == "↓"
    assert row.range_text == "8,3\N{EN DASH}10,5"


def test_the_laboratorys_interpretation_wins_over_the_range() -> None:
    normal = {"coding": [{"system": lab.INTERPRETATION, "code": "N"}]}
    critical = {"coding": [{"system": lab.INTERPRETATION, "code": "HH"}]}
    assert lab.result_row(obs(7.0, interpretation=[normal])).flag is None  # type: ignore[union-attr]
    flag = lab.result_row(obs(9.0, interpretation=[critical])).flag  # type: ignore[union-attr]
    assert flag is not None and flag.critical and flag.symbol == "↑↑"


def test_missing_fields_do_not_break_a_row() -> None:
    row = lab.result_row({"resourceType": "Observation"})
    assert row is not None
    assert row.analysis and row.value == "—" and row.date == "" and row.flag is None
    text = lab.result_row(obs(None, valueString="Negativ", referenceRange="junk"))
    assert text is not None and text.value == "Negativ" and text.range_text == ""
    absent = lab.result_row(obs(None, dataAbsentReason={"text": "Hæmolyseret"}))
    assert absent is not None and absent.value == "Hæmolyseret"


def test_results_group_by_the_first_coding_and_get_a_trend() -> None:
    first = obs(9.0, id="a", effectiveDateTime="2026-02-03T08:00:00+01:00")
    second = obs(7.0, id="b", effectiveDateTime="2026-02-01")  # a partial (day) date
    other = obs(
        140,
        id="c",
        code={"coding": [{"code": "NPU03429"}, {"code": "X"}], "text": "Natrium"},
        referenceRange=[{"low": {"value": 137}, "high": {"value": 145}}],
    )
    context = lab.present(page(Section.LAB, {Section.LAB: [first, second, other]}))
    names = [analysis.name for analysis in context["analyses"]]
    assert names == ["Hæmoglobin", "Natrium"]
    haemoglobin = context["analyses"][0]
    assert [row.resource_id for row in haemoglobin.results] == ["a", "b"]
    assert haemoglobin.chart is not None and 'role="img"' in haemoglobin.chart
    assert context["analyses"][1].chart is None  # one value: no trend
    assert context["abnormal_count"] == 1
    assert haemoglobin.results[1].date == "01.02.2026"


def test_entered_in_error_results_and_orders_are_hidden() -> None:
    wrong = obs(3.0, id="wrong", status="entered-in-error")
    order = {"resourceType": "ServiceRequest", "id": "sr", "status": "entered-in-error"}
    context = lab.present(page(Section.LAB, {Section.LAB: [wrong, order, obs(9.0, id="ok")]}))
    assert [a.results[0].resource_id for a in context["analyses"]] == ["ok"]
    assert context["orders"] == []
    assert "Observation/wrong" not in context["resource_ids"]


def test_cancelled_orders_are_shown_as_cancelled_and_apart_from_open_ones() -> None:
    cancelled = {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "revoked",
        "code": {"text": "Blodprøver"},
        "authoredOn": "2026-02",
    }
    waiting = {"resourceType": "ServiceRequest", "id": "sr2", "status": "active"}
    context = lab.present(page(Section.LAB, {Section.LAB: [cancelled, waiting]}))
    assert [o.resource_id for o in context["open_orders"]] == ["sr2"]
    [closed] = context["closed_orders"]
    assert closed.tone == "cancelled" and closed.ordered == "02.2026"
    assert context["open_orders"][0].what  # an unnamed order still says something


def test_the_kind_filter_keeps_matching_analyses() -> None:
    other = obs(140, id="c", code={"text": "Natrium"})
    context = lab.present(
        page(Section.LAB, {Section.LAB: [obs(9.0), other]}, filters=Filters(kind="natr"))
    )
    assert [a.name for a in context["analyses"]] == ["Natrium"]


def test_the_key_alone_is_the_key_of_the_whole_row() -> None:
    from indblik.chart.tests.conftest import STORY_NOW
    from indblik.records import synth

    shapes: list[Mapping[str, Any]] = [
        obs(),
        obs(None),
        obs(5.1, code={"text": "Only a text"}),
        obs(5.2, code={"coding": [{"display": "No code"}]}),
        obs(5.3, code=None, valueQuantity={"value": 1, "code": "mmol/L"}),
        obs(5.4, valueQuantity="not a quantity"),
        {"resourceType": "ServiceRequest", "id": "s1"},
    ]
    generated = [
        resource
        for resource in synth.generate(2, seed=3, now=STORY_NOW)
        if resource.get("resourceType") == "Observation"
    ]
    assert generated
    for resource in [*shapes, *cast(list[Mapping[str, Any]], generated)]:
        row = lab.result_row(resource)
        assert lab.result_key(resource) == (row.key if row else None), resource


def test_powers_of_ten_in_units_read_as_on_paper() -> None:
    cases = {
        "\N{MULTIPLICATION SIGN} 10^9/L": "\N{MULTIPLICATION SIGN} 10⁹/L",  # the lab's text
        "10*9/L": "10⁹/L",  # UCUM's code, when that is all there is
        "10*12/L": "10¹²/L",
        "10^-3": "10⁻³",
        "mmol/L": "mmol/L",
        "2010^9": "2010^9",  # not a power of ten
        "1.10^9": "1.10^9",
        "10^123": "10^123",  # three digits: left alone
    }
    for given, shown in cases.items():
        assert lab.unit_text(given) == shown, given
    times = "\N{MULTIPLICATION SIGN}"
    leukocytes = obs(6.6, valueQuantity={"value": 6.6, "unit": f"{times} 10^9/L", "code": "10*9/L"})
    row = lab.result_row(leukocytes)
    assert row is not None and row.unit == f"{times} 10⁹/L"
    assert row.key == lab.result_key(leukocytes)  # grouped by the unit as sent
