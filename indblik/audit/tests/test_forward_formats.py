"""The forwarded formats: ATNA XML (DICOM PS3.15 A.5.1), FHIR AuditEvent (BALP), RFC 5424."""

from __future__ import annotations

import base64
import re
from typing import Any
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

from indblik.audit import Action, Actor, Outcome, record
from indblik.audit.forward import atna, codes
from indblik.audit.forward.fhir import audit_event_resource
from indblik.audit.forward.syslog import frame, syslog_message
from indblik.audit.models import AuditEvent
from indblik.audit.tests.forward_kit import parse_frames

pytestmark = pytest.mark.django_db

NURSE = Actor(
    user_id=41,
    name="Anne Holm",
    authorisation="0C4FG",
    role="http://kombit.dk/roles/jobrole/sundhedsjournal/1",
    organisation_cvr="29189846",
    organisation_name="Københavns Kommune",
)
BASE_URL = "https://indblik.example.dk"


@pytest.fixture
def patient_read() -> AuditEvent:
    return record(
        None,
        Action.PATIENT_READ,
        actor=NURSE,
        patient_cpr="0101701234",
        section="snapshot",
        resource_ids=["Observation/obs-1", "DocumentReference/doc.7", "odd id <&>"],
        purpose="treatment",
        decision_reasons=["contextual", "residence"],
        details={"page": 1},
    )


@pytest.fixture
def refusal() -> AuditEvent:
    return record(
        None,
        Action.ACCESS_DENIED,
        outcome=Outcome.REFUSED,
        actor=NURSE,
        patient_cpr="0101701234",
        purpose="emergency",
        reason='akut "opkald" ] \\ kl. 3',
        decision_reasons=["citizen_block"],
    )


@pytest.fixture
def login() -> AuditEvent:
    return record(None, Action.LOGIN, actor=NURSE)


# --- ATNA --------------------------------------------------------------------------------
def coded(element: Element | None) -> tuple[str | None, str | None, str | None]:
    assert element is not None
    return (element.get("csd-code"), element.get("codeSystemName"), element.get("originalText"))


def check_dicom_structure(root: Element) -> None:
    """The required parts of DICOM PS3.15 A.5.1's schema, in its element order."""
    assert root.tag == "AuditMessage"
    tags = [child.tag for child in root]
    assert tags[0] == "EventIdentification"
    assert tags.count("EventIdentification") == 1
    participants = tags.index("AuditSourceIdentification")
    assert participants > 1 and set(tags[1:participants]) == {"ActiveParticipant"}
    assert set(tags[participants + 1 :]) <= {"ParticipantObjectIdentification"}
    event = root[0]
    assert event.get("EventActionCode") in {"C", "R", "U", "D", "E"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event.get("EventDateTime", ""))
    assert event.get("EventOutcomeIndicator") in {"0", "4", "8", "12"}
    order = [child.tag for child in event]
    assert order[0] == "EventID"
    allowed = ["EventID", "EventTypeCode", "EventOutcomeDescription", "PurposeOfUse"]
    assert order == sorted(order, key=allowed.index)
    for element in root.iter():
        if element.get("csd-code") is not None:
            assert element.get("originalText"), element.tag
    for participant in root.findall("ActiveParticipant"):
        assert participant.get("UserID") and participant.get("UserIsRequestor") in {"true", "false"}
    assert root.find("AuditSourceIdentification").get("AuditSourceID") == "indblik"  # type: ignore[union-attr]
    for item in root.findall("ParticipantObjectIdentification"):
        assert item.get("ParticipantObjectID")
        assert item[0].tag == "ParticipantObjectIDTypeCode"


