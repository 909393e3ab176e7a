"""One citizen's clinical story: background, hospital courses, and what comes next.

A citizen gets a background (problem list, history, allergies, alerts), one primary hospital
course (most ended within the last four weeks, some are still admitted, some are older) and,
for a "rich" tenth, older courses too. A course writes every part of the chart: contacts,
notes, lab orders and results, procedures, drains and lines, reports, forms, diagnoses, the
discharge summary, messages and referrals to the municipality, appointments and plans.
"""

# ruff: noqa: RUF001 - Danish clinical text writes the en dash and the multiplication sign

from __future__ import annotations

import datetime as dt
from typing import Any

from indblik.records.synth import (
    background,
    documents,
    hospital,
    labs,
    measurements,
    organisations,
    people,
    story,
    texts,
    writing,
)
from indblik.records.synth.chart import Chart, day, stamp
from indblik.records.synth.organisations import department, staff
from indblik.records.synth.people import Person
from indblik.records.synth.scenarios import (
    BY_KEY,
    COMORBIDITIES,
    SCENARIOS,
    Scenario,
)
from indblik.records.synth.story import Context, Course
from indblik.records.synth.terminology import (
    EPISODE_TYPE,
    ICD10,
    SNOMED,
    Resource,
    category,
    concept,
    text_concept,
)

_APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
_PLANNED = {
    "kol": "Spirometri – kontrol",
    "hjertesvigt": "Ekkokardiografi – kontrol om 3 måneder",
    "hoftefraktur": "Fjernelse af agraffer",
    "urosepsis": "Seponeringsforsøg af KAD",
    "lungekraeft": "Kemoterapi, serie 4 af 4",
    "tyktarmskraeft": "Fjernelse af agraffer og sårkontrol",
    "apopleksi": "Skift af PEG-sonde",
    "pneumoni-demens": "Røntgen af thorax – kontrol om 6 uger",
    "fodsaar": "Sårrevision – kontrol",
    "pneumoni": "Røntgen af thorax – kontrol om 6 uger",
    "graviditet": "Tilvækstscanning i uge 32",
}


# --- the story ------------------------------------------------------------------------------------


def write_story(chart: Chart, person: Person, patient: Resource) -> None:
    """Write every clinical resource of one citizen into ``chart``."""
    rng = chart.rng
    comorbid = _comorbidities(chart, person)
    warfarin = "af" in comorbid and chart.chance(0.35)
    if warfarin:
        comorbid.add("warfarin")
    base = labs.baseline(
        rng,
        female=person.female,
        age=person.age,
        ckd="ckd" in comorbid,
        diabetes="diabetes" in comorbid,
        anaemia="ckd" in comorbid or chart.chance(0.08),
        warfarin=warfarin,
    )
    ctx = Context(chart, person, patient, base, comorbid)
    background.write_background(ctx)
    scenarios = _pick_scenarios(chart, person)
    primary = scenarios[0]
    timing = rng.random()
    ctx.dies = chart.chance(story.DECEASED) and timing >= story.CURRENTLY_ADMITTED
    # Older courses first, so that the record reads in time order.
    for older in reversed(scenarios[1:]):
        end = chart.at(
            (chart.now - dt.timedelta(days=rng.randint(120, 1000))).date(), rng.randint(10, 15)
        )
        _course(ctx, older, end=end, current=False, primary=False)
    if timing < story.CURRENTLY_ADMITTED and primary.los[1] > 0:
        _course(ctx, primary, end=None, current=True, primary=True)
    elif timing < story.CURRENTLY_ADMITTED + story.RECENT:
        end = chart.at(
            (chart.now - dt.timedelta(days=rng.randint(1, 26))).date(), rng.randint(10, 15)
        )
        _course(ctx, primary, end=end, current=False, primary=True)
    else:
        end = chart.at(
            (chart.now - dt.timedelta(days=rng.randint(40, 300))).date(), rng.randint(10, 15)
        )
        _course(ctx, primary, end=end, current=False, primary=True)
    if chart.chance(story.RELATED_PERSON):
        people.related_person(chart, person)
    if chart.chance(story.CONSENT):
        background.consent(ctx)


