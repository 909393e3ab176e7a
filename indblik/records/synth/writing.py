"""What is written: notes, letters, messages, referrals, uploaded files, photos and forms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from indblik.records.synth import (
    documents,
    organisations,
)
from indblik.records.synth.chart import encode, encode_bytes, stamp
from indblik.records.synth.organisations import Org, Staff
from indblik.records.synth.story import Context, Course
from indblik.records.synth.terminology import (
    ICD10,
    LOINC,
    MEDIA_TYPE,
    RECORD_CATEGORY,
    SNOMED,
    Resource,
    category,
    concept,
    restricted_meta,
    text_concept,
)

_NOTE_TYPES = {
    "progress": ("11506-3", "Progress note"),
    "nursing": ("34746-8", "Nurse Note"),
    "admission": ("34117-2", "History and physical note"),
    "emergency": ("34111-5", "Emergency department Note"),
    "consult": ("11488-4", "Consult note"),
    "therapy": ("28579-1", "Therapy note"),
}


# --- documents and messages -----------------------------------------------------------------------


def document(
    ctx: Context,
    *,
    title: str,
    type_code: tuple[str, str],
    text: str,
    author: Staff,
    when: dt.datetime,
    encounter: Resource | None,
    restricted: bool = False,
    related: list[dict[str, Any]] | None = None,
) -> Resource:
    """Add a DocumentReference whose content is Danish plain text (base64)."""
    chart = ctx.chart
    context: dict[str, Any] = {}
    if encounter is not None:
        context["encounter"] = [chart.ref(encounter)]
    context["period"] = {"start": stamp(when)}
    if related:
        context["related"] = related
    fields: dict[str, Any] = {}
    if restricted:
        fields["meta"] = restricted_meta()
    return chart.new(
        "DocumentReference",
        **fields,
        status="current",
        docStatus="final",
        type={
            "coding": [{"system": LOINC, "code": type_code[0], "display": type_code[1]}],
            "text": title,
        },
        subject=chart.subject(),
        date=stamp(when),
        author=[author.reference(), author.department.reference()],
        custodian=author.department.reference(),
        description=title,
        content=[
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "da",
                    "data": encode(text),
                    "title": title,
                    "creation": stamp(when),
                }
            }
        ],
        context=context,
    )


def note(
    ctx: Context,
    title: str,
    kind: str,
    text: str,
    author: Staff,
    when: dt.datetime,
    encounter: Resource | None,
    *,
    restricted: bool = False,
) -> Resource:
    """Add a clinical note of a kind (admission, nursing, progress, …)."""
    return document(
        ctx,
        title=title,
        type_code=_NOTE_TYPES[kind],
        text=text,
        author=author,
        when=when,
        encounter=encounter,
        restricted=restricted,
    )


def message(
    ctx: Context,
    course: Course,
    topic: str,
    text: str,
    when: dt.datetime,
    recipients: list[Org],
    *,
    about: Resource | None = None,
) -> Resource:
    """Add an outgoing Communication to one or more organisations."""
    chart = ctx.chart
    payload: list[dict[str, Any]] = [{"contentString": text}]
    if about is not None:
        payload.append({"contentReference": chart.ref(about)})
    fields: dict[str, Any] = {
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": RECORD_CATEGORY,
                        "code": "correspondence",
                        "display": "Udgående korrespondance",
                    }
                ]
            }
        ],
        "subject": chart.subject(),
        "topic": text_concept(topic),
    }
    if course.encounter is not None:
        fields["encounter"] = chart.ref(course.encounter)
    fields["sent"] = stamp(when)
    fields["recipient"] = [org.reference() for org in recipients]
    fields["sender"] = course.dept.reference()
    fields["payload"] = payload
    return chart.new("Communication", **fields)


def referral(
    ctx: Context, course: Course, performer: Org, text: str, when: dt.datetime
) -> Resource:
    """Add a referral (ServiceRequest, SNOMED 3457005) to an organisation."""
    chart = ctx.chart
    fields: dict[str, Any] = {
        "status": "active",
        "intent": "order",
        "category": category(SNOMED, "3457005", "Patient referral"),
        "code": text_concept(text.split(":")[0]),
        "subject": chart.subject(),
    }
    if course.encounter is not None:
        fields["encounter"] = chart.ref(course.encounter)
    fields["authoredOn"] = stamp(when)
    fields["requester"] = course.doctor.reference()
    fields["performer"] = [performer.reference()]
    fields["reasonCode"] = [
        concept(ICD10, course.scenario.diagnosis.icd, course.scenario.diagnosis.text)
    ]
    fields["note"] = [{"text": text}]
    return chart.new("ServiceRequest", **fields)


def uploaded(ctx: Context, title: str, content_type: str, data: bytes, when: dt.datetime) -> None:
    """Add an uploaded document (a PDF or an image) that did not start in the record."""
    chart = ctx.chart
    chart.new(
        "DocumentReference",
        status="current",
        type=text_concept(title),
        category=[
            {
                "coding": [
                    {"system": RECORD_CATEGORY, "code": "uploaded", "display": "Uploadet dokument"}
                ]
            }
        ],
        subject=chart.subject(),
        date=stamp(when),
        description=title,
        content=[
            {
                "attachment": {
                    "contentType": content_type,
                    "data": encode_bytes(data),
                    "size": len(data),
                    "title": title,
                    "creation": stamp(when),
                }
            }
        ],
        context={"period": {"start": stamp(when)}},
    )


def wound_photo(
    ctx: Context, course: Course, when: dt.datetime, encounter: Resource | None, stage: int
) -> None:
    """Add a Media photo of the course's wound at a healing stage."""
    chart = ctx.chart
    nurse = chart.rng.choice(course.nurses)
    jpeg = chart.chance(0.5)
    data = documents.wound_photo_jpeg(stage) if jpeg else documents.wound_photo_png(stage)
    title = f"Foto af sår, {course.side} side"
    fields: dict[str, Any] = {
        "status": "completed",
        "type": concept(MEDIA_TYPE, "image", "Image", "Foto"),
        "subject": chart.subject(),
    }
    if encounter is not None:
        fields["encounter"] = chart.ref(encounter)
    fields["createdDateTime"] = stamp(when)
    fields["issued"] = stamp(when + dt.timedelta(minutes=5))
    fields["operator"] = nurse.reference()
    fields["bodySite"] = text_concept(
        f"{course.side.capitalize()} fod"
        if course.scenario.key == "fodsaar"
        else "Abdomen, operationssår"
    )
    fields["content"] = {
        "contentType": "image/jpeg" if jpeg else "image/png",
        "data": encode_bytes(data),
        "size": len(data),
        "title": title,
    }
    fields["note"] = [{"text": "Foto taget med patientens samtykke til sårjournalen."}]
    chart.new("Media", **fields)


