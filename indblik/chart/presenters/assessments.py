"""Assessment forms: vital signs, scores, and questionnaires the patient answered.

- Vital signs form a flow sheet: one row per time of measurement, one column per measure
  (blood pressure, pulse, respiration, saturation, temperature, then the rest); a score taken
  at the same time (e.g. TOKS/early-warning) joins the row. Abnormal values are marked.
- Other scores and assessments (Barthel, exam findings…) are a plain list.
- Questionnaire responses show question → answer pairs. When a response lacks the question
  texts, the Questionnaire is looked up among the response's ``contained`` resources and any
  Questionnaire resources present in the page's results (the presenter stays pure: it never
  fetches).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import coding_text, concept_text, number_text, status_code
from indblik.chart.presenters.rows import (
    When,
    as_list,
    codings,
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
    reference_type,
    section_query,
    status_of,
    text_of,
    value_text,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("dates", "kind", "text")
# Six vital signs per round of measurements: 150 rows is some 25 rounds.
LIMIT = 150
MAX_ITEMS = 200  # questions shown per response (a runaway form cannot flood the page)
MAX_DEPTH = 6

LOINC = "http://loinc.org"
VITAL_ORDER = {
    f"{LOINC}|85354-9": 0,  # blood pressure panel
    f"{LOINC}|55284-4": 0,
    f"{LOINC}|8867-4": 1,  # pulse
    f"{LOINC}|9279-1": 2,  # respiration
    f"{LOINC}|59408-5": 3,  # SpO2
    f"{LOINC}|2708-6": 3,
    f"{LOINC}|8310-5": 4,  # temperature
    f"{LOINC}|8331-1": 4,
}
SYSTOLIC, DIASTOLIC = f"{LOINC}|8480-6", f"{LOINC}|8462-4"
ABNORMAL = frozenset({"H", "HH", "HU", "L", "LL", "LU", "A", "AA", "<", ">", "POS", "DET"})
VITAL_CATEGORY = ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")

LABELS = {"completed": _("completed"), "in-progress": _("not finished")}


@dataclass(frozen=True)
class Cell:
    text: str
    abnormal: bool


@dataclass(frozen=True)
class MeasurementRound:
    """One time of measurement in the vital signs flow sheet."""

    date: When | None
    cells: tuple[Cell | None, ...]  # aligned with the sheet's columns
    ids: tuple[str, ...]


@dataclass(frozen=True)
class ScoreRow:
    id: str
    name: str
    value: str
    abnormal: bool
    date: When | None
    performer: str
    note: str


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    depth: int  # nesting level (0 = top); a group heading has no answer


@dataclass(frozen=True)
class ResponseRow:
    """One filled-in questionnaire."""

    id: str
    title: str
    date: When | None
    author: str
    patient_reported: bool
    status: str
    tone: str
    answers: tuple[Answer, ...]


def queries(filters: Filters) -> list[SectionQuery]:
    return [section_query(Section.ASSESSMENTS, filters, LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    observations = [r for r in current.resources if r.get("resourceType") == "Observation"]
    responses = [r for r in current.resources if r.get("resourceType") == "QuestionnaireResponse"]
    questionnaires = _questionnaires(page)
    filters = page.filters

    vitals, others = _split_vitals(observations)
    columns, rounds = _flow_sheet(vitals, filters)
    scores = newest_first(
        row for row in (_score_row(item) for item in others) if _score_wanted(row, filters)
    )
    forms = newest_first(
        row
        for row in (_response_row(item, questionnaires) for item in responses)
        if _form_wanted(row, filters)
    )
    resource_ids = [key for row in rounds for key in row.ids]
    resource_ids += [row.id for row in scores if row.id]
    resource_ids += [row.id for row in forms if row.id]
    return {
        "columns": columns,
        "rounds": rounds,
        "scores": scores,
        "forms": forms,
        "resource_ids": resource_ids,
        "next_before": current.next_before,
        "empty": not (rounds or scores or forms),
    }


# --- vital signs --------------------------------------------------------------------------


def _time_key(resource: Mapping[str, Any]) -> str:
    found = _observation_date(resource)
    return found.at.isoformat(timespec="minutes") if found else ""


def _observation_date(resource: Mapping[str, Any]) -> When | None:
    return first_when(
        resource.get("effectiveDateTime"),
        get(resource, "effectivePeriod", "start"),
        resource.get("effectiveInstant"),
        resource.get("issued"),
    )


def _split_vitals(
    observations: list[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Vital signs, plus any score taken at the very minute of a round of vital signs."""
    vital = [item for item in observations if VITAL_CATEGORY in codings(item.get("category"))]
    times = {_time_key(item) for item in vital} - {""}
    vital_ids = {id(item) for item in vital}
    vitals, others = [], []
    for item in observations:
        if id(item) in vital_ids or (_time_key(item) in times and not item.get("hasMember")):
            vitals.append(item)
        else:
            others.append(item)
    return vitals, others


