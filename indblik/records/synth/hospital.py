"""Hospital contacts: emergency, admission, discharge and outpatient visits, with their
reports, procedures and drains, catheters and lines."""

# ruff: noqa: RUF001 - Danish clinical text writes the en dash and the multiplication sign

from __future__ import annotations

import datetime as dt
from typing import Any

from indblik.records.synth import (
    measurements,
    organisations,
    story,
    texts,
    writing,
)
from indblik.records.synth.chart import stamp
from indblik.records.synth.organisations import Department, Org, Staff, department, staff
from indblik.records.synth.scenarios import (
    MEDICINE_CHANGES,
    DeviceSpec,
    ImagingSpec,
    ProcedureSpec,
)
from indblik.records.synth.story import Context, Course
from indblik.records.synth.terminology import (
    DIAGNOSTIC_SERVICE,
    DISCHARGE_DISPOSITION,
    ICD10,
    LOINC,
    SNOMED,
    Resource,
    category,
    concept,
    text_concept,
)

_ACT_ENCOUNTER = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLASSES = {
    "IMP": {"system": _ACT_ENCOUNTER, "code": "IMP", "display": "inpatient encounter"},
    "AMB": {"system": _ACT_ENCOUNTER, "code": "AMB", "display": "ambulatory"},
    "EMER": {"system": _ACT_ENCOUNTER, "code": "EMER", "display": "emergency"},
}
_DICOM = "http://dicom.nema.org/resources/ontology/DCM"
_SERVICES = {
    "RAD": "Radiology",
    "PAT": "Pathology (gross & histopath, not surgical)",
    "CUS": "Cardiac Ultrasound",
    "OUS": "OB Ultrasound",
}


# --- contacts -------------------------------------------------------------------------------------


def contact(
    ctx: Context,
    course: Course,
    kind: str,
    dept: Department,
    start: dt.datetime,
    end: dt.datetime | None,
    doctor: Staff,
    *,
    origin: Org | None = None,
    disposition: str | None = None,
) -> Resource:
    """Add an Encounter (IMP, AMB or EMER) at a department."""
    chart = ctx.chart
    period = {"start": stamp(start)}
    if end is not None:
        period["end"] = stamp(end)
    type_text = {"IMP": "Indlæggelse", "AMB": "Ambulant besøg", "EMER": "Akut kontakt"}[kind]
    fields: dict[str, Any] = {
        "status": "finished" if end is not None else "in-progress",
        "class": _CLASSES[kind],
        "type": [text_concept(type_text)],
        "subject": chart.subject(),
    }
    if course.episode is not None:
        fields["episodeOfCare"] = [chart.ref(course.episode)]
    fields["participant"] = [{"individual": doctor.reference()}]
    fields["period"] = period
    fields["reasonCode"] = [
        concept(ICD10, course.scenario.diagnosis.icd, course.scenario.diagnosis.text)
    ]
    if origin is not None or disposition is not None:
        hospitalization: dict[str, Any] = {}
        if origin is not None:
            hospitalization["origin"] = origin.reference()
        if disposition is not None:
            hospitalization["dischargeDisposition"] = {
                "coding": [{"system": DISCHARGE_DISPOSITION, "code": "home", "display": "Home"}],
                "text": disposition,
            }
        fields["hospitalization"] = hospitalization
    fields["serviceProvider"] = dept.reference()
    return chart.new("Encounter", **fields)


def emergency(ctx: Context, course: Course, complaint: str) -> None:
    """Add the emergency contact before an admission: vital signs, note, first blood tests."""
    chart, person = ctx.chart, ctx.person
    rng = chart.rng
    akut = department(person.address.hospital, "akut")
    arrival = course.start - dt.timedelta(hours=rng.randint(3, 7))
    origin = organisations.EMERGENCY_LINE if chart.chance(0.4) else None
    doctor = rng.choice(staff(akut, "doctor"))
    encounter = contact(ctx, course, "EMER", akut, arrival, course.start, doctor, origin=origin)
    vitals = measurements.draw_vitals(ctx, course, 1.0)
    measurements.record_vitals(ctx, course, arrival + dt.timedelta(minutes=15), vitals, encounter)
    arrived_by = (
        "Akuttelefonen 1813" if origin else rng.choice(("egen læge", "112 (ambulance)", "vagtlæge"))
    )
    text = texts.emergency_note(
        person=person,
        arrived_by=arrived_by,
        complaint=complaint,
        vitals=vitals,
        suspicion=course.scenario.assessment,
        ward=course.dept,
        doctor=doctor,
    )
    writing.note(
        ctx,
        "Akutmodtagelse – journalnotat",
        "emergency",
        text,
        doctor,
        arrival + dt.timedelta(minutes=50),
        encounter,
    )
    measurements.lab_draw(ctx, course, arrival + dt.timedelta(minutes=30), encounter, 0, akut)