def test_a_patient_read_as_atna_xml(patient_read: AuditEvent) -> None:
    text = atna.atna_message(patient_read, source_id="indblik")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?><AuditMessage>')
    assert "\n" not in text
    root = fromstring(text)
    check_dicom_structure(root)
    event = root.find("EventIdentification")
    assert event is not None and event.get("EventActionCode") == "R"
    assert event.get("EventOutcomeIndicator") == "0"
    assert coded(event.find("EventID")) == ("110110", "DCM", "Patient Record")
    assert coded(event.find("PurposeOfUse")) == ("TREAT", "2.16.840.1.113883.5.8", "treatment")
    user = root.findall("ActiveParticipant")[0]
    assert user.get("UserID") == "0C4FG" and user.get("UserName") == "Anne Holm"
    assert user.get("AlternativeUserID") == "41" and user.get("UserIsRequestor") == "true"
    organisation = root.findall("ActiveParticipant")[1]
    assert organisation.get("UserID") == "CVR:29189846"
    assert organisation.get("UserName") == "Københavns Kommune"
    objects = root.findall("ParticipantObjectIdentification")
    patient = objects[0]
    assert patient.get("ParticipantObjectID") == "0101701234^^^&1.2.208.176.1.2&ISO"
    assert (
        patient.get("ParticipantObjectTypeCode"),
        patient.get("ParticipantObjectTypeCodeRole"),
    ) == ("1", "1")
    details = {
        d.get("type"): base64.b64decode(d.get("value", "")).decode()
        for d in patient.findall("ParticipantObjectDetail")
    }
    assert details["section"] == "snapshot" and details["details"] == '{"page":1}'
    assert [o.get("ParticipantObjectID") for o in objects[1:]] == [
        "Observation/obs-1",
        "DocumentReference/doc.7",
        "odd id <&>",  # escaped in the XML, intact when parsed
    ]


def test_a_refusal_as_atna_xml(refusal: AuditEvent) -> None:
    root = fromstring(atna.atna_message(refusal, source_id="indblik"))
    check_dicom_structure(root)
    event = root.find("EventIdentification")
    assert event is not None and event.get("EventOutcomeIndicator") == "4"
    types = [coded(t)[0] for t in event.findall("EventTypeCode")]
    assert types == ["110127", "access:decision:deny"]  # emergency override, our action
    assert event.findtext("EventOutcomeDescription") == "citizen_block"
    assert coded(event.find("PurposeOfUse"))[0] == "ETREAT"


def test_a_login_as_atna_xml(login: AuditEvent) -> None:
    root = fromstring(atna.atna_message(login, source_id="indblik"))
    check_dicom_structure(root)
    event = root.find("EventIdentification")
    assert event is not None
    assert coded(event.find("EventID")) == ("110114", "DCM", "User Authentication")
    assert coded(event.find("EventTypeCode"))[0] == "110122"
    assert root.find("ParticipantObjectIdentification") is None  # no patient


def test_every_action_has_a_classification() -> None:
    missing = sorted({str(action) for action in Action} - set(codes.KINDS))
    # An unlisted action is forwarded as "Application Activity"; say what it is instead.
    assert not missing, f"classify {missing} in indblik/audit/forward/codes.py (KINDS)"


def test_an_unknown_action_is_forwarded_as_application_activity() -> None:
    kind = codes.kind_of("future:thing:happen")
    assert (kind.event_id, kind.action_code) == (codes.APPLICATION_ACTIVITY, "E")


# --- FHIR -------------------------------------------------------------------------------
def fhir_of(event: AuditEvent) -> dict[str, Any]:
    resource = audit_event_resource(event, source_id="indblik", base_url=BASE_URL)
    FhirAuditEvent.model_validate(resource)  # raises if it is not a valid R4 AuditEvent
    return resource