def _pick_scenarios(chart: Chart, person: Person) -> list[Scenario]:
    fitting = [
        s
        for s in SCENARIOS
        if s.ages[0] <= person.age <= s.ages[1] and (person.female or not s.female_only)
    ]
    if not fitting:
        fitting = [BY_KEY["kol"]]
    rng = chart.rng
    count = 1 + (rng.randint(1, 2) if chart.chance(story.RICH) else 0)
    chosen = [rng.choices(fitting, weights=[s.weight for s in fitting])[0]]
    # Older courses are admissions: an outpatient-only scenario is never repeated as history.
    others = [s for s in fitting if s not in chosen and s.los[1] > 0]
    while len(chosen) < count and others:
        candidate = rng.choices(others, weights=[s.weight for s in others])[0]
        chosen.append(candidate)
        others.remove(candidate)
    return chosen


def _comorbidities(chart: Chart, person: Person) -> set[str]:
    scale = 1.0 if person.age >= 65 else 0.35 if person.age >= 40 else 0.1
    found = set()
    for key, _dx, probability in COMORBIDITIES:
        if key == "dementia" and person.age < 75:
            continue
        if key == "osteoporosis" and not person.female:
            probability /= 3
        if chart.chance(probability * scale):
            found.add(key)
    return found


# --- one course -----------------------------------------------------------------------------------


def _course(
    ctx: Context, scenario: Scenario, *, end: dt.datetime | None, current: bool, primary: bool
) -> None:
    chart, person = ctx.chart, ctx.person
    rng = chart.rng
    home = person.address.hospital
    dept = department(home, scenario.specialty)
    clinic = (
        department(home, scenario.outpatient_specialty) if scenario.outpatient_specialty else dept
    )
    outpatient_only = scenario.los[1] == 0
    if current:
        start = chart.now - dt.timedelta(days=rng.randint(1, 5), hours=rng.randint(1, 12))
    else:
        assert end is not None
        los = rng.randint(*scenario.los) if not outpatient_only else 0
        start = end - dt.timedelta(days=los, hours=rng.randint(2, 9))
    condition = background.condition(
        chart,
        scenario.diagnosis,
        onset=start,
        kind="problem-list-item" if outpatient_only else "encounter-diagnosis",
        resolved=None if current or primary else end,
    )
    course = Course(
        scenario=scenario,
        side=rng.choice(("højre", "venstre")),
        dept=dept,
        clinic=clinic,
        start=start,
        end=None if current else end,
        primary=primary,
        doctor=rng.choice(staff(dept, "doctor")),
        nurses=staff(dept, "nurse"),
        condition=condition,
    )
    complaint = course.fill(rng.choice(scenario.complaints))
    for dx in scenario.extra_diagnoses:
        if dx.icd == "F03" and "dementia" in ctx.comorbid:
            continue
        background.condition(
            chart,
            dx,
            onset=start,
            kind="encounter-diagnosis",
            resolved=None if current or primary else end,
        )
    if not scenario.emergency or chart.chance(0.3):
        course.gp_referral = _gp_referral(ctx, course, complaint)
    course.episode = _episode(ctx, course)
    for flag in scenario.flags:
        ctx.flags.add(flag)
    # Outpatient visits before the admission (or the whole course, if it has no admission).
    visits = rng.randint(1, 2) if not outpatient_only else rng.randint(2, 4)
    if not primary:
        visits = rng.randint(0, 2)
    for n in range(visits, 0, -1):
        before = 21 * (n - 1) if outpatient_only else 14 * n + rng.randint(0, 6)
        when = chart.at((start - dt.timedelta(days=before)).date(), rng.randint(8, 14))
        hospital.outpatient_visit(
            ctx, course, when, photo_stage=max(0, 2 - n) if scenario.wound_photos else None
        )
    for spec in scenario.procedures:
        if spec.day < 0 and chart.chance(spec.probability):
            hospital.procedure(
                ctx, course, spec, start + dt.timedelta(days=spec.day), encounter=None
            )
    if not outpatient_only:
        if scenario.emergency:
            hospital.emergency(ctx, course, complaint)
        hospital.admission(ctx, course, complaint)
    else:
        for imaging in scenario.imaging:
            hospital.report(ctx, course, imaging, start - dt.timedelta(days=rng.randint(1, 40)))
    finished = course.end or chart.now
    if primary:
        _after(ctx, course, finished)
    else:
        hospital.outpatient_visit(
            ctx,
            course,
            chart.at((finished + dt.timedelta(days=30)).date(), 10),
            photo_stage=3 if scenario.wound_photos else None,
        )
        if course.episode is not None:
            course.episode["status"] = "finished"
            course.episode["period"]["end"] = stamp(finished + dt.timedelta(days=30))
    if primary:
        background.flags(ctx, course)