def admission(ctx: Context, course: Course, complaint: str) -> None:
    """Add an admission day by day: notes, labs, vitals, reports, procedures, drains and lines."""
    chart, person = ctx.chart, ctx.person
    rng = chart.rng
    scenario = course.scenario
    dept, doctor, start, end = course.dept, course.doctor, course.start, course.end
    disposition = None
    if end is not None:
        disposition = (
            "Udskrevet til eget hjem med hjemmepleje"
            if person.home_care
            else "Udskrevet til eget hjem"
        )
    encounter = contact(ctx, course, "IMP", dept, start, end, doctor, disposition=disposition)
    course.encounter = encounter
    course.condition["encounter"] = chart.ref(encounter)
    last = end or chart.now
    los_days = max(0, (last.date() - start.date()).days)
    if person.home_care and course.primary:
        writing.message(
            ctx,
            course,
            "Indlæggelsesrapport",
            texts.admission_message(
                person=person, dept=dept, when=start, complaint=complaint.split(";")[0]
            ),
            start + dt.timedelta(hours=2),
            [person.municipality],
        )
    # Day 0: admission note, vital signs, labs unless the emergency department drew them.
    vitals = measurements.draw_vitals(ctx, course, 0.9 if scenario.emergency else 0.0)
    measurements.record_vitals(ctx, course, start + dt.timedelta(minutes=40), vitals, encounter)
    if not scenario.emergency:
        measurements.lab_draw(ctx, course, start + dt.timedelta(minutes=45), encounter, 0, dept)
    lab_line = measurements.lab_line(course.last_values, ctx.base.female)
    history = ", ".join(ctx.history) if ctx.history else "Ingen væsentlige"
    writing.note(
        ctx,
        "Indlæggelsesnotat",
        "admission",
        texts.admission_note(
            person=person,
            dept=dept,
            complaint=complaint,
            history=history,
            medicines=ctx.medicines,
            allergy=ctx.allergy,
            objective=course.fill(rng.choice(scenario.objective)),
            vitals=vitals,
            labs=lab_line,
            assessment=course.fill(scenario.assessment),
            plan=scenario.plan,
            resuscitation=ctx.resuscitation,
            doctor=doctor,
        ),
        doctor,
        start + dt.timedelta(hours=2),
        encounter,
    )
    # The days of the stay.
    draw_days = {d for d in (1, 2, 4, 6, 9, 13) if d < los_days} | (
        {los_days} if los_days else set()
    )
    for number in range(0, los_days + 1):
        moment = start + dt.timedelta(days=number)
        previous_crp = course.last_values.get("crp", 0.0)
        when = chart.at(moment.date(), 7, 30)
        if number in draw_days and when < chart.now:
            measurements.lab_draw(ctx, course, when, encounter, number, dept)
        nurse = rng.choice(course.nurses)
        evening = chart.at(moment.date(), 21, 30)
        if evening < chart.now and evening > start and (number % 2 == 0 or number == los_days - 1):
            severity = max(0.0, 0.8 - 0.25 * number)
            writing.note(
                ctx,
                "Sygeplejenotat",
                "nursing",
                texts.nursing_note(
                    rng,
                    tuple(course.fill(s) for s in scenario.nursing),
                    measurements.draw_vitals(ctx, course, severity),
                    nurse,
                ),
                nurse,
                evening,
                encounter,
            )
        rounds = chart.at(moment.date(), 11, 15)
        if number in (1, 3) and rounds < chart.now and number < los_days:
            falling = course.last_values.get("crp", 0.0) < previous_crp
            writing.note(
                ctx,
                "Stuegangsnotat",
                "progress",
                texts.ward_round_note(
                    rng,
                    day_number=number + 1,
                    labs=measurements.lab_line(course.last_values, ctx.base.female),
                    trend="faldende infektionstal" if falling else "stabile værdier",
                    days_left=los_days - number,
                    doctor=doctor,
                ),
                doctor,
                rounds,
                encounter,
            )
    if person.age >= 65 and los_days >= 2:
        therapist = rng.choice(staff(dept, "therapist"))
        when = chart.at((start + dt.timedelta(days=1)).date(), 13)
        if when < chart.now:
            writing.note(
                ctx,
                therapist.title,
                "therapy",
                texts.therapist_note(rng, therapist),
                therapist,
                when,
                encounter,
            )
    if los_days >= 2 and chart.chance(
        story.PSYCHIATRIC_NOTE + (0.3 if "depression" in ctx.comorbid else 0)
    ):
        psychiatrist = rng.choice(staff(organisations.PSYCHIATRY, "doctor"))
        when = chart.at((start + dt.timedelta(days=2)).date(), 14)
        if when < chart.now:
            writing.note(
                ctx,
                "Psykiatrisk tilsyn",
                "consult",
                texts.psychiatric_note(rng, psychiatrist),
                psychiatrist,
                when,
                encounter,
                restricted=True,
            )
    # Reports, procedures, drains and lines.
    for n, imaging in enumerate(scenario.imaging):
        when = start + dt.timedelta(hours=3 + 20 * n)
        if when < chart.now:
            report(ctx, course, imaging, when, encounter)
    for spec in scenario.procedures:
        if 0 <= spec.day <= los_days and chart.chance(spec.probability):
            when = start + dt.timedelta(days=spec.day, hours=2)
            if when < chart.now:
                procedure(ctx, course, spec, when, encounter)
    for device_spec in scenario.devices:
        if chart.chance(device_spec.probability):
            placed = start + dt.timedelta(days=device_spec.day, minutes=55)
            if placed < chart.now:
                place_device(ctx, course, device_spec, placed, encounter)
    if end is not None:
        discharge(ctx, course, complaint, encounter, los_days)
        if person.age >= 65:
            measurements.score(
                ctx,
                "barthel100",
                "Barthel-100 (funktionsevne)",
                rng.randint(35, 90),
                end - dt.timedelta(hours=3),
                encounter,
            )