def test_a_patient_read_is_balp_patient_read(patient_read: AuditEvent) -> None:
    resource = fhir_of(patient_read)
    assert resource["id"] == f"indblik-{patient_read.pk}"
    assert resource["type"]["code"] == "rest"
    assert resource["subtype"][0] == {
        "system": "http://hl7.org/fhir/restful-interaction",
        "code": "read",
    }
    assert resource["action"] == "R" and resource["outcome"] == "0"
    user, organisation, server = resource["agent"]
    assert user["requestor"] is True and user["type"]["coding"][0]["code"] == "IRCP"
    assert user["who"] == {
        "identifier": {"system": f"{BASE_URL}/users", "value": "41"},
        "display": "Anne Holm",
    }
    assert user["altId"] == "0C4FG"
    assert user["role"] == [{"text": NURSE.role}]
    assert organisation["who"]["identifier"] == {"system": "http://cvr.dk", "value": "29189846"}
    assert server["requestor"] is False
    assert resource["source"]["observer"]["display"] == "indblik"
    patient, *resources = resource["entity"]
    assert patient["what"]["identifier"] == {
        "system": "urn:oid:1.2.208.176.1.2",
        "value": "0101701234",
    }
    assert patient["role"]["code"] == "1"
    assert [r["what"] for r in resources] == [
        {"reference": "Observation/obs-1"},
        {"reference": "DocumentReference/doc.7"},
        {"display": "odd id <&>"},
    ]
    assert resource["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"


def test_a_section_search_is_balp_patient_query(write_events: Any) -> None:
    event = record(
        None, Action.SECTION_SEARCH, actor=NURSE, patient_cpr="0101701234", section="labs"
    )
    resource = fhir_of(event)
    assert resource["subtype"][0]["code"] == "search-type" and resource["action"] == "E"
    query = [e for e in resource["entity"] if e["role"]["code"] == "24"]
    assert base64.b64decode(query[0]["query"]) == b"section=labs"


@pytest.mark.parametrize(
    ("details", "subtype", "action"),
    [
        ({"interaction": "search", "parameters": ["patient"]}, "search-type", "E"),
        ({"interaction": "read"}, "read", "R"),
        ({"interaction": "batch", "entries": 13, "search": 13}, "read", "R"),
    ],
)
def test_a_machine_search_is_patient_query_and_a_machine_read_patient_read(
    write_events: Any, details: dict[str, Any], subtype: str, action: str
) -> None:
    event = record(
        None,
        Action.FHIR_READ,
        actor=Actor(name="Region H (FHIR API)"),
        patient_cpr="0101701234",
        section="Observation",
        resource_ids=["Observation/obs-1"],
        details=details,
    )
    resource = fhir_of(event)
    assert resource["subtype"][0]["code"] == subtype and resource["action"] == action
    queries = [e for e in resource["entity"] if e["role"]["code"] == "24"]
    assert bool(queries) == (subtype == "search-type")
    root = fromstring(atna.atna_message(event, source_id="indblik"))
    check_dicom_structure(root)
    event_id = root.find("EventIdentification")
    assert event_id is not None
    assert coded(event_id.find("EventID"))[0] == ("110112" if queries else "110110")


def test_a_refusal_as_fhir(refusal: AuditEvent) -> None:
    resource = fhir_of(refusal)
    assert resource["outcome"] == "4" and resource["outcomeDesc"] == "citizen_block"
    assert resource["type"]["code"] == "110110"
    assert {"system": codes.DCM, "code": "110127", "display": "Emergency Override Started"} in (
        resource["subtype"]
    )
    assert resource["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"


def test_a_login_as_fhir(login: AuditEvent) -> None:
    resource = fhir_of(login)
    assert resource["type"]["code"] == "110114" and resource["subtype"][0]["code"] == "110122"
    assert "entity" not in resource


def test_an_anonymous_refused_login_is_still_valid() -> None:
    event = record(None, Action.LOGIN_REFUSED, outcome=Outcome.REFUSED)
    resource = fhir_of(event)
    assert "who" not in resource["agent"][0]
    person = fromstring(atna.atna_message(event, source_id="indblik")).find("ActiveParticipant")
    assert person is not None and person.get("UserID") == "anonymous"


# --- syslog ------------------------------------------------------------------------------
def test_the_syslog_message_header_and_structured_data(refusal: AuditEvent) -> None:
    message = syslog_message(refusal, source_id="indblik", facility=10, enterprise_number=32473)
    header, _, body = message.partition(" \ufeff")
    assert header == (
        f"<84>1 {refusal.at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} indblik indblik - IHE+RFC-3881 "
        f'[indblik@32473 eventId="{refusal.pk}" action="access:decision:deny" '
        f'outcome="refused" rowHash="{refusal.row_hash}"]'
    )
    assert body.startswith("<?xml")
    assert "0101701234" not in header  # the CPR is in the XML body only


def test_the_priority_follows_the_outcome(patient_read: AuditEvent) -> None:
    assert syslog_message(patient_read, source_id="indblik").startswith("<85>1 ")  # authpriv.notice
    assert syslog_message(patient_read, source_id="indblik", facility=16).startswith("<133>1 ")


def test_structured_data_values_are_escaped(settings: Any) -> None:
    event = record(None, Action.LOGIN)
    event.request_id = 'a"b]c\\d'  # not saved: only formatted
    message = syslog_message(event, source_id="indblik")
    assert 'requestId="a\\"b\\]c\\\\d"' in message


def test_octet_counting_frames_count_bytes_not_characters(patient_read: AuditEvent) -> None:
    message = syslog_message(patient_read, source_id="indblik")
    framed = frame(message) + frame(message)
    length, _, _ = framed.partition(b" ")
    assert int(length) == len(message.encode()) > len(message)  # "ø" and the BOM
    assert parse_frames(framed) == ([message, message], b"")