def _gp_referral(ctx: Context, course: Course, complaint: str) -> Resource:
    chart, person = ctx.chart, ctx.person
    authored = course.start - dt.timedelta(days=chart.rng.randint(20, 60))
    cancer = "Kræftpakke" in course.scenario.episode
    return chart.new(
        "ServiceRequest",
        status="completed",
        intent="order",
        category=category(SNOMED, "3457005", "Patient referral"),
        priority="urgent" if cancer else "routine",
        code=text_concept(
            "Henvisning i kræftpakkeforløb" if cancer else "Henvisning til ambulant udredning"
        ),
        subject=chart.subject(),
        authoredOn=stamp(chart.at(authored.date(), chart.rng.randint(9, 15))),
        requester=person.gp.reference(),
        performer=[course.clinic.reference()],
        reasonCode=[concept(ICD10, course.scenario.diagnosis.icd, course.scenario.diagnosis.text)],
        note=[{"text": f"Henvises med {complaint}. Venligst vurdering og behandling."}],
    )


def _episode(ctx: Context, course: Course) -> Resource:
    chart = ctx.chart
    scenario = course.scenario
    start = course.start - dt.timedelta(days=45 if scenario.los[1] else 120)
    fields: dict[str, Any] = {
        "status": "active",
        "type": [
            {
                "coding": [
                    {"system": EPISODE_TYPE, "code": scenario.key, "display": scenario.episode}
                ],
                "text": scenario.episode,
            }
        ],
        "diagnosis": [{"condition": chart.ref(course.condition), "rank": 1}],
        "patient": chart.subject(),
        "managingOrganization": course.clinic.reference(),
        "period": {"start": stamp(start)},
    }
    if course.gp_referral is not None:
        fields["referralRequest"] = [chart.ref(course.gp_referral)]
    fields["careManager"] = course.doctor.reference()
    return chart.new("EpisodeOfCare", **fields)


# --- what comes next: appointments, plans, documents, alerts --------------------------------------