def discharge(
    ctx: Context, course: Course, complaint: str, encounter: Resource, los_days: int
) -> None:
    """Add the discharge: nurse's note, epikrise, messages and referrals onwards."""
    chart, person = ctx.chart, ctx.person
    rng = chart.rng
    assert course.end is not None
    end = course.end
    scenario = course.scenario
    nurse = rng.choice(course.nurses)
    writing.note(
        ctx,
        "Udskrivningsnotat – sygepleje",
        "nursing",
        texts.discharge_nursing_note(when=end, municipality=person.municipality.name, nurse=nurse),
        nurse,
        end,
        encounter,
    )
    vitals = measurements.draw_vitals(ctx, course, 0.05)
    measurements.record_vitals(ctx, course, end - dt.timedelta(hours=4), vitals, encounter)
    diagnoses = [f"{scenario.diagnosis.icd} {scenario.diagnosis.text}"]
    diagnoses += [f"{dx.icd} {dx.text}" for dx in scenario.extra_diagnoses[:1]]
    summary_text = texts.discharge_summary(
        person=person,
        dept=course.dept,
        start=course.start,
        end=end,
        diagnoses=diagnoses,
        complaint=complaint,
        course=scenario.course,
        labs=measurements.lab_line(course.last_values, ctx.base.female),
        medicine_changes=MEDICINE_CHANGES.get(scenario.key, "Ingen.") + " Se i øvrigt FMK.",
        follow_up=scenario.follow_up,
        gp_name=person.gp.name,
        doctor=course.doctor,
    )
    summary = writing.document(
        ctx,
        title="Epikrise",
        type_code=("18842-5", "Discharge summary"),
        text=summary_text,
        author=course.doctor,
        when=end + dt.timedelta(hours=1),
        encounter=encounter,
        related=[person.gp.reference()],
    )
    sent = end + dt.timedelta(hours=rng.randint(2, 20))
    if sent < chart.now:
        writing.message(
            ctx,
            course,
            "Epikrise",
            f"Epikrise sendt til {person.gp.name}.",
            sent,
            [person.gp],
            about=summary,
        )
    if course.primary:
        if person.home_care:
            writing.message(
                ctx,
                course,
                "Udskrivningsrapport",
                texts.discharge_message(
                    person=person,
                    dept=course.dept,
                    when=end,
                    message=scenario.municipal_message,
                    nurse=nurse,
                ),
                end - dt.timedelta(hours=1),
                [person.municipality],
            )
        writing.referral(
            ctx,
            course,
            person.municipality,
            scenario.municipal_referral,
            end - dt.timedelta(hours=2),
        )
        if person.address.municipality.code == "0101" and chart.chance(story.NEAR_CLINIC):
            text = (
                "Henvisning til Nærklinik Amager: opfølgning efter udskrivelse med kontrol af "
                "almentilstand, blodprøver og medicin inden for 7 dage."
            )
            writing.referral(
                ctx, course, organisations.NEAR_CLINIC, text, end - dt.timedelta(hours=1)
            )
            writing.message(
                ctx, course, "Henvendelse til nærklinik", text, end, [organisations.NEAR_CLINIC]
            )
        if chart.chance(scenario.hospice):
            text = (
                "Henvisning til hospice: pt. med fremskreden sygdom og behov for lindring; pt. og "
                "pårørende ønsker hospiceophold."
            )
            writing.referral(ctx, course, organisations.HOSPICE, text, end)
            writing.message(
                ctx,
                course,
                "Henvendelse om hospiceplads",
                text,
                end + dt.timedelta(hours=1),
                [organisations.HOSPICE],
            )
            ctx.flags.add("dnr")


