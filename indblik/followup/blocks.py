"""A citizen's blocks of external organisations, kept as FHIR Consent resources of the record.

A block is an active ``Consent`` with ``provision.type = deny``: without an actor it covers
every external organisation, with an actor identifying an organisation (CVR) it covers that
one (the access policy, :func:`indblik.access.policy.blocks_organisation`, reads the same
resources on every chart request, so a new block holds from the next request).

Blocks made in Min log have a stable id per citizen and target (``minlog-…``); lifting one
stores a new version of the same Consent with status ``inactive``, so the record keeps the
history. Blocks registered elsewhere (by the hospital) are shown but cannot be lifted here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from indblik import audit
from indblik.audit import Action
from indblik.organisations.models import Organisation, Status
from indblik.records import fhir
from indblik.records.ingest import ingest_resources
from indblik.records.models import Patient, Resource

SOURCE = "min-log"
ID_PREFIX = "minlog-"
ALL = "all"
CVR_SYSTEM = "http://cvr.dk"


class BlockError(Exception):
    """The block could not be changed; nothing was stored."""


@dataclass(frozen=True)
class Block:
    """One organisation (or every external organisation) the citizen has blocked."""

    consent_id: str
    cvr: str  # "" for every external organisation
    name: str
    since: dt.datetime | None
    own: bool  # made in Min log, so it can be lifted here

    @property
    def everyone(self) -> bool:
        return not self.cvr


def consent_id(patient: Patient, target: str) -> str:
    """The id of the citizen's Min log Consent for ``target`` (``all`` or a CVR number)."""
    digest = hashlib.sha256(f"{patient.fhir_id}|{target}".encode()).hexdigest()[:24]
    return f"{ID_PREFIX}{digest}"


def current_blocks(patient: Patient, *, now: dt.datetime | None = None) -> list[Block]:
    """Return the citizen's blocks in force now, every external organisation first."""
    moment = now or timezone.now()
    names = dict(Organisation.objects.values_list("cvr", "name"))
    by_sor = dict(Organisation.objects.exclude(sor_code="").values_list("sor_code", "cvr"))
    found: list[Block] = []
    consents = Resource.objects.filter(patient=patient, resource_type="Consent", deleted=False)
    for row in consents.only("fhir_id", "body"):
        consent = row.resource
        if not _denies_now(consent, moment):
            continue
        since = fhir.parse_datetime(consent.get("dateTime"))
        own = row.fhir_id.startswith(ID_PREFIX)
        actors = consent["provision"].get("actor") or []
        if not actors:
            found.append(Block(row.fhir_id, "", "", since, own))
            continue
        for cvr in _actor_cvrs(actors, by_sor):
            found.append(Block(row.fhir_id, cvr, names.get(cvr, cvr), since, own))
    return sorted(found, key=lambda block: (not block.everyone, block.name))


def holder(cpr: str) -> Patient:
    """Return the local row that holds a citizen's Min log blocks, making it if need be.

    When the record is read live (``INDBLIK_RECORD_SOURCE`` is a FHIR server), this store
    holds no record of the citizen, yet their blocks must be kept here (the hospital's server
    does not hold Min log's choices) and the access policy reads them from here. The row is
    the least a Consent can point at: a Patient with a random id and the CPR number, no name
    and nothing clinical. Kept through ingestion like every stored resource (source
    ``min-log``). Raises BlockError if it cannot be stored.
    """
    existing = Patient.objects.filter(cpr=cpr, deleted=False).first()
    if existing is not None:
        return existing
    resource = {
        "resourceType": "Patient",
        "id": f"{ID_PREFIX}{secrets.token_hex(12)}",
        "identifier": [{"system": fhir.CPR_SYSTEM, "value": cpr}],
    }
    result = ingest_resources(
        [resource], source=SOURCE, channel=SOURCE, validate=True, parallel=False
    )
    made = Patient.objects.filter(cpr=cpr, deleted=False).first()
    if made is None:  # e.g. the citizen's other request made it first with another id: retry
        raise BlockError("; ".join(str(error) for error in result.errors[:3]) or "not stored")
    return made


def live_organisations() -> list[Organisation]:
    """The organisations a citizen can block one by one."""
    return list(Organisation.objects.filter(status=Status.LIVE).order_by("name"))


def change(request: HttpRequest, patient: Patient, *, target: str, block: bool) -> None:
    """Block (or lift the block of) ``target`` — ``all`` or a live organisation's CVR.

    Audited and stored in one transaction: if either fails, nothing is written and
    :class:`BlockError` (or the audit error) is raised.
    """
    organisation = None
    if target != ALL:
        organisation = Organisation.objects.filter(cvr=target, status=Status.LIVE).first()
        if organisation is None:
            raise BlockError("unknown organisation")
    fhir_id = consent_id(patient, target)
    if (
        not block
        and not Resource.objects.filter(
            patient=patient, resource_type="Consent", fhir_id=fhir_id, deleted=False
        ).exists()
    ):
        raise BlockError("no such block")
    resource = consent_resource(patient, fhir_id, organisation, active=block)
    with transaction.atomic():
        # Audit first (fail closed); the row disappears with the transaction if storing fails.
        audit.record(
            request,
            Action.CITIZEN_BLOCK,
            patient_cpr=patient.cpr or "",
            details={
                "change": "block" if block else "unblock",
                "scope": "all" if organisation is None else "organisation",
                "target_cvr": organisation.cvr if organisation else "",
                "consent": f"Consent/{fhir_id}",
            },
        )
        result = ingest_resources(
            [resource], source=SOURCE, channel=SOURCE, validate=True, parallel=False
        )
        if not result.ok:
            raise BlockError("; ".join(str(error) for error in result.errors[:3]))


def consent_resource(
    patient: Patient, fhir_id: str, organisation: Organisation | None, *, active: bool
) -> dict[str, Any]:
    """Build the FHIR R4 Consent that blocks ``organisation`` (None: every external one)."""
    provision: dict[str, Any] = {"type": "deny"}
    if organisation is not None:
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": {
                    "type": "Organization",
                    "identifier": {"system": CVR_SYSTEM, "value": organisation.cvr},
                    "display": organisation.name,
                },
            }
        ]
    return {
        "resourceType": "Consent",
        "id": fhir_id,
        "status": "active" if active else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient.fhir_id}"},
        "dateTime": timezone.now().isoformat(),
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}
            ]
        },
        "provision": provision,
    }


def _denies_now(consent: Mapping[str, Any], moment: dt.datetime) -> bool:
    if consent.get("status") != "active":
        return False
    provision = consent.get("provision")
    if not isinstance(provision, Mapping) or provision.get("type") != "deny":
        return False
    period = provision.get("period")
    if isinstance(period, Mapping):
        start = fhir.parse_datetime(period.get("start"))
        end = fhir.parse_datetime(period.get("end"))
        if (start and start > moment) or (end and end <= moment):
            return False
    return True


def _actor_cvrs(actors: Any, by_sor: Mapping[str, str]) -> list[str]:
    cvrs = []
    for actor in actors if isinstance(actors, list) else ():
        reference = actor.get("reference") if isinstance(actor, Mapping) else None
        identifier = reference.get("identifier") if isinstance(reference, Mapping) else None
        if not isinstance(identifier, Mapping):
            continue
        system, value = identifier.get("system"), str(identifier.get("value", ""))
        if system in fhir.CVR_SYSTEMS:
            cvrs.append(value)
        elif system == fhir.SOR_SYSTEM and value in by_sor:
            cvrs.append(by_sor[value])
    return cvrs
