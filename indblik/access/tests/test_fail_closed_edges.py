"""Edges where access must fail closed, found by a security review (session 6).

- a citizen's block written as FHIR allows it: a deny nested in a permit, an organisation
  named by a literal reference, an actor that cannot be identified;
- a restricted type named by any coding of a resource, not only the first;
- a Binary labelled restricted, reached through a document that is not;
- access that must end at once: an organisation suspended (and resumed), an authorisation
  withdrawn by the register.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from indblik.access.models import Grant
from indblik.access.testing import Granted, grant_client
from indblik.access.tests.factories import citizen
from indblik.audit import Actor
from indblik.identity import authorisations
from indblik.identity.models import User, UserSession
from indblik.organisations import registry
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CVR = "http://cvr.dk"
PSYCH = {"system": "http://loinc.org", "code": "11506-3"}
LOCAL = {"system": "urn:oid:1.2.208.176.2.1.99", "code": "PSYK-NOTAT"}
RESTRICTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}


def store(*resources: dict[str, Any]) -> None:
    result = ingest_resources(list(resources), source="test", validate=False, parallel=False)
    assert result.ok


def consent(patient: Patient, cid: str, provision: Any) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient.fhir_id}"},
        "provision": provision,
    }


def by_cvr(cvr: str) -> dict[str, Any]:
    return {"reference": {"identifier": {"system": CVR, "value": cvr}}}


def organization(oid: str, cvr: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": oid,
        "identifier": [{"system": CVR, "value": cvr}],
        "name": f"Organisation {cvr}",
    }


@pytest.fixture
def granted() -> Granted:
    patient = citizen(municipality="0101", family="Kantsen")
    granted = grant_client(patient)
    assert granted.client.get(granted.url()).status_code == 200
    return granted


def patient_of(granted: Granted) -> Patient:
    return Patient.objects.get(cpr=granted.grant.patient_cpr)


# --- blocks ---------------------------------------------------------------------------------


def test_a_deny_nested_in_a_permit_blocks_the_organisation_it_names(granted: Granted) -> None:
    patient = patient_of(granted)
    # Another organisation's exception does not block this one.
    store(
        consent(
            patient,
            "c-other",
            {"type": "permit", "provision": [{"type": "deny", "actor": [by_cvr("11111111")]}]},
        )
    )
    assert granted.client.get(granted.url()).status_code == 200
    store(
        consent(
            patient,
            "c-nested",
            {
                "type": "permit",
                "provision": [{"type": "deny", "actor": [by_cvr(granted.organisation.cvr)]}],
            },
        )
    )
    assert granted.client.get(granted.url()).status_code == 404


def test_an_exception_without_a_type_is_the_opposite_of_its_parent(granted: Granted) -> None:
    store(
        consent(
            patient_of(granted),
            "c-untyped",
            {"type": "permit", "provision": [{"actor": [by_cvr(granted.organisation.cvr)]}]},
        )
    )
    assert granted.client.get(granted.url()).status_code == 404


def test_a_deny_naming_the_organisation_by_a_literal_reference_blocks(granted: Granted) -> None:
    patient = patient_of(granted)
    store(
        organization("org-elsewhere", "11111111"),
        organization("org-this-one", granted.organisation.cvr),
        consent(
            patient,
            "c-literal-other",
            {"type": "deny", "actor": [{"reference": {"reference": "Organization/org-elsewhere"}}]},
        ),
    )
    assert granted.client.get(granted.url()).status_code == 200
    store(
        consent(
            patient,
            "c-literal",
            {"type": "deny", "actor": [{"reference": {"reference": "Organization/org-this-one"}}]},
        )
    )
    assert granted.client.get(granted.url()).status_code == 404


@pytest.mark.parametrize(
    "actor",
    [
        {"reference": {"reference": "Organization/not-stored-here"}},
        {"reference": {"reference": "Practitioner/someone"}},
        {"reference": {"display": "Kommunen"}},
        {"role": {"coding": [{"code": "IRCP"}]}},
        "not an actor",
    ],
    ids=["unknown-organization", "a-practitioner", "display-only", "no-reference", "garbage"],
)
def test_a_deny_whose_actor_cannot_be_identified_blocks(granted: Granted, actor: Any) -> None:
    store(consent(patient_of(granted), "c-unknown", {"type": "deny", "actor": [actor]}))
    assert granted.client.get(granted.url()).status_code == 404


def test_a_permit_inside_a_deny_does_not_lift_it(granted: Granted) -> None:
    # "Nobody, except this organisation": the exception is not weighed (fail closed).
    store(
        consent(
            patient_of(granted),
            "c-except",
            {
                "type": "deny",
                "provision": [{"type": "permit", "actor": [by_cvr(granted.organisation.cvr)]}],
            },
        )
    )
    assert granted.client.get(granted.url()).status_code == 404


def test_a_nested_deny_outside_its_period_does_not_block(granted: Granted) -> None:
    store(
        consent(
            patient_of(granted),
            "c-past",
            {
                "type": "permit",
                "provision": [
                    {
                        "type": "deny",
                        "period": {"end": "2001-01-01"},
                        "actor": [by_cvr(granted.organisation.cvr)],
                    }
                ],
            },
        )
    )
    assert granted.client.get(granted.url()).status_code == 200


# --- restricted content ---------------------------------------------------------------------


def note(patient: Patient, rid: str, codings: list[dict[str, str]], text: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "status": "current",
        "type": {"coding": codings, "text": text},
        "description": text,
        "subject": {"reference": f"Patient/{patient.fhir_id}"},
        "date": "2026-01-10T10:00:00+01:00",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(text.encode()).decode(),
                    "title": text,
                }
            }
        ],
    }


@pytest.mark.parametrize("codings", [[PSYCH], [LOCAL, PSYCH]], ids=["first", "second"])
def test_a_restricted_type_is_hidden_whichever_coding_names_it(
    granted: Granted, settings: Any, codings: list[dict[str, str]]
) -> None:
    settings.INDBLIK_RESTRICTED_TYPES = ["http://loinc.org|11506-3"]
    patient = patient_of(granted)
    store(note(patient, "psych-note-1", codings, "HEMMELIGPSYKNOTAT"))
    store(note(patient, "plain-note-1", [LOCAL], "ALMINDELIGNOTAT"))
    from indblik.records.models import Resource

    section = Resource.objects.get(fhir_id="psych-note-1").section
    page = granted.client.get(granted.url(section)).content.decode()
    assert "HEMMELIGPSYKNOTAT" not in page and "ALMINDELIGNOTAT" in page
    assert granted.client.get(f"/chart/{granted.handle}/documents/psych-note-1/").status_code == 404
    assert granted.client.get(f"/chart/{granted.handle}/documents/plain-note-1/").status_code == 200


def test_a_binary_labelled_restricted_is_not_served(granted: Granted) -> None:
    patient = patient_of(granted)

    def binary(bid: str, labels: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "resourceType": "Binary",
            "id": bid,
            "meta": {"security": labels},
            "contentType": "application/pdf",
            "data": base64.b64encode(PDF).decode(),
        }

    def pointing_to(did: str, bid: str) -> dict[str, Any]:
        return {
            "resourceType": "DocumentReference",
            "id": did,
            "status": "current",
            "category": [
                {
                    "coding": [
                        {
                            "system": "https://indblik.dk/fhir/CodeSystem/record-category",
                            "code": "uploaded",
                        }
                    ]
                }
            ],
            "subject": {"reference": f"Patient/{patient.fhir_id}"},
            "date": "2026-01-10T10:00:00+01:00",
            "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{bid}"}}],
        }

    store(
        binary("secret-bin-1", [RESTRICTED]),
        pointing_to("doc-secret", "secret-bin-1"),
        binary("open-bin-1", []),
        pointing_to("doc-open", "open-bin-1"),
    )
    assert granted.client.get(f"/chart/{granted.handle}/documents/doc-secret/").status_code == 404
    served = granted.client.get(f"/chart/{granted.handle}/documents/doc-open/")
    assert served.status_code == 200 and served.content == PDF


# --- access that ends at once ---------------------------------------------------------------


def test_suspending_an_organisation_ends_its_grants_and_sessions_even_if_resumed(
    granted: Granted,
) -> None:
    actor = Actor(name="Driftsvagt")
    assert UserSession.objects.filter(user=granted.user).exists()
    registry.suspend(org=granted.organisation, reason="incident", by=actor)
    assert Grant.objects.get(pk=granted.grant.pk).revoked_reason == "organisation-suspended"
    assert not UserSession.objects.filter(user=granted.user).exists()
    registry.resume(org=granted.organisation, reason="fixed", by=actor)
    assert granted.client.get(granted.url()).status_code in (302, 404)  # signed out, no grant


def test_a_withdrawn_authorisation_ends_sessions_and_grants_at_the_import(
    granted: Granted,
) -> None:
    assert UserSession.objects.filter(user=granted.user).exists()
    User.objects.filter(pk=granted.user.pk).update(authorisation_id="abc12")
    other = grant_client(citizen(municipality="0101", family="Andensen"))
    User.objects.filter(pk=other.user.pk).update(authorisation_id="XYZ98")
    authorisations.replace_register(
        authorisations.parse(
            "Autorisations-ID;Erhverv;Autorisationsstatus\n"
            "ABC12;Sygeplejerske;Frataget\n"
            "XYZ98;Sygeplejerske;Autoriseret\n"
        )
    )
    assert Grant.objects.get(pk=granted.grant.pk).revoked_reason == "authorisation-withdrawn"
    assert not UserSession.objects.filter(user=granted.user).exists()
    assert granted.client.get(granted.url()).status_code in (302, 404)
    # Whoever is still authorised reads on.
    assert other.client.get(other.url()).status_code == 200
