"""What is measured: vital signs, early-warning and function scores, lab orders and results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from indblik.records.synth import (
    labs,
    texts,
)
from indblik.records.synth.chart import stamp
from indblik.records.synth.organisations import Department, department
from indblik.records.synth.story import Context, Course
from indblik.records.synth.terminology import (
    ASSESSMENT_SCORE,
    LOINC,
    OBSERVATION_CATEGORY,
    SNOMED,
    Resource,
    category,
    quantity,
    text_concept,
)

_VITAL_CODES = (
    ("8867-4", "Heart rate", "Puls", "pulse", "/min", "/min"),
    ("9279-1", "Respiratory rate", "Respirationsfrekvens", "respiration", "/min", "/min"),
    (
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "Iltmætning (SAT)",
        "saturation",
        "%",
        "%",
    ),
    ("8310-5", "Body temperature", "Temperatur", "temperature", "°C", "Cel"),
)


def draw_vitals(ctx: Context, course: Course, severity: float) -> texts.Vitals:
    """Return vital signs for a course at a severity between 0 (well) and 1 (acutely ill)."""
    rng = ctx.chart.rng
    infection = course.scenario.acute.crp >= 40
    lungs = course.scenario.key in ("kol", "hjertesvigt", "lungekraeft", "pneumoni-demens")
    return texts.Vitals(
        systolic=int(rng.gauss(138, 12) - (22 * severity if infection else -8 * severity)),
        diastolic=int(rng.gauss(78, 7)),
        pulse=int(rng.gauss(76, 8) + 30 * severity),
        respiration=int(rng.gauss(16, 1.5) + (9 if lungs else 4) * severity),
        saturation=min(99, int(rng.gauss(96, 1) - (6 if lungs else 2) * severity)),
        temperature=round(rng.gauss(36.8, 0.25) + (1.9 * severity if infection else 0), 1),
        alert=not (severity > 0.7 and course.scenario.key in ("urosepsis", "pneumoni-demens")),
    )


def record_vitals(
    ctx: Context,
    course: Course,
    when: dt.datetime,
    vitals: texts.Vitals,
    encounter: Resource | None,
) -> None:
    """Add the vital-sign Observations and the TOKS score of one measurement."""
    chart = ctx.chart
    effective = stamp(when)
    vital = category(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")
    base: dict[str, Any] = {"status": "final"}
    context = {"encounter": chart.ref(encounter)} if encounter is not None else {}
    chart.new(
        "Observation",
        **base,
        category=vital,
        code={
            "coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}],
            "text": "Blodtryk",
        },
        subject=chart.subject(),
        **context,
        effectiveDateTime=effective,
        component=[
            {
                "code": {
                    "coding": [
                        {"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"}
                    ]
                },
                "valueQuantity": quantity(vitals.systolic, "mmHg", "mm[Hg]"),
            },
            {
                "code": {
                    "coding": [
                        {"system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure"}
                    ]
                },
                "valueQuantity": quantity(vitals.diastolic, "mmHg", "mm[Hg]"),
            },
        ],
    )
    for code, display, text, attribute, unit, ucum in _VITAL_CODES:
        chart.new(
            "Observation",
            **base,
            category=category(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs"),
            code={"coding": [{"system": LOINC, "code": code, "display": display}], "text": text},
            subject=chart.subject(),
            **context,
            effectiveDateTime=effective,
            valueQuantity=quantity(getattr(vitals, attribute), unit, ucum),
        )
    score(
        ctx,
        "toks",
        "TOKS-score (tidlig opsporing af kritisk sygdom)",
        vitals.toks(),
        when,
        encounter,
    )


def score(
    ctx: Context, code: str, text: str, value: int, when: dt.datetime, encounter: Resource | None
) -> None:
    """Add an assessment score (survey Observation)."""
    chart = ctx.chart
    fields: dict[str, Any] = {
        "status": "final",
        "category": category(OBSERVATION_CATEGORY, "survey", "Survey"),
        "code": {
            "coding": [{"system": ASSESSMENT_SCORE, "code": code, "display": text}],
            "text": text,
        },
        "subject": chart.subject(),
    }
    if encounter is not None:
        fields["encounter"] = chart.ref(encounter)
    fields["effectiveDateTime"] = stamp(when)
    fields["valueInteger"] = value
    chart.new("Observation", **fields)


# --- labs, reports, procedures, devices -----------------------------------------------------------


def lab_line(values: dict[str, float], female: bool) -> str:
    """Return the latest results as a note writes them."""
    if not values:
        return "Afventer blodprøvesvar"
    parts = []
    for key in ("hb", "crp", "leuk", "krea", "na", "k"):
        analyte = labs.ANALYTES[key]
        parts.append(f"{analyte.short} {labs.format_value(analyte, values[key])}")
    return ", ".join(parts)


def lab_order(
    ctx: Context,
    course: Course,
    when: dt.datetime,
    encounter: Resource | None,
    analytes: tuple[str, ...],
    status: str,
    lab: Department,
) -> Resource:
    """Add a laboratory ServiceRequest (completed, active = pending, or revoked)."""
    chart = ctx.chart
    names = ", ".join(labs.ANALYTES[key].short for key in analytes)
    fields: dict[str, Any] = {
        "status": status,
        "intent": "order",
        "category": category(SNOMED, "108252007", "Laboratory procedure"),
        "code": text_concept(f"Blodprøver: {names}"),
        "subject": chart.subject(),
    }
    if encounter is not None:
        fields["encounter"] = chart.ref(encounter)
    fields["occurrenceDateTime"] = stamp(when)
    fields["authoredOn"] = stamp(when - dt.timedelta(hours=1) if when < chart.now else chart.now)
    fields["requester"] = course.doctor.reference()
    fields["performer"] = [lab.reference()]
    return chart.new("ServiceRequest", **fields)


def lab_draw(
    ctx: Context,
    course: Course,
    when: dt.datetime,
    encounter: Resource | None,
    day_number: int,
    ordering: Department,
) -> None:
    """Add a blood sample: the order and one Observation per analysis."""
    chart = ctx.chart
    rng = chart.rng
    lab = department(ordering.hospital, "biokemi")
    analytes: tuple[str, ...] = labs.STANDARD_PANEL
    if "warfarin" in ctx.comorbid:
        analytes += ("inr",)
    if day_number == 0 and ctx.person.age >= 75:
        analytes += ("albumin",)
    if ("diabetes" in ctx.comorbid or course.scenario.key in ("fodsaar", "graviditet")) and (
        day_number == 0 or encounter is None
    ):
        analytes += ("hba1c", "glukose")
    order = lab_order(ctx, course, when, encounter, analytes, "completed", lab)
    values = labs.values(ctx.base, course.scenario.acute, day_number, rng)
    course.last_values = values
    effective = stamp(when)
    issued = stamp(when + dt.timedelta(minutes=rng.randint(50, 150)))
    laboratory = category(OBSERVATION_CATEGORY, "laboratory", "Laboratory")
    for key in analytes:
        analyte = labs.ANALYTES[key]
        fields: dict[str, Any] = {
            "basedOn": [chart.ref(order)],
            "status": "final",
            "category": laboratory,
            "code": labs.code(analyte),
            "subject": chart.subject(),
        }
        if encounter is not None:
            fields["encounter"] = chart.ref(encounter)
        fields["effectiveDateTime"] = effective
        fields["issued"] = issued
        fields["performer"] = [lab.reference()]
        fields.update(labs.result(analyte, values[key], female=ctx.base.female))
        chart.new("Observation", **fields)
