"""A citizen's background: problem list, history, allergies, alerts and blocks (Consent)."""

# ruff: noqa: RUF001 - Danish clinical text writes the en dash and the multiplication sign

from __future__ import annotations

import datetime as dt
from typing import Any

from indblik.records.synth import (
    organisations,
    texts,
)
from indblik.records.synth.chart import Chart, day, stamp
from indblik.records.synth.scenarios import (
    COMORBIDITIES,
    MEDICINES,
    Dx,
)
from indblik.records.synth.story import Context, Course
from indblik.records.synth.terminology import (
    ACT_CODE,
    ALERT,
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    CLINICAL_STATUS,
    CONDITION_CATEGORY,
    CONSENT_SCOPE,
    FLAG_CATEGORY,
    ICD10,
    LOINC,
    OBSERVATION_CATEGORY,
    PARTICIPATION_TYPE,
    RECORD_CATEGORY,
    ROLE_CODE,
    SNOMED,
    VERIFICATION_STATUS,
    Resource,
    category,
    concept,
)

# --- background: problem list, history, allergies, alerts -----------------------------------------

_MEDICAL_HISTORY = (
    (Dx("K35.8", "Akut blindtarmsbetændelse"), ("80146002", "Appendectomy", "Appendektomi")),
    (
        Dx("I21.9", "Akut myokardieinfarkt"),
        ("232717009", "Coronary artery bypass grafting", "Koronar bypassoperation"),
    ),
    (Dx("K80.2", "Galdesten"), ("38102005", "Cholecystectomy", "Kolecystektomi")),
    (Dx("S52.5", "Håndledsbrud"), None),
    (Dx("J18.9", "Lungebetændelse"), None),
    (Dx("M17.1", "Knæartrose"), ("609588000", "Total knee replacement", "Knæalloplastik")),
    (Dx("H25.9", "Grå stær"), ("54885007", "Cataract extraction", "Kataraktoperation")),
)
_FAMILY = (
    ("MTH", "mother", "Mor"),
    ("FTH", "father", "Far"),
    ("SIS", "sister", "Søster"),
    ("BRO", "brother", "Bror"),
)
_FAMILY_CONDITIONS = (
    Dx("E11.9", "Type 2-diabetes"),
    Dx("I21.9", "Akut myokardieinfarkt"),
    Dx("C50.9", "Brystkræft"),
    Dx("I63.9", "Apopleksi"),
    Dx("F03", "Demens"),
    Dx("C18.9", "Tyktarmskræft"),
)
_SMOKING = (
    ("266919005", "Never smoked tobacco", "Aldrig røget"),
    ("8517006", "Ex-smoker", "Tidligere ryger, ophørt for mange år siden"),
    ("77176002", "Smoker", "Ryger, ca. 10 cigaretter dagligt"),
)
_ALCOHOL = (
    "Drikker ikke alkohol",
    "Ca. 7 genstande om ugen",
    "1–2 genstande dagligt",
    "Over 21 genstande om ugen",
)
_OCCUPATIONS = (
    "Pensioneret buschauffør",
    "Tidligere sygehjælper",
    "Pensioneret skolelærer",
    "Tidligere tømrer",
    "Pensioneret kontorassistent",
    "Tidligere butiksansat",
    "Pensioneret smed",
)
_ALLERGIES = (
    ("764146007", "Penicillin", "Penicillin", 5),
    ("387458008", "Aspirin", "Acetylsalicylsyre", 1),
    ("111088007", "Latex", "Latex", 1),
    ("762952008", "Peanut", "Jordnødder", 1),
    ("387494007", "Codeine", "Kodein", 1),
)
_REACTIONS = (
    ("126485001", "Urticaria", "Nældefeber og kløe", "mild"),
    ("422587007", "Nausea", "Kvalme og opkastning", "mild"),
    ("41291007", "Angioedema", "Hævelse af læber og tunge", "severe"),
    ("39579001", "Anaphylaxis", "Anafylaktisk reaktion", "severe"),
)


