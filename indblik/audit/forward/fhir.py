"""Audit events as FHIR R4 AuditEvent resources (IHE BALP shape) and the FHIR receiver.

Mapping (docs/audit.md, "Forwarding"): a record read is BALP's PatientRead (type ``rest``,
subtype ``read``, action R), a section search its PatientQuery (``search-type``, action E);
everything else is typed with the DICOM code also used in the syslog message. The user is the
requesting agent (information recipient: name, role, authorisation id, client address), the
organisation a second agent (healthcare provider, CVR), Indblik the source observer; the
patient is an entity identified by the CPR number, each resource read another entity.

The receiver sends a *transaction* Bundle of PUTs to ``AuditEvent/<source>-<event id>``: the
server stores all of a batch or none, and sending a batch twice (after a lost response)
rewrites the same resources instead of adding copies.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Sequence
from typing import Any

import httpx

from indblik.audit import canonical
from indblik.audit.forward import codes
from indblik.audit.forward.codes import Code
from indblik.audit.forward.config import FhirTarget, TlsFiles
from indblik.audit.forward.errors import DeliveryError
from indblik.audit.models import AuditEvent

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
NETWORK_IP = "2"
_REFERENCE = re.compile(r"[A-Z][A-Za-z]{0,63}/[A-Za-z0-9.-]{1,64}")
FHIR_JSON = "application/fhir+json"


def _coding(system: str, code: Code) -> dict[str, str]:
    return {"system": system, "code": code.code, "display": code.display}


def resource_id(event: AuditEvent, source_id: str) -> str:
    """Return the AuditEvent's id: stable per event, so a resent event replaces itself."""
    return f"{source_id}-{event.pk}"


def audit_event_resource(event: AuditEvent, *, source_id: str, base_url: str) -> dict[str, Any]:
    """Return ``event`` as a FHIR R4 AuditEvent (a JSON-ready dict)."""
    kind = codes.kind_of(event.action, event.details)
    resource: dict[str, Any] = {"resourceType": "AuditEvent", "id": resource_id(event, source_id)}
    subtype: list[dict[str, str]] = []
    if kind.interaction is not None:
        resource["type"] = {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful"}
        subtype.append({"system": RESTFUL_INTERACTION, "code": kind.interaction})
    else:
        resource["type"] = _coding(codes.DCM, kind.event_id)
        if kind.event_type is not None:
            subtype.append(_coding(codes.DCM, kind.event_type))
    if codes.is_emergency(event.purpose):
        subtype.append(_coding(codes.DCM, codes.EMERGENCY_OVERRIDE))
    subtype.append({"system": codes.ACTION_SYSTEM, "code": event.action})
    resource["subtype"] = subtype
    resource["action"] = kind.action_code
    resource["recorded"] = canonical.canonical_time(event.at)
    resource["outcome"] = codes.outcome_code(event.outcome)
    if event.decision_reasons:
        resource["outcomeDesc"] = ", ".join(event.decision_reasons)
    if event.purpose:
        purpose: dict[str, Any] = {"text": event.reason or event.purpose}
        if event.purpose in codes.PURPOSES:
            purpose["coding"] = [_coding(codes.ACT_REASON, codes.PURPOSES[event.purpose])]
        resource["purposeOfEvent"] = [purpose]
    resource["agent"] = _agents(event, source_id=source_id, base_url=base_url)
    resource["source"] = {
        "site": source_id,
        "observer": {"display": source_id, "identifier": {"value": base_url}},
        "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
    }
    entities = _entities(event, kind.interaction)
    if entities:
        resource["entity"] = entities
    return resource


def _agents(event: AuditEvent, *, source_id: str, base_url: str) -> list[dict[str, Any]]:
    recipient = Code("IRCP", "information recipient")
    user: dict[str, Any] = {
        "type": {"coding": [_coding(PARTICIPATION_TYPE, recipient)]},
        "requestor": True,
    }
    who: dict[str, Any] = {}
    if event.user_id is not None:
        who["identifier"] = {"system": f"{base_url}/users", "value": str(event.user_id)}
    if event.actor_name:
        who["display"] = event.actor_name
    if who:
        user["who"] = who
    if event.actor_authorisation:
        user["altId"] = event.actor_authorisation  # the professional's authorisation id
    if event.actor_role:
        user["role"] = [{"text": event.actor_role}]
    if event.client_ip:
        user["network"] = {"address": event.client_ip, "type": NETWORK_IP}
    if event.purpose in codes.PURPOSES:
        user["purposeOfUse"] = [
            {"coding": [_coding(codes.ACT_REASON, codes.PURPOSES[event.purpose])]}
        ]
    agents = [user]
    if event.organisation_cvr or event.organisation_name:
        organisation: dict[str, Any] = {}
        if event.organisation_cvr:
            organisation["identifier"] = {
                "system": codes.CVR_SYSTEM,
                "value": event.organisation_cvr,
            }
        if event.organisation_name:
            organisation["display"] = event.organisation_name
        agents.append(
            {
                "type": {"coding": [_coding(ROLE_CLASS, Code("PROV", "healthcare provider"))]},
                "who": organisation,
                "requestor": False,
            }
        )
    agents.append(
        {
            "type": {"coding": [_coding(codes.DCM, Code("110152", "Destination Role ID"))]},
            "who": {"display": source_id, "identifier": {"value": base_url}},
            "requestor": False,
        }
    )
    return agents


def _entities(event: AuditEvent, interaction: str | None) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if event.patient_cpr:
        patient: dict[str, Any] = {
            "what": {"identifier": {"system": codes.CPR_SYSTEM, "value": event.patient_cpr}},
            "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
            "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
        }
        details = [
            {"type": name, "valueString": value}
            for name, value in (
                ("section", event.section),
                ("request-id", event.request_id),
            )
            if value
        ]
        if details:
            patient["detail"] = details
        entities.append(patient)
    if interaction == "search-type":
        entities.append(
            {
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                "query": _base64(f"section={event.section}"),
            }
        )
    for resource in event.resource_id_list:
        what = {"reference": resource} if _REFERENCE.fullmatch(resource) else {"display": resource}
        entities.append(
            {
                "what": what,
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
            }
        )
    return entities


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def transaction_bundle(resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return a transaction Bundle that PUTs each AuditEvent at its own id."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"AuditEvent/{resource['id']}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"AuditEvent/{resource['id']}"},
            }
            for resource in resources
        ],
    }


