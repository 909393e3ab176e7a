"""The IHE ATNA audit message: DICOM PS3.15 A.5.1 ``AuditMessage`` XML (RFC 3881's successor).

This is the body of each syslog message (IHE ITI-20). One line of XML, no pretty printing:
the same text serves as a syslog line in `indblik audit export --format syslog`. The writer
sanitised every free-text field (no control characters), and ElementTree escapes markup.
"""

from __future__ import annotations

import base64
from xml.etree.ElementTree import Element, SubElement, tostring

import orjson

from indblik.audit import canonical
from indblik.audit.forward import codes
from indblik.audit.forward.codes import Code
from indblik.audit.models import AuditEvent

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# RFC 3881 codes for participant objects (codeSystemName "RFC-3881").
_PERSON, _SYSTEM_OBJECT = "1", "2"
_ROLE_PATIENT, _ROLE_RESOURCE, _ROLE_QUERY = "1", "4", "24"
_ID_PATIENT_NUMBER = Code("2", "Patient Number")
_ID_URI = Code("12", "URI")
_ID_SEARCH_CRITERIA = Code("10", "Search Criteria")
_SOURCE_APPLICATION_SERVER = Code("4", "Application Server process tier in a multi-tier system")
_APPLICATION = Code("110150", "Application")


def _coded(parent: Element, tag: str, code: Code, system: str = "DCM") -> Element:
    # DICOM's CodedValueType: csd-code, codeSystemName, originalText (displayName optional).
    return SubElement(
        parent,
        tag,
        {"csd-code": code.code, "codeSystemName": system, "originalText": code.display},
    )


def atna_message(event: AuditEvent, *, source_id: str) -> str:
    """Return ``event`` as one line of DICOM audit message XML (with the XML declaration)."""
    kind = codes.kind_of(event.action, event.details)
    root = Element("AuditMessage")
    identification = SubElement(
        root,
        "EventIdentification",
        {
            "EventActionCode": kind.action_code,
            "EventDateTime": canonical.canonical_time(event.at),
            "EventOutcomeIndicator": codes.outcome_code(event.outcome),
        },
    )
    _coded(identification, "EventID", kind.event_id)
    if kind.event_type is not None:
        _coded(identification, "EventTypeCode", kind.event_type)
    if codes.is_emergency(event.purpose):
        _coded(identification, "EventTypeCode", codes.EMERGENCY_OVERRIDE)
    # Our own action name too: central logging can tell a print from a download.
    _coded(identification, "EventTypeCode", Code(event.action, event.action), codes.ACTION_SYSTEM)
    if event.decision_reasons:
        SubElement(identification, "EventOutcomeDescription").text = ", ".join(
            event.decision_reasons
        )
    if event.purpose:
        purpose = codes.PURPOSES.get(event.purpose)
        if purpose is not None:
            _coded(identification, "PurposeOfUse", purpose, codes.ACT_REASON_OID)
        else:
            _coded(identification, "PurposeOfUse", Code(event.purpose, event.purpose), "indblik")

    # The person: authorisation id when known (the national id of a health professional),
    # else Indblik's user id, else the name (a command-line or system actor).
    user = {
        "UserID": event.actor_authorisation
        or (str(event.user_id) if event.user_id is not None else "")
        or event.actor_name
        or "anonymous",
        "UserIsRequestor": "true",
    }
    if event.user_id is not None:
        user["AlternativeUserID"] = str(event.user_id)
    if event.actor_name:
        user["UserName"] = event.actor_name
    if event.client_ip:
        user["NetworkAccessPointID"] = event.client_ip
        user["NetworkAccessPointTypeCode"] = "2"  # IP address
    person = SubElement(root, "ActiveParticipant", user)
    if event.actor_role:
        _coded(person, "RoleIDCode", Code(event.actor_role, event.actor_role), "indblik-role")
    if event.organisation_cvr or event.organisation_name:
        # The organisation the person acted for, as a second (non-requesting) participant.
        organisation = SubElement(
            root,
            "ActiveParticipant",
            {
                "UserID": f"CVR:{event.organisation_cvr}" if event.organisation_cvr else "-",
                "UserName": event.organisation_name or event.organisation_cvr,
                "UserIsRequestor": "false",
            },
        )
        _coded(organisation, "RoleIDCode", Code("PROV", "healthcare provider"), "RoleClass")
    application = SubElement(
        root, "ActiveParticipant", {"UserID": source_id, "UserIsRequestor": "false"}
    )
    _coded(application, "RoleIDCode", _APPLICATION)

    source = SubElement(
        root,
        "AuditSourceIdentification",
        {"AuditEnterpriseSiteID": source_id, "AuditSourceID": source_id},
    )
    _coded(source, "AuditSourceTypeCode", _SOURCE_APPLICATION_SERVER)

    if event.patient_cpr:
        # HL7 v2 CX form, as IHE requires for a patient id: id^^^&OID&ISO.
        patient = SubElement(
            root,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": f"{event.patient_cpr}^^^&{codes.CPR_OID}&ISO",
                "ParticipantObjectTypeCode": _PERSON,
                "ParticipantObjectTypeCodeRole": _ROLE_PATIENT,
            },
        )
        _coded(patient, "ParticipantObjectIDTypeCode", _ID_PATIENT_NUMBER, "RFC-3881")
        for name, value in _details(event):
            SubElement(
                patient,
                "ParticipantObjectDetail",
                {"type": name, "value": base64.b64encode(value.encode()).decode()},
            )
    if kind.interaction == "search-type":
        query = SubElement(
            root,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": event.section or "-",
                "ParticipantObjectTypeCode": _SYSTEM_OBJECT,
                "ParticipantObjectTypeCodeRole": _ROLE_QUERY,
            },
        )
        _coded(query, "ParticipantObjectIDTypeCode", _ID_SEARCH_CRITERIA, "RFC-3881")
        SubElement(query, "ParticipantObjectQuery").text = base64.b64encode(
            f"section={event.section}".encode()
        ).decode()
    for resource_id in event.resource_id_list:
        resource = SubElement(
            root,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": resource_id,
                "ParticipantObjectTypeCode": _SYSTEM_OBJECT,
                "ParticipantObjectTypeCodeRole": _ROLE_RESOURCE,
            },
        )
        _coded(resource, "ParticipantObjectIDTypeCode", _ID_URI, "RFC-3881")
    return XML_DECLARATION + tostring(root, encoding="unicode")


def _details(event: AuditEvent) -> list[tuple[str, str]]:
    """Return the (type, text) details of the patient object: section, request, reason."""
    details = [
        ("section", event.section),
        ("reason", event.reason),
        ("request-id", event.request_id),
        ("details", orjson.dumps(event.details).decode() if event.details else ""),
    ]
    return [(name, value) for name, value in details if value]
