"""Snapshot, encounters, appointments, documents and demographics presenters on tricky FHIR."""

from __future__ import annotations

from typing import Any

from indblik.chart.presenters import appointments, demographics, documents, encounters, snapshot
from indblik.chart.tests.presenting import NOW, PATIENT, page
from indblik.records.sections import Section

ACTIVE = {"coding": [{"code": "active"}]}


def test_the_snapshot_shows_only_what_holds_today() -> None:
    results: dict[Section, Any] = {
        Section.ALERTS: [
            {
                "resourceType": "Flag",
                "id": "f1",
                "status": "active",
                "code": {"text": "Faldrisiko"},
                "category": [{"coding": [{"code": "safety"}]}],
            },
            {"resourceType": "Flag", "id": "f2", "status": "inactive", "code": {"text": "Gammel"}},
            {
                "resourceType": "Flag",
                "id": "f3",
                "status": "active",
                "code": {"text": "Udløbet"},
                "period": {"end": "2025-01-01"},
            },
        ],
        Section.ALLERGIES: [
            {
                "resourceType": "AllergyIntolerance",
                "id": "a1",
                "clinicalStatus": ACTIVE,
                "criticality": "high",
                "code": {"text": "Penicillin"},
                "reaction": [{"manifestation": [{"text": "Udslæt"}]}],
            },
            {
                "resourceType": "AllergyIntolerance",
                "id": "a2",
                "clinicalStatus": {"coding": [{"code": "resolved"}]},
                "code": {"text": "Pollen"},
            },
            {
                "resourceType": "AllergyIntolerance",
                "id": "a3",
                "verificationStatus": {"coding": [{"code": "entered-in-error"}]},
                "code": {"text": "Fejl"},
            },
        ],
        Section.DIAGNOSES: [
            {
                "resourceType": "Condition",
                "id": "c1",
                "clinicalStatus": ACTIVE,
                "code": {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": "1"},
                        {
                            "system": "http://hl7.org/fhir/sid/icd-10",
                            "code": "I10",
                            "display": "Hypertension",
                        },
                    ]
                },
                "onsetDateTime": "2017",
            },
            {
                "resourceType": "Condition",
                "id": "c2",
                "clinicalStatus": {"coding": [{"code": "resolved"}]},
                "code": {"text": "Lungebetændelse"},
            },
        ],
        Section.ENCOUNTERS: [
            {
                "resourceType": "Encounter",
                "id": "e1",
                "status": "finished",
                "class": {"code": "AMB"},
            },
            {
                "resourceType": "Encounter",
                "id": "e2",
                "status": "in-progress",
                "class": {"code": "IMP"},
                "period": {"start": "2026-02-25T10:00:00+01:00"},
                "serviceProvider": {"display": "Geriatrisk Afdeling"},
            },
        ],
        Section.DEVICES: [
            {"resourceType": "Device", "id": "d1", "deviceName": [{"name": "KAD"}]},
            {
                "resourceType": "DeviceUseStatement",
                "id": "u1",
                "status": "active",
                "device": {"reference": "Device/d1"},
                "timingPeriod": {"start": "2026-02-20T10:00:00+01:00"},
                "bodySite": {"text": "Urinblære"},
            },
            {
                "resourceType": "DeviceUseStatement",
                "id": "u2",
                "status": "completed",
                "device": {"display": "PVK"},
                "timingPeriod": {"start": "2026-01-01", "end": "2026-01-03"},
            },
        ],
        Section.LAB: [],
        Section.APPOINTMENTS: [
            {
                "resourceType": "Appointment",
                "id": "ap1",
                "status": "cancelled",
                "start": "2026-03-02T10:00:00+01:00",
            },
            {
                "resourceType": "Appointment",
                "id": "ap2",
                "status": "booked",
                "start": "2026-03-03T10:00:00+01:00",
                "description": "Kontrol",
            },
        ],
        Section.DISCHARGE_SUMMARIES: [],
    }
    context = snapshot.present(page(Section.SNAPSHOT, results))
    assert [a.text for a in context["alerts"]] == ["Faldrisiko"]
    assert [a.substance for a in context["allergies"]] == ["Penicillin"]
    assert context["allergies"][0].high_risk and context["allergies"][0].reactions == "Udslæt"
    [problem] = context["problems"]
    assert problem.code == "I10" and problem.text == "Hypertension" and problem.since == "2017"
    assert context["admission"].resource_id == "e2" and context["admission"].ongoing
    assert context["admission"].days == 4
    [line] = context["lines"]
    assert line.name == "KAD" and line.site == "Urinblære" and line.days == 9
    assert [a.resource_id for a in context["appointments"]] == ["ap2"]
    assert context["summary"] is None
    assert "Flag/f2" not in context["resource_ids"] and "Flag/f1" in context["resource_ids"]


