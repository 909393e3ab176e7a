"""Lab tests: results grouped by analysis with a trend per analysis, and the orders."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from indblik.chart import svg
from indblik.chart.presenters import Filters, PageInput, common
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "kind")
DASH = "\N{EN DASH}"
LIMIT = 200
# Orders still to be done (shown first); the rest are done, cancelled or otherwise closed.
OPEN_ORDER = frozenset(
    {"draft", "requested", "active", "on-hold", "planned", "proposed"}
)  # rows (results and orders) per page: enough for trends, bounded for any record

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# Interpretation codes → (direction, critical).
FLAGS: dict[str, tuple[str, bool]] = {
    "H": ("high", False),
    "HH": ("high", True),
    "HU": ("high", True),
    ">": ("high", False),
    "L": ("low", False),
    "LL": ("low", True),
    "LU": ("low", True),
    "<": ("low", False),
    "A": ("abnormal", False),
    "AA": ("abnormal", True),
    "POS": ("abnormal", False),
    "DET": ("abnormal", False),
    "R": ("abnormal", False),
}


@dataclass(frozen=True)
class Flag:
    """An abnormal-value marker: never colour alone, always a symbol and a word."""

    direction: str  # high, low, abnormal
    critical: bool

    @property
    def symbol(self) -> str:
        return {"high": "↑", "low": "↓"}.get(self.direction, "!") * (2 if self.critical else 1)

    @property
    def text(self) -> str:
        if self.direction == "high":
            return _("critically high") if self.critical else _("high")
        if self.direction == "low":
            return _("critically low") if self.critical else _("low")
        return _("critically abnormal") if self.critical else _("abnormal")


@dataclass(frozen=True)
class Result:
    """One lab result, as a table row."""

    resource_id: str
    analysis: str
    key: str
    value: str
    number: float | None
    unit: str
    range_text: str
    low: float | None
    high: float | None
    flag: Flag | None
    date: str
    moment: dt.datetime | None
    status: str
    status_code: str
    tone: str
    note: str
    performer: str


@dataclass(frozen=True)
class Analysis:
    """All results of one analysis on this page, newest first, with its trend."""

    key: str
    name: str
    unit: str
    range_text: str
    results: list[Result]
    chart: SafeString | None = None
    anchor: str = ""

    @property
    def latest(self) -> Result:
        return self.results[0]


@dataclass(frozen=True)
class Order:
    """A lab order (ServiceRequest) with its status."""

    resource_id: str
    what: str
    status: str
    status_code: str
    tone: str
    ordered: str
    planned: str
    requester: str
    performer: str
    reason: str


@dataclass
class _Group:
    key: str
    name: str
    results: list[Result] = field(default_factory=list)


def queries(filters: Filters) -> list[SectionQuery]:
    return [
        SectionQuery(
            Section.LAB,
            limit=LIMIT,
            before=filters.before,
            since=filters.since,
            until=filters.until,
        )
    ]


def present(page: PageInput) -> dict[str, Any]:
    result = page.results.get(Section.LAB)
    rows, cursor = common.keyset_page(
        list(result.resources) if result else [], bool(result and result.has_more)
    )
    shown = [row for row in common.visible(rows)]
    results = [
        item
        for item in (result_row(resource) for resource in shown)
        if item is not None and common.matches(page.filters.kind, item.analysis)
    ]
    orders = [
        order(resource)
        for resource in shown
        if resource.get("resourceType") == "ServiceRequest"
        and common.matches(page.filters.kind, common.concept_text(resource.get("code")))
    ]
    analyses = group(results)
    return {
        "analyses": analyses,
        "orders": orders,
        "open_orders": [item for item in orders if item.status_code in OPEN_ORDER],
        "closed_orders": [item for item in orders if item.status_code not in OPEN_ORDER],
        "abnormal_count": sum(1 for item in results if item.flag),
        "next_before": cursor,
        "empty": not analyses and not orders,
        "resource_ids": [f"Observation/{item.resource_id}" for item in results]
        + [f"ServiceRequest/{item.resource_id}" for item in orders],
    }


def group(results: list[Result]) -> list[Analysis]:
    """Results grouped by analysis (newest analysis first), each with its trend chart."""
    groups: dict[str, _Group] = {}
    for item in results:
        groups.setdefault(item.key, _Group(item.key, item.analysis)).results.append(item)
    analyses = []
    for index, entry in enumerate(groups.values()):
        latest = entry.results[0]
        points = [(item.moment, item.number) for item in entry.results]
        chart = svg.trend(
            [(when, value) for when, value in points if when is not None and value is not None],
            title=_("Trend for %(analysis)s") % {"analysis": entry.name},
            unit=latest.unit,
            low=latest.low,
            high=latest.high,
        )
        analyses.append(
            Analysis(
                key=entry.key,
                name=entry.name,
                unit=latest.unit,
                range_text=latest.range_text,
                results=entry.results,
                chart=chart,
                anchor=f"analysis-{index + 1}",
            )
        )
    return analyses


def result_row(resource: Mapping[str, Any]) -> Result | None:
    """One Observation as a result row (None for anything that is not an Observation)."""
    if resource.get("resourceType") != "Observation":
        return None
    code = resource.get("code")
    analysis = common.display_text(code) or _("Unnamed analysis")
    quantity = resource.get("valueQuantity")
    number: float | None = None
    raw_unit = _unit(quantity)  # the analysis's key keeps the unit as sent
    unit = unit_text(raw_unit)
    if isinstance(quantity, Mapping):
        raw = quantity.get("value")
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            number = float(raw)
            comparator = quantity.get("comparator")
            value = f"{comparator if isinstance(comparator, str) else ''}{common.number_text(raw)}"
        else:
            value = ""
    else:
        value = _value_text(resource)
    if not value:
        reason = common.concept_text(resource.get("dataAbsentReason"))
        value = reason or "—"
    low, high, range_text = reference_range(resource.get("referenceRange"))
    flag = flag_of(resource, number, low, high)
    status_code = common.status_code(resource)
    note = " ".join(
        str(item.get("text")).strip()
        for item in resource.get("note") or ()
        if isinstance(item, Mapping) and isinstance(item.get("text"), str)
    )
    return Result(
        resource_id=str(resource.get("id", "")),
        analysis=analysis,
        key=_key(code, analysis, raw_unit),
        value=value,
        number=number,
        unit=unit,
        range_text=range_text,
        low=low,
        high=high,
        flag=flag,
        date=common.date_text(_effective(resource)),
        moment=common.moment(resource),
        status=common.status_label(status_code) if status_code not in ("final", "") else "",
        status_code=status_code,
        tone=common.status_tone(status_code),
        note=note,
        performer=common.organisation_text(resource) or common.person_text(resource),
    )


def result_key(resource: Mapping[str, Any]) -> str | None:
    """The ``key`` :func:`result_row` gives this resource, without building the row."""
    if resource.get("resourceType") != "Observation":
        return None
    code = resource.get("code")
    name = common.display_text(code) or _("Unnamed analysis")
    return _key(code, name, _unit(resource.get("valueQuantity")))


def _unit(quantity: Any) -> str:
    if not isinstance(quantity, Mapping):
        return ""
    return str(quantity.get("unit") or quantity.get("code") or "")


_POWER_OF_TEN = re.compile(r"(?<![\d.,])10[\^*](-?\d{1,2})(?!\d)")
_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def unit_text(unit: str) -> str:
    """A unit as read on paper: a power of ten written ``10^9`` (or UCUM's ``10*9``) as 10⁹."""
    return _POWER_OF_TEN.sub(lambda match: "10" + match.group(1).translate(_SUPERSCRIPT), unit)


def order(resource: Mapping[str, Any]) -> Order:
    """A ServiceRequest as an order row."""
    status_code = common.status_code(resource)
    period = resource.get("occurrencePeriod")
    occurrence = resource.get("occurrenceDateTime") or (
        period.get("start") if isinstance(period, Mapping) else None
    )
    return Order(
        resource_id=str(resource.get("id", "")),
        what=common.concept_text(resource.get("code")) or _("Unnamed order"),
        status=common.status_label(status_code) or _("unknown"),
        status_code=status_code,
        tone=common.status_tone(status_code),
        ordered=common.date_text(resource.get("authoredOn")),
        planned=common.date_text(occurrence),
        requester=common.reference_text(resource.get("requester")),
        performer=common.reference_text(resource.get("performer")),
        reason=common.concept_text(resource.get("reasonCode")),
    )


def reference_range(ranges: Any) -> tuple[float | None, float | None, str]:
    """(low, high, text) of the first reference range: ``8,3-10,5``, ``< 5``, or its text."""
    if not isinstance(ranges, list):
        return None, None, ""
    for item in ranges:
        if not isinstance(item, Mapping):
            continue
        low = _number(item.get("low"))
        high = _number(item.get("high"))
        if low is not None and high is not None:
            text = f"{common.number_text(low)}{DASH}{common.number_text(high)}"
        elif high is not None:
            text = f"< {common.number_text(high)}"
        elif low is not None:
            text = f"> {common.number_text(low)}"
        else:
            text = str(item.get("text") or "").strip()
        return low, high, text
    return None, None, ""


def flag_of(
    resource: Mapping[str, Any], number: float | None, low: float | None, high: float | None
) -> Flag | None:
    """The abnormal flag: from ``interpretation`` when given, else from the reference range."""
    interpretations = resource.get("interpretation")
    saw_interpretation = False
    for concept in interpretations if isinstance(interpretations, list) else ():
        if not isinstance(concept, Mapping):
            continue
        for coding in concept.get("coding") or ():
            if not isinstance(coding, Mapping):
                continue
            code = str(coding.get("code") or "").upper()
            if code:
                saw_interpretation = True
            if code in FLAGS:
                direction, critical = FLAGS[code]
                return Flag(direction, critical)
    if saw_interpretation or number is None:
        return None  # the laboratory said normal (or did not give a number): trust it
    if high is not None and number > high:
        return Flag("high", False)
    if low is not None and number < low:
        return Flag("low", False)
    return None


def _effective(resource: Mapping[str, Any]) -> Any:
    period = resource.get("effectivePeriod")
    return (
        resource.get("effectiveDateTime")
        or (period.get("start") if isinstance(period, Mapping) else None)
        or resource.get("effectiveInstant")
        or resource.get("issued")
    )


def _value_text(resource: Mapping[str, Any]) -> str:
    for key in ("valueString", "valueInteger", "valueBoolean"):
        value = resource.get(key)
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, int | str) and str(value).strip():
            return str(value).strip()
    concept = common.concept_text(resource.get("valueCodeableConcept"))
    if concept:
        return concept
    value_range = resource.get("valueRange")
    if isinstance(value_range, Mapping):
        return DASH.join(
            text
            for text in (
                common.quantity_text(value_range.get("low")),
                common.quantity_text(value_range.get("high")),
            )
            if text
        )
    return ""


def _number(quantity: Any) -> float | None:
    if not isinstance(quantity, Mapping):
        return None
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _key(code: Any, name: str, unit: str) -> str:
    """What makes two results the same analysis: the first coding, else the name; and the unit."""
    if isinstance(code, Mapping):
        for coding in code.get("coding") or ():
            if isinstance(coding, Mapping) and coding.get("code"):
                return f"{coding.get('system', '')}|{coding['code']}|{unit}"
    return f"text|{name.casefold()}|{unit}"