def write_background(ctx: Context) -> None:
    """Write the problem list, history, family and social history, allergies; collect alerts."""
    chart, person = ctx.chart, ctx.person
    rng = chart.rng
    today = chart.now.date()
    # Problem list: the chronic conditions.
    for key, dx, _probability in COMORBIDITIES:
        if key in ctx.comorbid:
            onset = today - dt.timedelta(days=rng.randint(365, 365 * 15))
            ctx.problems[key] = condition(chart, dx, onset=onset, kind="problem-list-item")
            if key in MEDICINES:
                ctx.medicines.append(MEDICINES[key])
    if "warfarin" in ctx.comorbid:
        ctx.medicines[ctx.medicines.index(MEDICINES["af"])] = MEDICINES["warfarin"]
        ctx.flags.add("ak")
    # Medical and surgical history.
    for dx, operation in rng.sample(_MEDICAL_HISTORY, rng.randint(1, 3)):
        year = rng.randint(max(person.birth.year + 15, 1960), today.year - 2)
        condition(chart, dx, onset=dt.date(year, 1, 1), kind="medical-history", year_only=True)
        ctx.history.append(f"{texts.lower_first(dx.text)} ({year})")
        if operation is not None:
            code, display, text = operation
            chart.new(
                "Procedure",
                status="completed",
                category=concept(RECORD_CATEGORY, "surgical-history", "Tidligere operationer"),
                code={
                    "coding": [{"system": SNOMED, "code": code, "display": display}],
                    "text": text,
                },
                subject=chart.subject(),
                performedDateTime=str(year),
            )
    if person.female and person.age > 40 and chart.chance(0.25):
        year = rng.randint(person.birth.year + 22, person.birth.year + 38)
        chart.new(
            "Procedure",
            status="completed",
            category=concept(RECORD_CATEGORY, "surgical-history", "Tidligere operationer"),
            code={
                "coding": [{"system": SNOMED, "code": "11466000", "display": "Cesarean section"}],
                "text": "Kejsersnit",
            },
            subject=chart.subject(),
            performedDateTime=str(year),
        )
    # Family history.
    for code, display, text in rng.sample(_FAMILY, rng.randint(1, 2)):
        dx = rng.choice(_FAMILY_CONDITIONS)
        chart.new(
            "FamilyMemberHistory",
            status="completed",
            patient=chart.subject(),
            date=day(today - dt.timedelta(days=rng.randint(30, 2000))),
            relationship={
                "coding": [{"system": ROLE_CODE, "code": code, "display": display}],
                "text": text,
            },
            condition=[
                {
                    "code": concept(ICD10, dx.icd, dx.text),
                    "onsetAge": {
                        "value": rng.randint(45, 85),
                        "unit": "år",
                        "system": "http://unitsofmeasure.org",
                        "code": "a",
                    },
                }
            ],
        )
    # Social history.
    recorded = stamp(chart.at(today - dt.timedelta(days=rng.randint(10, 700)), 10))
    smoking = rng.choices(_SMOKING, weights=(4, 4, 2))[0]
    _social(
        chart,
        "72166-2",
        "Tobacco smoking status",
        recorded,
        {"valueCodeableConcept": concept(SNOMED, smoking[0], smoking[1], smoking[2])},
    )
    alcohol = _ALCOHOL[3] if "alcohol" in ctx.comorbid else rng.choice(_ALCOHOL[:3])
    _social(chart, "11331-6", "History of Alcohol use", recorded, {"valueString": alcohol})
    _social(chart, "71802-3", "Housing status", recorded, {"valueString": _living(ctx)})
    if person.age >= 67:
        _social(
            chart,
            "11341-5",
            "History of Occupation",
            recorded,
            {"valueString": rng.choice(_OCCUPATIONS)},
        )
    # Allergies.
    if chart.chance(0.2):
        code, display, text, _w = rng.choices(_ALLERGIES, weights=[a[3] for a in _ALLERGIES])[0]
        reaction = rng.choice(_REACTIONS)
        ctx.allergy = f"{text} ({reaction[2].lower()})"
        chart.new(
            "AllergyIntolerance",
            clinicalStatus=concept(ALLERGY_CLINICAL, "active", "Active", "Aktiv"),
            verificationStatus=concept(ALLERGY_VERIFICATION, "confirmed", "Confirmed", "Bekræftet"),
            type="allergy",
            category=["medication" if code not in ("111088007", "762952008") else "environment"],
            criticality="high" if reaction[3] == "severe" else "low",
            code=concept(SNOMED, code, display, text),
            patient=chart.subject(),
            recordedDate=stamp(chart.at(today - dt.timedelta(days=rng.randint(200, 5000)), 11)),
            reaction=[
                {
                    "manifestation": [concept(SNOMED, reaction[0], reaction[1], reaction[2])],
                    "severity": reaction[3],
                }
            ],
        )
    # Alerts that do not depend on a course.
    if chart.chance(0.03):
        ctx.flags.add("mrsa")
    if person.age >= 80 and chart.chance(0.3):
        ctx.flags.add("faldrisiko")
    if "dementia" in ctx.comorbid:
        ctx.flags.add("demens")
    if person.age >= 88 and chart.chance(0.4):
        ctx.flags.add("dnr")
        ctx.resuscitation = "Ikke relevant for hjertestopbehandling (aftalt med pt. og pårørende)"


def _living(ctx: Context) -> str:
    person = ctx.person
    rng = ctx.chart.rng
    if person.address.flat:
        floor = person.address.line.rsplit(",", 1)[-1].split()[0]
        where = (
            "i stueetagen"
            if floor == "st."
            else f"på {floor} sal " + rng.choice(("uden elevator", "med elevator"))
        )
        home = f"lejlighed {where}"
    else:
        home = "hus med have"
    alone = person.age >= 70 and ctx.chart.chance(0.55)
    text = f"Bor {'alene' if alone else 'med ægtefælle'} i {home}."
    if person.home_care:
        text += " " + rng.choice(
            (
                "Hjemmepleje morgen og aften.",
                "Hjemmepleje 3 gange dagligt.",
                "Praktisk hjælp hver 14. dag.",
                "Hjemmesygepleje ugentligt (medicindispensering).",
            )
        )
    return text