def test_every_snapshot_query_is_bounded() -> None:
    queries = snapshot.queries(page(Section.SNAPSHOT, {}).filters)
    assert {q.section for q in queries} >= {Section.ALERTS, Section.ALLERGIES, Section.LAB}
    assert all(0 < q.limit <= 100 for q in queries)


def test_encounters_name_the_kind_of_contact_and_the_length_of_stay() -> None:
    row = encounters.contact_row(
        {
            "resourceType": "Encounter",
            "id": "e",
            "status": "finished",
            "class": {"code": "imp"},
            "period": {"start": "2026-02-01", "end": "2026-02-04T12:00:00+01:00"},
            "hospitalization": {"dischargeDisposition": {"text": "Eget hjem"}},
        },
        NOW,
    )
    assert row.inpatient and row.days == 3 and row.discharged_to == "Eget hjem"
    unknown = encounters.contact_row(
        {"resourceType": "Encounter", "class": {"code": "XYZ", "display": "Noget"}}, NOW
    )
    assert unknown.kind == "Noget" and unknown.days is None and unknown.start == ""


def test_appointments_translate_the_type_and_separate_people_and_places() -> None:
    item = appointments.appointment_of(
        {
            "resourceType": "Appointment",
            "id": "a",
            "status": "booked",
            "start": "2026-03-02T09:30:00Z",
            "end": "2026-03-02T10:00:00Z",
            "appointmentType": {"coding": [{"code": "FOLLOWUP", "display": "A follow up visit"}]},
            "participant": [
                {"actor": {"reference": "Patient/p1", "display": "Test Testsen"}},
                {"actor": {"reference": "Practitioner/x", "display": "Læge Hansen"}},
                {"actor": {"reference": "Location/y", "display": "Ambulatorium 3"}},
                "junk",
            ],
        }
    )
    assert item.start == "02.03.2026 10:30" and item.end_time == "11:00"
    assert item.practitioners == "Læge Hansen" and item.location == "Ambulatorium 3"
    assert "follow up visit" not in item.what
    assert not item.cancelled


def test_documents_link_every_attachment_and_hide_entered_in_error() -> None:
    resources = [
        {
            "resourceType": "Media",
            "id": "m1",
            "status": "completed",
            "createdDateTime": "2026-02-01T10:00:00+01:00",
            "content": {"contentType": "image/jpeg", "data": "/9j/AA==", "title": "Foto af sår"},
            "bodySite": {"text": "Hæl"},
        },
        {
            "resourceType": "DocumentReference",
            "id": "d1",
            "status": "entered-in-error",
            "content": [{"attachment": {"data": "JVBE"}}],
        },
        {
            "resourceType": "DocumentReference",
            "id": "d2",
            "status": "current",
            "content": [
                {"attachment": {"contentType": "application/pdf", "url": "https://elsewhere/x.pdf"}}
            ],
        },
    ]
    context = documents.present(page(Section.DOCUMENTS, {Section.DOCUMENTS: resources}))
    assert [d.resource_id for d in context["documents"]] == ["m1", "d2"]
    photo = context["documents"][0]
    assert photo.title == "Foto af sår" and photo.body_site == "Hæl"
    [link] = photo.links
    assert link.is_image and "at=" in link.query and "part=0" in link.query
    assert context["documents"][1].links == []  # external URLs are never linked


def test_demographics_show_the_full_cpr_and_next_of_kin() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [
            {"use": "official", "family": "Testsen", "given": ["Test"]},
            {"text": "Kaldenavn"},
        ],
        "birthDate": "1950-01-01",
        "gender": "female",
        "address": [
            {
                "line": ["Vej 1"],
                "postalCode": "2100",
                "city": "København Ø",
                "extension": [
                    {
                        "url": "http://hl7.dk/fhir/core/StructureDefinition/dk-core-municipalityCodes",
                        "valueCodeableConcept": {
                            "coding": [{"code": "0101", "display": "København"}]
                        },
                    }
                ],
            }
        ],
        "telecom": [
            {"system": "phone", "value": "+45 12 34 56 78", "use": "mobile"},
            {"system": "url", "value": "javascript:alert(1)"},
        ],
        "generalPractitioner": [{"display": "Lægehuset"}],
    }
    relative = {
        "resourceType": "RelatedPerson",
        "id": "r1",
        "relationship": [{"text": "Datter"}],
        "name": [{"given": ["Hanne"], "family": "Dam"}],
    }
    context = demographics.present(
        page(Section.DEMOGRAPHICS, {Section.DEMOGRAPHICS: [patient, relative]})
    )
    person = context["person"]
    assert person.cpr == "010150-1234" and person.age == 76
    assert person.municipality == "København (0101)"
    assert person.contacts[0].href == "tel:+4512345678"
    assert person.contacts[1].href == ""  # never a javascript: link
    assert person.other_names == ["Kaldenavn"]
    [kin] = context["relatives"]
    assert kin.name == "Hanne Dam" and kin.relationship == "Datter"
    assert PATIENT.cpr == "0101501234"