def _column_key(resource: Mapping[str, Any]) -> str:
    return first_code(resource.get("code")) or concept_text(resource.get("code"))


def _flow_sheet(
    vitals: list[Mapping[str, Any]], filters: Filters
) -> tuple[list[str], list[MeasurementRound]]:
    labels: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    by_time: dict[str, list[Mapping[str, Any]]] = {}
    for index, item in enumerate(vitals):
        key = _column_key(item)
        if not key:
            continue
        labels.setdefault(key, concept_text(item.get("code")) or key)
        first_seen.setdefault(key, index)
        by_time.setdefault(_time_key(item), []).append(item)
    shown = [key for key in labels if matches(filters, kind=[labels[key]])]
    keys = sorted(shown, key=lambda key: (VITAL_ORDER.get(key, 99), first_seen[key]))
    rounds = []
    for items in by_time.values():
        cells: dict[str, Cell] = {}
        ids = []
        for item in items:
            key = _column_key(item)
            if key not in keys or key in cells:
                continue
            cells[key] = Cell(_measurement_text(item), _abnormal(item))
            ids.append(key_of(item))
        if cells:
            rounds.append(
                MeasurementRound(
                    date=_observation_date(items[0]),
                    cells=tuple(cells.get(key) for key in keys),
                    ids=tuple(item for item in ids if item),
                )
            )
    return [labels[key] for key in keys], newest_first(rounds)


def _measurement_text(observation: Mapping[str, Any]) -> str:
    value = value_text(observation)
    components = {
        first_code(get(item, "code")): item
        for item in as_list(observation.get("component"))
        if isinstance(item, Mapping)
    }
    if SYSTOLIC in components and DIASTOLIC in components:
        systolic, diastolic = components[SYSTOLIC], components[DIASTOLIC]
        top = get(systolic, "valueQuantity", "value")
        bottom = get(diastolic, "valueQuantity", "value")
        unit = text_of(get(systolic, "valueQuantity", "unit"))
        if _is_number(top) and _is_number(bottom):
            return join(f"{number_text(top)}/{number_text(bottom)}", unit, sep=" ")
    parts = [
        join(concept_text(get(item, "code")), value_text(item), sep=" ")
        for item in components.values()
    ]
    text = join(value, *parts)
    if not text:
        reason = concept_text(observation.get("dataAbsentReason"))
        return f"({reason})" if reason else ""
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _abnormal(observation: Mapping[str, Any]) -> bool:
    codes = {code for _system, code in codings(observation.get("interpretation"))}
    for item in as_list(observation.get("component")):
        if isinstance(item, Mapping):
            codes |= {code for _system, code in codings(item.get("interpretation"))}
    return bool(codes & ABNORMAL)


# --- scores -------------------------------------------------------------------------------


def _score_row(observation: Mapping[str, Any]) -> ScoreRow:
    people, places = people_and_places(observation.get("performer"))
    return ScoreRow(
        id=key_of(observation),
        name=concept_text(observation.get("code")) or str(_("Assessment")),
        value=_measurement_text(observation),
        abnormal=_abnormal(observation),
        date=_observation_date(observation),
        performer=join(people, places),
        note=notes_text(observation.get("note")),
    )


def _score_wanted(row: ScoreRow, filters: Filters) -> bool:
    return matches(filters, kind=[row.name], department=[row.performer], text=[row.value, row.note])


# --- questionnaires -----------------------------------------------------------------------


def _questionnaires(page: PageInput) -> dict[str, Mapping[str, Any]]:
    """Questionnaires the page was given, by canonical url (with and without version) and id."""
    found: dict[str, Mapping[str, Any]] = {}
    for result in page.results.values():
        for resource in as_list(getattr(result, "resources", ())):
            if isinstance(resource, Mapping) and resource.get("resourceType") == "Questionnaire":
                _index(found, resource)
    return found


