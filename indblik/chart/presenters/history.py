"""Patient history: earlier illnesses, earlier operations, family history and social history.

History is read whole (not a date window): an operation in 1998 is as relevant as last
year's. Social history items in LOINC (smoking, alcohol, housing, occupation) get a Danish
heading, since hospitals often send only the English display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import concept_text, status_code
from indblik.chart.presenters.diagnoses import icd10_code
from indblik.chart.presenters.rows import (
    When,
    as_list,
    concepts_text,
    first_code,
    first_when,
    get,
    join,
    key_of,
    matches,
    newest_first,
    notes_text,
    page_of,
    people_and_places,
    references_text,
    status_of,
    text_of,
    value_text,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("kind", "text")
LIMIT = 200

LOINC = "http://loinc.org"
SOCIAL_TOPICS = {
    f"{LOINC}|72166-2": _("Smoking"),
    f"{LOINC}|11367-0": _("Smoking"),
    f"{LOINC}|11331-6": _("Alcohol"),
    f"{LOINC}|74013-4": _("Alcohol"),
    f"{LOINC}|71802-3": _("Housing"),
    f"{LOINC}|11341-5": _("Occupation"),
    f"{LOINC}|63512-8": _("Household"),
    f"{LOINC}|76689-9": _("Sex assigned at birth"),
}
# An earlier operation is done; only a status that says otherwise is worth showing.
SHOWN_PROCEDURE_STATUSES = frozenset({"not-done", "stopped", "in-progress", "on-hold"})


@dataclass(frozen=True)
class IllnessRow:
    id: str
    name: str
    code: str
    date: When | None
    onset_text: str
    abated: When | None
    status: str
    tone: str
    note: str


@dataclass(frozen=True)
class OperationRow:
    id: str
    name: str
    date: When | None
    date_text: str  # performedString/Age when there is no date
    status: str  # only when not simply done
    tone: str
    where: str
    note: str


@dataclass(frozen=True)
class RelativeRow:
    id: str
    relationship: str
    conditions: tuple[str, ...]  # "Tyktarmskræft (debut 49 år)"
    deceased: str
    date: When | None
    note: str


@dataclass(frozen=True)
class SocialRow:
    id: str
    topic: str
    value: str
    date: When | None
    note: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [SectionQuery(section=Section.HISTORY, limit=LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    illnesses: list[IllnessRow] = []
    operations: list[OperationRow] = []
    relatives: list[RelativeRow] = []
    social: list[SocialRow] = []
    filters = page.filters
    for resource in current.resources:
        rtype = resource.get("resourceType")
        if rtype == "Condition":
            illness = _illness(resource)
            if matches(filters, kind=[illness.name, illness.code], text=[illness.note]):
                illnesses.append(illness)
        elif rtype == "Procedure":
            operation = _operation(resource)
            if matches(filters, kind=[operation.name], text=[operation.where, operation.note]):
                operations.append(operation)
        elif rtype == "FamilyMemberHistory":
            relative = _relative(resource)
            if matches(
                filters,
                kind=[relative.relationship],
                text=[*relative.conditions, relative.note],
            ):
                relatives.append(relative)
        elif rtype == "Observation":
            item = _social(resource)
            if matches(filters, kind=[item.topic], text=[item.value, item.note]):
                social.append(item)
    illnesses, operations = newest_first(illnesses), newest_first(operations)
    relatives, social = newest_first(relatives), newest_first(social)
    rows: list[Any] = [*illnesses, *operations, *relatives, *social]
    return {
        "illnesses": illnesses,
        "operations": operations,
        "relatives": relatives,
        "social": social,
        "resource_ids": [row.id for row in rows if row.id],
        "empty": not rows,
    }


def _illness(resource: Mapping[str, Any]) -> IllnessRow:
    code = status_code(resource)
    label, tone = status_of(code)
    onset = first_when(resource.get("onsetDateTime"), get(resource, "onsetPeriod", "start"))
    return IllnessRow(
        id=key_of(resource),
        name=concept_text(resource.get("code")) or str(_("Illness without a name")),
        code=icd10_code(resource.get("code")),
        date=onset or first_when(resource.get("recordedDate")),
        onset_text=""
        if onset
        else join(
            text_of(resource.get("onsetString")),
            value_text({"valueAge": resource.get("onsetAge")}),
        ),
        abated=first_when(
            resource.get("abatementDateTime"), get(resource, "abatementPeriod", "start")
        ),
        status=label,
        tone=tone,
        note=notes_text(resource.get("note")),
    )


def _operation(resource: Mapping[str, Any]) -> OperationRow:
    code = status_code(resource)
    label, tone = status_of(code) if code in SHOWN_PROCEDURE_STATUSES else ("", "")
    performers = as_list(resource.get("performer"))
    people, places = people_and_places(
        [*performers, *(get(item, "onBehalfOf") for item in performers)]
    )
    return OperationRow(
        id=key_of(resource),
        name=concept_text(resource.get("code")) or str(_("Operation without a name")),
        date=first_when(
            resource.get("performedDateTime"), get(resource, "performedPeriod", "start")
        ),
        date_text=join(
            text_of(resource.get("performedString")),
            value_text({"valueAge": resource.get("performedAge")}),
        ),
        status=label,
        tone=tone,
        where=join(places, references_text(resource.get("location")), people),
        note=join(
            notes_text(resource.get("note")), concepts_text(resource.get("bodySite")), sep="\n"
        ),
    )


def _relative(resource: Mapping[str, Any]) -> RelativeRow:
    conditions = []
    for item in as_list(resource.get("condition")):
        if not isinstance(item, Mapping):
            continue
        name = concept_text(item.get("code"))
        onset = join(
            value_text({"valueAge": item.get("onsetAge")}),
            text_of(item.get("onsetString")),
            value_text({"valueRange": item.get("onsetRange")}),
        )
        if name:
            conditions.append(
                str(_("%(name)s (onset %(onset)s)") % {"name": name, "onset": onset})
                if onset
                else name
            )
    deceased = ""
    if resource.get("deceasedBoolean") is True:
        deceased = str(_("deceased"))
    elif any(
        resource.get(key) is not None
        for key in ("deceasedAge", "deceasedDate", "deceasedString", "deceasedRange")
    ):
        detail = join(
            value_text({"valueAge": resource.get("deceasedAge")}),
            value_text({"valueDate": resource.get("deceasedDate")}),
            text_of(resource.get("deceasedString")),
        )
        deceased = join(str(_("deceased")), detail, sep=" ")
    return RelativeRow(
        id=key_of(resource),
        relationship=concept_text(resource.get("relationship"))
        or text_of(resource.get("name"))
        or str(_("Relative")),
        conditions=tuple(conditions),
        deceased=deceased,
        date=first_when(resource.get("date")),
        note=notes_text(resource.get("note")),
    )


def _social(resource: Mapping[str, Any]) -> SocialRow:
    key = first_code(resource.get("code"))
    topic = SOCIAL_TOPICS.get(key)
    code = resource.get("code")
    own_text = text_of(code.get("text")) if isinstance(code, Mapping) else ""
    return SocialRow(
        id=key_of(resource),
        topic=own_text or (str(topic) if topic else concept_text(code)) or str(_("Other")),
        value=value_text(resource)
        or "; ".join(
            join(concept_text(get(item, "code")), value_text(item), sep=": ")
            for item in as_list(resource.get("component"))
            if isinstance(item, Mapping)
        ),
        date=first_when(
            resource.get("effectiveDateTime"),
            get(resource, "effectivePeriod", "start"),
            resource.get("issued"),
        ),
        note=notes_text(resource.get("note")),
    )