def _social(chart: Chart, code: str, display: str, when: str, value: dict[str, Any]) -> None:
    chart.new(
        "Observation",
        status="final",
        category=category(OBSERVATION_CATEGORY, "social-history", "Social History"),
        code={"coding": [{"system": LOINC, "code": code, "display": display}]},
        subject=chart.subject(),
        effectiveDateTime=when,
        **value,
    )


def condition(
    chart: Chart,
    dx: Dx,
    *,
    onset: dt.date | dt.datetime,
    kind: str,
    encounter: Resource | None = None,
    resolved: dt.datetime | None = None,
    year_only: bool = False,
) -> Resource:
    """Add a Condition: problem list, encounter diagnosis or earlier illness (history)."""
    if kind in ("problem-list-item", "encounter-diagnosis"):
        categories = category(
            CONDITION_CATEGORY,
            kind,
            "Problem List Item" if kind == "problem-list-item" else "Encounter Diagnosis",
        )
    else:
        categories = category(RECORD_CATEGORY, kind, "Tidligere sygdomme")
    onset_text = (
        str(onset.year)
        if year_only
        else (stamp(onset) if isinstance(onset, dt.datetime) else day(onset))
    )
    clinical = (
        ("resolved", "Resolved", "Overstået")
        if year_only or resolved
        else ("active", "Active", "Aktiv")
    )
    fields: dict[str, Any] = {
        "clinicalStatus": concept(CLINICAL_STATUS, *clinical),
        "verificationStatus": concept(VERIFICATION_STATUS, "confirmed", "Confirmed", "Bekræftet"),
        "category": categories,
        "code": concept(ICD10, dx.icd, dx.text),
        "subject": chart.subject(),
    }
    if encounter is not None:
        fields["encounter"] = chart.ref(encounter)
    fields["onsetDateTime"] = onset_text
    if year_only:
        fields["abatementDateTime"] = onset_text
    elif resolved is not None:
        fields["abatementDateTime"] = stamp(resolved)
    fields["recordedDate"] = onset_text
    return chart.new("Condition", **fields)


_FLAGS = {
    "mrsa": ("clinical", "Smitsom — MRSA"),
    "faldrisiko": ("safety", "Faldrisiko"),
    "demens": ("behavioral", "Demens – kan være desorienteret"),
    "ak": ("drug", "Blodfortyndende behandling (AK)"),
    "dnr": ("clinical", "Fravalg af hjertestopbehandling"),
}
_FLAG_DISPLAY = {
    "clinical": "Clinical",
    "safety": "Safety",
    "behavioral": "Behavioral",
    "drug": "Drug",
}


def flags(ctx: Context, course: Course) -> None:
    """Add the alerts (Flag) collected over the story."""
    chart = ctx.chart
    for key in sorted(ctx.flags):
        kind, title = _FLAGS[key]
        start = course.start - dt.timedelta(days=chart.rng.randint(0, 400))
        chart.new(
            "Flag",
            status="active",
            category=[
                {
                    "coding": [
                        {"system": FLAG_CATEGORY, "code": kind, "display": _FLAG_DISPLAY[kind]}
                    ]
                }
            ],
            code={"coding": [{"system": ALERT, "code": key, "display": title}], "text": title},
            subject=chart.subject(),
            period={"start": stamp(min(start, chart.now - dt.timedelta(hours=1)))},
            author=course.dept.reference(),
        )


def consent(ctx: Context) -> None:
    """Add a citizen's block: all external organisations, or one organisation by CVR."""
    chart, person = ctx.chart, ctx.person
    when = chart.now - dt.timedelta(days=chart.rng.randint(5, 700))
    candidates = [
        org
        for org in (
            person.municipality,
            organisations.NEAR_CLINIC,
            organisations.EMERGENCY_LINE,
            organisations.HOSPICE,
        )
        if org.cvr
    ]
    provision: dict[str, Any] = {"type": "deny", "period": {"start": stamp(when)}}
    if chart.chance(0.5):
        blocked = chart.rng.choice(candidates)
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": PARTICIPATION_TYPE,
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": {
                    "type": "Organization",
                    "identifier": {"system": organisations.CVR_SYSTEM, "value": blocked.cvr},
                    "display": blocked.name,
                },
            }
        ]
    chart.new(
        "Consent",
        status="active",
        scope=concept(
            CONSENT_SCOPE, "patient-privacy", "Privacy Consent", "Spærring af journaloplysninger"
        ),
        category=[concept(LOINC, "59284-0", "Patient Consent", "Borgerens spærring")],
        patient=chart.subject(),
        dateTime=stamp(when),
        policyRule=concept(ACT_CODE, "OPTOUT", "opt-out", "Frabeder sig deling"),
        provision=provision,
    )
