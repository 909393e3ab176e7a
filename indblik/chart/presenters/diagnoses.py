"""The diagnosis list: active diagnoses first, then resolved ones, each with its ICD-10 code.

Danish hospitals code diagnoses in SKS (``DJ189``), which is ICD-10 with a ``D`` prefix; both
are shown as ICD-10 (``J18.9``). A diagnosis without a clinical status counts as active unless
it has an abatement (FHIR's own rule). Refuted diagnoses ("ruled out") go with the resolved
ones, clearly labelled; suspected ones are labelled as suspected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from indblik.chart.presenters import Filters, PageInput
from indblik.chart.presenters.common import concept_text, status_code
from indblik.chart.presenters.rows import (
    When,
    as_list,
    codings,
    concepts_text,
    first_when,
    get,
    join,
    key_of,
    matches,
    newest_first,
    notes_text,
    page_of,
    people_and_places,
    status_of,
    text_of,
    value_text,
)
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

FILTERS = ("department", "kind", "text")
# A diagnosis list is read whole: a long-lived record has perhaps a hundred diagnoses.
LIMIT = 200

ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.3")
SKS_SYSTEMS = ("urn:oid:1.2.208.176.2.4", "http://medcomfhir.dk/ig/terminology/CodeSystem/sks")
ACTIVE = frozenset({"active", "recurrence", "relapse"})
VERIFICATION_LABELS = {
    "provisional": _("suspected"),
    "differential": _("differential diagnosis"),
    "unconfirmed": _("unconfirmed"),
    "refuted": _("ruled out"),
}
CATEGORY_LABELS = {
    "encounter-diagnosis": _("contact diagnosis"),
    "problem-list-item": _("problem list"),
}


@dataclass(frozen=True)
class DiagnosisRow:
    id: str
    name: str
    code: str  # ICD-10, e.g. J18.9
    status: str
    tone: str
    verification: str  # '' when confirmed
    category: str
    date: When | None  # onset, else recorded
    onset_text: str  # an onset given as text or age when there is no date
    abated: When | None
    recorded: When | None
    recorded_by: str
    severity: str
    body_site: str
    note: str


def queries(filters: Filters) -> list[SectionQuery]:
    # The whole list, not a date window: an old diagnosis still active is today's diagnosis.
    return [SectionQuery(section=Section.DIAGNOSES, limit=LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    current = page_of(page)
    active: list[DiagnosisRow] = []
    resolved: list[DiagnosisRow] = []
    for resource in current.resources:
        if resource.get("resourceType") != "Condition" or _verification(resource) == (
            "entered-in-error"
        ):
            continue
        row, is_active = _row(resource)
        if _wanted(row, page.filters):
            (active if is_active else resolved).append(row)
    active, resolved = newest_first(active), newest_first(resolved)
    return {
        "active": active,
        "resolved": resolved,
        "resource_ids": [row.id for row in (*active, *resolved) if row.id],
        "empty": not (active or resolved),
    }


def icd10_code(concept: Any) -> str:
    """The ICD-10 code of a concept (an SKS code ``DJ189`` is shown as ``J18.9``), or ''."""
    pairs = codings(concept)
    for system, code in sorted(pairs):
        if system in ICD10_SYSTEMS:
            return code
    for system, code in sorted(pairs):
        if system in SKS_SYSTEMS and len(code) >= 4 and code[0] == "D":
            body = code[1:]
            return f"{body[:3]}.{body[3:]}" if len(body) > 3 else body
    return ""


def _verification(resource: Mapping[str, Any]) -> str:
    for _system, code in sorted(codings(resource.get("verificationStatus"))):
        return code
    return ""


def _row(resource: Mapping[str, Any]) -> tuple[DiagnosisRow, bool]:
    code = status_code(resource)
    verification = _verification(resource)
    abated = first_when(
        resource.get("abatementDateTime"), get(resource, "abatementPeriod", "start")
    )
    has_abatement = abated is not None or any(
        resource.get(key) is not None
        for key in ("abatementString", "abatementAge", "abatementRange", "abatementBoolean")
    )
    if not code:
        code = "resolved" if has_abatement else ""
    is_active = (code in ACTIVE or not code) and verification != "refuted"
    label, tone = status_of(code) if code else (str(_("status not stated")), "pending")
    people, places = people_and_places([resource.get("asserter"), resource.get("recorder")])
    onset = first_when(resource.get("onsetDateTime"), get(resource, "onsetPeriod", "start"))
    verification_label = VERIFICATION_LABELS.get(verification)
    category = ""
    for _system, category_code in sorted(codings(resource.get("category"))):
        category = str(CATEGORY_LABELS.get(category_code, "")) or category
    return (
        DiagnosisRow(
            id=key_of(resource),
            name=concept_text(resource.get("code")) or str(_("Diagnosis without a name")),
            code=icd10_code(resource.get("code")),
            status=label,
            tone=tone,
            verification=str(verification_label) if verification_label else "",
            category=category or concepts_text(resource.get("category")),
            date=onset or first_when(resource.get("recordedDate")),
            onset_text=""
            if onset
            else join(
                text_of(resource.get("onsetString")),
                value_text({"valueAge": resource.get("onsetAge")}),
            ),
            abated=abated,
            recorded=first_when(resource.get("recordedDate")),
            recorded_by=join(people, places),
            severity=concept_text(resource.get("severity")),
            body_site=concepts_text(as_list(resource.get("bodySite"))),
            note=notes_text(resource.get("note")),
        ),
        is_active,
    )


def _wanted(row: DiagnosisRow, filters: Filters) -> bool:
    return matches(
        filters,
        kind=[row.name, row.code, row.category],
        department=[row.recorded_by],
        text=[row.note, row.body_site, row.severity, row.status],
    )