def report(
    ctx: Context,
    course: Course,
    spec: ImagingSpec,
    when: dt.datetime,
    encounter: Resource | None = None,
) -> None:
    """Add a DiagnosticReport with its Danish conclusion (and sometimes an ImagingStudy)."""
    chart = ctx.chart
    rng = chart.rng
    reporting = department(
        course.dept.hospital, "patologi" if spec.service == "PAT" else "radiologi"
    )
    interpreter = rng.choice(staff(reporting, "doctor"))
    study = None
    if spec.modality and chart.chance(0.6):
        uid = f"2.25.{rng.getrandbits(100)}"
        study = chart.new(
            "ImagingStudy",
            identifier=[{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
            status="available",
            modality=[{"system": _DICOM, "code": spec.modality}],
            subject=chart.subject(),
            started=stamp(when),
            numberOfSeries=1,
            numberOfInstances=rng.randint(2, 400) if spec.modality == "CT" else rng.randint(1, 4),
            description=course.fill(spec.title),
            series=[
                {
                    "uid": f"{uid}.1",
                    "modality": {"system": _DICOM, "code": spec.modality},
                    "numberOfInstances": 1,
                }
            ],
        )
    title = course.fill(spec.title)
    code = (
        {
            "coding": [{"system": LOINC, "code": spec.loinc[0], "display": spec.loinc[1]}],
            "text": title,
        }
        if spec.loinc
        else text_concept(title)
    )
    fields: dict[str, Any] = {
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": DIAGNOSTIC_SERVICE,
                        "code": spec.service,
                        "display": _SERVICES[spec.service],
                    }
                ]
            }
        ],
        "code": code,
        "subject": chart.subject(),
    }
    if encounter is not None:
        fields["encounter"] = chart.ref(encounter)
    fields["effectiveDateTime"] = stamp(when)
    fields["issued"] = stamp(
        when + dt.timedelta(hours=rng.randint(2, 30 if spec.service == "PAT" else 6))
    )
    fields["performer"] = [reporting.reference()]
    fields["resultsInterpreter"] = [interpreter.reference()]
    if study is not None:
        fields["imagingStudy"] = [chart.ref(study)]
    fields["conclusion"] = course.fill(rng.choice(spec.conclusions))
    chart.new("DiagnosticReport", **fields)