def _index(found: dict[str, Mapping[str, Any]], questionnaire: Mapping[str, Any]) -> None:
    url, version, rid = (text_of(questionnaire.get(key)) for key in ("url", "version", "id"))
    if url:
        found.setdefault(url, questionnaire)
        if version:
            found.setdefault(f"{url}|{version}", questionnaire)
    if rid:
        found.setdefault(f"Questionnaire/{rid}", questionnaire)


def _questionnaire_of(
    response: Mapping[str, Any], known: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    canonical = text_of(response.get("questionnaire"))
    if not canonical:
        return None
    if canonical.startswith("#"):
        for item in as_list(response.get("contained")):
            if isinstance(item, Mapping) and item.get("id") == canonical[1:]:
                return item
        return None
    if canonical in known:
        return known[canonical]
    bare = canonical.split("|", 1)[0]
    if bare in known:
        return known[bare]
    parts = bare.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Questionnaire":
        return known.get(f"Questionnaire/{parts[-1]}")
    return None


def _definitions(questionnaire: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Questionnaire items by linkId (all levels)."""
    found: dict[str, Mapping[str, Any]] = {}
    stack = list(as_list((questionnaire or {}).get("item")))
    while stack and len(found) < 10 * MAX_ITEMS:
        item = stack.pop()
        if not isinstance(item, Mapping):
            continue
        link = text_of(item.get("linkId"))
        if link:
            found.setdefault(link, item)
        stack.extend(as_list(item.get("item")))
    return found


def _response_row(
    response: Mapping[str, Any], known: Mapping[str, Mapping[str, Any]]
) -> ResponseRow:
    questionnaire = _questionnaire_of(response, known)
    definitions = _definitions(questionnaire)
    label, tone = status_of(status_code(response), LABELS)
    author = response.get("author")
    patient_reported = reference_type(author) == "Patient" or (
        author is None and reference_type(response.get("source")) == "Patient"
    )
    people, places = people_and_places([author, response.get("source")])
    answers = tuple(_answers(response.get("item"), definitions, 0))[:MAX_ITEMS]
    return ResponseRow(
        id=key_of(response),
        title=_title(questionnaire, response),
        date=first_when(response.get("authored"), get(response, "meta", "lastUpdated")),
        author=str(_("The citizen")) if patient_reported else join(people, places),
        patient_reported=patient_reported,
        status=label,
        tone=tone,
        answers=answers,
    )


def _title(questionnaire: Mapping[str, Any] | None, response: Mapping[str, Any]) -> str:
    if questionnaire:
        title = text_of(questionnaire.get("title")) or text_of(questionnaire.get("name"))
        if title:
            return title
    canonical = text_of(response.get("questionnaire")).split("|", 1)[0]
    slug = canonical.rstrip("/").rsplit("/", 1)[-1].lstrip("#")
    if slug and len(slug) <= 80:
        return slug.replace("-", " ").replace("_", " ").capitalize()
    return str(_("Questionnaire"))


def _answers(
    items: Any, definitions: Mapping[str, Mapping[str, Any]], depth: int
) -> Iterator[Answer]:
    if depth > MAX_DEPTH:
        return
    for item in as_list(items):
        if not isinstance(item, Mapping):
            continue
        definition = definitions.get(text_of(item.get("linkId")), {})
        question = (
            text_of(item.get("text"))
            or text_of(definition.get("text"))
            or text_of(item.get("linkId"))
            or str(_("Question"))
        )
        answers = [answer for answer in as_list(item.get("answer")) if isinstance(answer, Mapping)]
        texts = [_answer_text(answer, definition) for answer in answers]
        shown = ", ".join(text for text in texts if text)
        if answers or not item.get("item"):
            yield Answer(question, shown or str(_("not answered")), depth)
        else:
            yield Answer(question, "", depth)  # a group: its questions follow
        yield from _answers(item.get("item"), definitions, depth + 1)
        for answer in answers:
            yield from _answers(answer.get("item"), definitions, depth + 1)


def _answer_text(answer: Mapping[str, Any], definition: Mapping[str, Any]) -> str:
    coding = answer.get("valueCoding")
    if isinstance(coding, Mapping) and not text_of(coding.get("display")):
        # The response kept only the code: the questionnaire's options say what it means.
        for option in as_list(definition.get("answerOption")):
            known = get(option, "valueCoding")
            if (
                isinstance(known, Mapping)
                and known.get("code") == coding.get("code")
                and known.get("system", coding.get("system")) == coding.get("system")
            ):
                return coding_text(known)
    return value_text(answer)


def _form_wanted(row: ResponseRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.title],
        department=[row.author],
        text=[text for answer in row.answers for text in (answer.question, answer.answer)],
    )