def ssl_context(files: TlsFiles) -> ssl.SSLContext:
    """Return a client TLS context: TLS 1.2+, server certificate and host name checked."""
    context = ssl.create_default_context(cafile=files.ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.cert_file:
        context.load_cert_chain(files.cert_file, files.key_file or None)
    return context


class FhirReceiver:
    """POSTs batches of audit events to a FHIR server as transaction Bundles."""

    def __init__(self, target: FhirTarget, *, source_id: str, base_url: str) -> None:
        self.name = "fhir"
        self.target = target
        self.source_id = source_id
        self.base_url = base_url
        # Now, not at the first batch: a missing CA or key file is a configuration error.
        self._verify: ssl.SSLContext | bool = (
            ssl_context(target.tls) if target.url.startswith("https://") else True
        )
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
            if self.target.token:
                headers["Authorization"] = f"Bearer {self.target.token}"
            self._client = httpx.Client(
                headers=headers,
                timeout=self.target.timeout,
                verify=self._verify,
                follow_redirects=False,
            )
        return self._client

    def send(self, events: Sequence[AuditEvent]) -> None:
        """Deliver ``events`` in one transaction; return only when the server accepted all."""
        bundle = transaction_bundle(
            [
                audit_event_resource(event, source_id=self.source_id, base_url=self.base_url)
                for event in events
            ]
        )
        try:
            response = self._http().post(self.target.url, json=bundle)
        except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
            self.close()
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            # Not the body: a server may echo the request, CPR numbers included.
            raise DeliveryError(f"the FHIR server answered HTTP {response.status_code}")
        _check_entries(response, len(events))

    def close(self) -> None:
        """Drop the connection pool (a new one is made on the next send)."""
        if self._client is not None:
            self._client.close()
            self._client = None


def _check_entries(response: httpx.Response, expected: int) -> None:
    """Refuse a transaction-response that reports a failed entry (a server that half-did it)."""
    try:
        body = response.json()
    except ValueError:
        return  # a 2xx without a body: the transaction succeeded as a whole
    entries = body.get("entry") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return
    if len(entries) != expected:
        raise DeliveryError(f"the FHIR server answered {len(entries)} entries for {expected}")
    for entry in entries:
        response_part = entry.get("response") if isinstance(entry, dict) else None
        status = str(response_part.get("status", "")) if isinstance(response_part, dict) else ""
        if status and not status.startswith("2"):
            raise DeliveryError(f"the FHIR server refused an entry ({status[:40]})")