def procedure(
    ctx: Context, course: Course, spec: ProcedureSpec, when: dt.datetime, encounter: Resource | None
) -> None:
    """Add a Procedure and the ServiceRequest that ordered it."""
    chart = ctx.chart
    code = (
        {
            "coding": [{"system": SNOMED, "code": spec.snomed[0], "display": spec.snomed[1]}],
            "text": spec.text,
        }
        if spec.snomed
        else text_concept(spec.text)
    )
    order = chart.new(
        "ServiceRequest",
        status="completed" if spec.status != "not-done" else "revoked",
        intent="order",
        category=category(SNOMED, "387713003", "Surgical procedure"),
        code=code,
        subject=chart.subject(),
        occurrenceDateTime=stamp(when),
        authoredOn=stamp(when - dt.timedelta(hours=chart.rng.randint(2, 30))),
        requester=course.doctor.reference(),
    )
    fields: dict[str, Any] = {"basedOn": [chart.ref(order)], "status": spec.status}
    if spec.reason_not_done:
        fields["statusReason"] = text_concept(spec.reason_not_done)
    fields["code"] = code
    fields["subject"] = chart.subject()
    if encounter is not None:
        fields["encounter"] = chart.ref(encounter)
    if spec.status == "in-progress":
        fields["performedPeriod"] = {"start": stamp(when)}
    else:
        fields["performedDateTime"] = stamp(when)
    fields["performer"] = [{"actor": course.doctor.reference()}]
    chart.new("Procedure", **fields)


def place_device(
    ctx: Context, course: Course, spec: DeviceSpec, placed: dt.datetime, encounter: Resource
) -> None:
    """Add a drain, catheter or line: Device and DeviceUseStatement (removed or still in place)."""
    chart = ctx.chart
    kept = course.end is None or chart.chance(spec.kept)
    device_type = (
        {
            "coding": [{"system": SNOMED, "code": spec.snomed[0], "display": spec.snomed[1]}],
            "text": spec.name,
        }
        if spec.snomed
        else text_concept(spec.name)
    )
    device = chart.new(
        "Device",
        status="active" if kept else "inactive",
        deviceName=[{"name": spec.name, "type": "user-friendly-name"}],
        type=device_type,
        patient=chart.subject(),
    )
    site = (
        {
            "coding": [
                {"system": SNOMED, "code": spec.site_snomed[0], "display": spec.site_snomed[1]}
            ],
            "text": spec.body_site,
        }
        if spec.site_snomed
        else text_concept(spec.body_site)
    )
    period = {"start": stamp(placed)}
    if not kept:
        assert course.end is not None
        removed = min(course.end - dt.timedelta(hours=2), placed + dt.timedelta(days=3))
        period["end"] = stamp(max(removed, placed + dt.timedelta(hours=6)))
    chart.new(
        "DeviceUseStatement",
        status="active" if kept else "completed",
        subject=chart.subject(),
        timingPeriod=period,
        recordedOn=stamp(placed + dt.timedelta(minutes=20)),
        device=chart.ref(device, spec.name),
        reasonReference=[chart.ref(course.condition)],
        bodySite=site,
        note=[{"text": f"Anlagt under indlæggelse på {course.dept.name}."}],
    )


# --- visits, photos, forms ------------------------------------------------------------------------


def outpatient_visit(
    ctx: Context, course: Course, when: dt.datetime, *, photo_stage: int | None
) -> None:
    """Add an outpatient visit: form from the portal, vitals, blood tests, note, photo."""
    chart = ctx.chart
    rng = chart.rng
    if when >= chart.now:
        return
    doctor = rng.choice(staff(course.clinic, "doctor"))
    encounter = contact(
        ctx, course, "AMB", course.clinic, when, when + dt.timedelta(minutes=30), doctor
    )
    if chart.chance(0.75):
        writing.questionnaire_response(
            ctx, course, when - dt.timedelta(days=1, hours=rng.randint(1, 10))
        )
    vitals = measurements.draw_vitals(ctx, course, 0.0)
    measurements.record_vitals(ctx, course, when + dt.timedelta(minutes=5), vitals, encounter)
    measurements.lab_draw(
        ctx, course, when - dt.timedelta(minutes=45), encounter, -1, course.clinic
    )
    writing.note(
        ctx,
        "Ambulant notat",
        "progress",
        texts.outpatient_note(
            rng,
            reason=course.scenario.episode,
            vitals=vitals,
            labs=measurements.lab_line(course.last_values, ctx.base.female),
            weeks=rng.choice((2, 4, 6, 8, 12)),
            doctor=doctor,
        ),
        doctor,
        when + dt.timedelta(minutes=25),
        encounter,
    )
    if photo_stage is not None:
        writing.wound_photo(ctx, course, when + dt.timedelta(minutes=10), encounter, photo_stage)