def pressure_sore_photo(ctx: Context, course: Course) -> None:
    """Add a Media photo of a pressure sore."""
    chart = ctx.chart
    when = (course.end or chart.now) - dt.timedelta(days=1, hours=3)
    data = documents.wound_photo_jpeg(2)
    chart.new(
        "Media",
        status="completed",
        type=concept(MEDIA_TYPE, "image", "Image", "Foto"),
        subject=chart.subject(),
        createdDateTime=stamp(when),
        issued=stamp(when + dt.timedelta(minutes=5)),
        operator=chart.rng.choice(course.nurses).reference(),
        bodySite=text_concept("Os sacrum"),
        content={
            "contentType": "image/jpeg",
            "data": encode_bytes(data),
            "size": len(data),
            "title": "Foto af tryksår over os sacrum",
        },
        note=[{"text": "Tryksår kategori 2, 2 x 1,5 cm. Vendeskema og trykaflastende madras."}],
    )


def questionnaire_response(ctx: Context, course: Course, when: dt.datetime) -> None:
    """Add a patient-reported QuestionnaireResponse from the portal."""
    chart = ctx.chart
    rng = chart.rng
    spec = organisations.QUESTIONNAIRES[course.scenario.questionnaire]
    burden = rng.random()
    items = []
    for question in spec.questions:
        answer: dict[str, Any]
        if question.options:
            level = min(
                len(question.options),
                1 + int(burden * len(question.options) * rng.uniform(0.6, 1.2)),
            )
            answer = {
                "valueCoding": {
                    "system": f"{spec.url}/svar",
                    "code": str(level),
                    "display": question.options[level - 1],
                }
            }
        else:
            span = question.high - question.low
            value = question.low + round(
                span * (1 - burden if question.high == 100 else burden) * rng.uniform(0.7, 1.1)
            )
            answer = {"valueInteger": max(question.low, min(question.high, value))}
        items.append({"linkId": question.link_id, "text": question.text, "answer": [answer]})
    chart.new(
        "QuestionnaireResponse",
        questionnaire=spec.url,
        status="completed",
        subject=chart.subject(),
        authored=stamp(when),
        author=chart.subject(),
        source=chart.subject(),
        item=items,
    )