def _after(ctx: Context, course: Course, finished: dt.datetime) -> None:
    chart, person = ctx.chart, ctx.person
    rng = chart.rng
    scenario = course.scenario
    death = None
    if ctx.dies and course.end is not None:
        gap = max(1, (chart.now - course.end).days - 1)
        death = min(
            course.end + dt.timedelta(days=rng.randint(1, gap), hours=rng.randint(1, 12)),
            chart.now - dt.timedelta(hours=2),
        )
        people.mark_deceased(ctx.patient, death)
        if course.episode is not None:
            course.episode["status"] = "finished"
            course.episode["period"]["end"] = stamp(death)
    # Pending and cancelled lab orders.
    lab = department(course.dept.hospital, "biokemi")
    if chart.chance(0.45):
        when = chart.at((chart.now + dt.timedelta(days=rng.randint(2, 20))).date(), 8, 0)
        measurements.lab_order(
            ctx,
            course,
            when,
            None,
            ("hb", "na", "k", "krea", "egfr", "crp"),
            "revoked" if death else "active",
            lab,
        )
    if chart.chance(0.1):
        when = chart.at((finished - dt.timedelta(days=rng.randint(0, 3))).date(), 8, 0)
        measurements.lab_order(
            ctx, course, min(when, chart.now), course.encounter, ("inr",), "revoked", lab
        )
    # A procedure ordered for later.
    if chart.chance(0.5):
        chart.new(
            "ServiceRequest",
            status="revoked" if death else "active",
            intent="order",
            category=category(SNOMED, "387713003", "Surgical procedure"),
            code=text_concept(_PLANNED[scenario.key]),
            subject=chart.subject(),
            occurrenceDateTime=stamp(
                chart.at((chart.now + dt.timedelta(days=rng.randint(7, 90))).date(), 9)
            ),
            authoredOn=stamp(finished - dt.timedelta(hours=3)),
            requester=course.doctor.reference(),
        )
    # Appointments ahead, and the letter that calls the citizen in.
    location = organisations.location_id(course.clinic)
    count = rng.randint(1, 3)
    for n in range(count):
        start = chart.at(
            (chart.now + dt.timedelta(days=rng.randint(3, 30) + 30 * n)).date(), rng.randint(8, 15)
        )
        cancelled = death is not None or chart.chance(0.08)
        reason = (
            "Ambulant kontrol"
            if n == 0
            else rng.choice(
                (
                    "Blodprøvekontrol",
                    "Samtale om behandlingsplan",
                    "Telefonkonsultation",
                    "Kontrolscanning",
                )
            )
        )
        appointment = chart.new(
            "Appointment",
            status="cancelled" if cancelled else "booked",
            **(
                {
                    "cancelationReason": text_concept(
                        "Pt. er afgået ved døden"
                        if death
                        else "Aflyst af afdelingen – ny tid følger"
                    )
                }
                if cancelled
                else {}
            ),
            serviceType=[text_concept(course.clinic.name.split(",")[0])],
            appointmentType={
                "coding": [
                    {
                        "system": _APPOINTMENT_TYPE,
                        "code": "FOLLOWUP",
                        "display": "A follow up visit from a previous appointment",
                    }
                ]
            },
            reasonReference=[chart.ref(course.condition)],
            description=reason,
            start=stamp(start),
            end=stamp(start + dt.timedelta(minutes=30)),
            created=stamp(min(finished, chart.now - dt.timedelta(hours=1))),
            comment="Husk medicinliste. Pårørende er velkomne.",
            participant=[
                {"actor": chart.subject(), "required": "required", "status": "accepted"},
                {
                    "actor": rng.choice(staff(course.clinic, "doctor")).reference(),
                    "required": "required",
                    "status": "accepted",
                },
                {
                    "actor": {
                        "reference": f"Location/{location}",
                        "display": f"Ambulatorium, {course.clinic.name}",
                    },
                    "required": "required",
                    "status": "accepted",
                },
            ],
        )
        if n == 0 and not cancelled:
            letter = texts.appointment_letter(
                person=person,
                where=f"Ambulatoriet, {course.clinic.name}",
                when=start,
                reason=reason,
            )
            sent = min(finished + dt.timedelta(hours=20), chart.now - dt.timedelta(hours=1))
            writing.document(
                ctx,
                title="Indkaldelse til ambulant kontrol",
                type_code=("51852-2", "Letter"),
                text=letter,
                author=course.doctor,
                when=sent,
                encounter=None,
                related=[chart.ref(appointment)],
            )
    # The care plan and its goals.
    spec = scenario.care_plan
    created = finished - dt.timedelta(hours=3) if course.end else chart.now - dt.timedelta(hours=5)
    goals = []
    for text in spec.goals:
        goals.append(
            chart.new(
                "Goal",
                lifecycleStatus="cancelled" if death else "active",
                achievementStatus=concept(
                    "http://terminology.hl7.org/CodeSystem/goal-achievement",
                    "in-progress",
                    "In Progress",
                    "I gang",
                ),
                description=text_concept(text),
                subject=chart.subject(),
                startDate=day(created),
                target=[{"dueDate": day(created + dt.timedelta(days=rng.choice((28, 56, 90))))}],
                addresses=[chart.ref(course.condition)],
            )
        )
    chart.new(
        "CarePlan",
        status="revoked" if death else "active",
        intent="plan",
        category=[text_concept("Pleje- og behandlingsplan")],
        title=spec.title,
        description=f"{spec.title} for {scenario.diagnosis.text.lower()}.",
        subject=chart.subject(),
        **({"encounter": chart.ref(course.encounter)} if course.encounter else {}),
        period={"start": stamp(created)},
        created=stamp(created),
        author=course.doctor.reference(),
        addresses=[chart.ref(course.condition)],
        goal=[chart.ref(goal) for goal in goals],
        activity=[
            {
                "detail": {
                    "kind": "Task",
                    "code": text_concept(activity),
                    "status": "in-progress" if i == 0 else "scheduled",
                    "description": activity,
                }
            }
            for i, activity in enumerate(spec.activities)
        ],
    )
    if scenario.los[1] == 0:
        # No admission, so no discharge: the municipality is told at a visit.
        writing.referral(
            ctx,
            course,
            person.municipality,
            scenario.municipal_referral,
            finished - dt.timedelta(hours=1),
        )
    # Uploaded documents and images.
    if chart.chance(0.7):
        title, lines = texts.uploaded_document(rng, person)
        when = course.start - dt.timedelta(days=rng.randint(1, 30))
        pdf = documents.pdf(title, lines, created=stamp(when))
        writing.uploaded(ctx, title, "application/pdf", pdf, when)
    if chart.chance(0.25):
        when = course.start + dt.timedelta(hours=1)
        writing.uploaded(
            ctx, "Scannet EKG fra egen læge", "image/png", documents.ecg_scan_png(), when
        )
    if scenario.wound_photos and course.end is not None:
        writing.wound_photo(ctx, course, course.end - dt.timedelta(hours=5), course.encounter, 1)
    elif chart.chance(0.08):
        writing.pressure_sore_photo(ctx, course)
