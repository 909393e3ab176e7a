"""What each audit action is in the vocabularies of central logging (DICOM, FHIR, RFC 3881).

One table, used by both the syslog (IHE ATNA / DICOM PS3.15 A.5) and the FHIR (IHE BALP)
formats, so the two never disagree. An action missing here (added later) is forwarded as
"Application Activity" with its own name in the event type: it is never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from indblik.audit.actions import Action, Outcome

DCM = "http://dicom.nema.org/resources/ontology/DCM"  # FHIR's URI for the DICOM codes
ACTION_SYSTEM = "urn:indblik:audit-action"  # our own action names (Action values)
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"  # the Danish CPR number (as in records.fhir)
CPR_OID = "1.2.208.176.1.2"
CVR_SYSTEM = "http://cvr.dk"  # the Danish business register (DK Core)
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_REASON_OID = "2.16.840.1.113883.5.8"


@dataclass(frozen=True, slots=True)
class Code:
    """A code with its display text."""

    code: str
    display: str


APPLICATION_ACTIVITY = Code("110100", "Application Activity")
AUDIT_LOG_USED = Code("110101", "Audit Log Used")
EXPORT = Code("110106", "Export")
IMPORT = Code("110107", "Import")
PATIENT_RECORD = Code("110110", "Patient Record")
QUERY = Code("110112", "Query")
SECURITY_ALERT = Code("110113", "Security Alert")
USER_AUTHENTICATION = Code("110114", "User Authentication")
LOGIN = Code("110122", "Login")
LOGOUT = Code("110123", "Logout")
NODE_AUTHENTICATION = Code("110126", "Node Authentication")
EMERGENCY_OVERRIDE = Code("110127", "Emergency Override Started")
SECURITY_CONFIGURATION = Code("110129", "Security Configuration")
OBJECT_SECURITY_ATTRIBUTES = Code("110135", "Object Security Attributes Changed")
USER_SECURITY_ATTRIBUTES = Code("110137", "User Security Attributes Changed")


@dataclass(frozen=True, slots=True)
class Kind:
    """How one action is classified: DICOM event id and type, and the C/R/U/D/E action code.

    ``interaction`` is the FHIR RESTful interaction of IHE BALP's PatientRead (``read``) and
    PatientQuery (``search-type``) patterns; such events get FHIR type ``rest``.
    """

    event_id: Code
    action_code: str
    event_type: Code | None = None
    interaction: str | None = None


_READ = Kind(PATIENT_RECORD, "R", interaction="read")
_CONFIGURATION = Kind(SECURITY_ALERT, "U", SECURITY_CONFIGURATION)

KINDS: dict[str, Kind] = {
    Action.PATIENT_READ: _READ,
    Action.DOCUMENT_VIEW: _READ,
    Action.FHIR_READ: _READ,
    Action.DOCUMENT_DOWNLOAD: Kind(EXPORT, "R"),
    Action.PAGE_PRINT: Kind(EXPORT, "R"),
    Action.SECTION_SEARCH: Kind(QUERY, "E", interaction="search-type"),
    Action.LAUNCH_ACCEPTED: Kind(USER_AUTHENTICATION, "E", LOGIN),
    Action.LAUNCH_REFUSED: Kind(USER_AUTHENTICATION, "E", LOGIN),
    Action.LOGIN: Kind(USER_AUTHENTICATION, "E", LOGIN),
    Action.LOGIN_REFUSED: Kind(USER_AUTHENTICATION, "E", LOGIN),
    Action.LOGOUT: Kind(USER_AUTHENTICATION, "E", LOGOUT),
    Action.SESSION_EXPIRED: Kind(USER_AUTHENTICATION, "E", LOGOUT),
    # A policy decision opens (or refuses) access to one patient's record.
    Action.ACCESS_ALLOWED: Kind(PATIENT_RECORD, "E"),
    Action.ACCESS_DENIED: Kind(PATIENT_RECORD, "E"),
    Action.ADMIN_CHANGE: _CONFIGURATION,
    Action.ORGANISATION_CHANGE: _CONFIGURATION,
    Action.ORGANISATION_CHECKLIST_DONE: _CONFIGURATION,
    Action.ORGANISATION_CHECKLIST_REOPEN: _CONFIGURATION,
    Action.ORGANISATION_STATUS_CHANGE: _CONFIGURATION,
    Action.ORGANISATION_NETWORK_CHANGE: _CONFIGURATION,
    Action.ORGANISATION_KEY_CHANGE: _CONFIGURATION,
    Action.ORGANISATION_ROLE_CHANGE: _CONFIGURATION,
    Action.ORGANISATION_ACCESS_REFUSED: Kind(SECURITY_ALERT, "E", NODE_AUTHENTICATION),
    Action.USER_DEACTIVATED: Kind(SECURITY_ALERT, "U", USER_SECURITY_ATTRIBUTES),
    Action.USER_DELETED: Kind(SECURITY_ALERT, "D", USER_SECURITY_ATTRIBUTES),
    Action.AUDIT_EXPORT: Kind(AUDIT_LOG_USED, "R"),
    Action.INGEST_RUN: Kind(IMPORT, "C"),
    Action.RATE_LIMITED: Kind(SECURITY_ALERT, "E", NODE_AUTHENTICATION),
    # followup: the citizen's own log and the organisation's log review (by value: the
    # follow-up app owns these members).
    "followup:citizen-log:read": Kind(AUDIT_LOG_USED, "R"),
    "followup:log:search": Kind(AUDIT_LOG_USED, "E"),
    "followup:log:export": Kind(AUDIT_LOG_USED, "R"),
    "followup:spot-check:draw": Kind(AUDIT_LOG_USED, "E"),
    "followup:case:read": Kind(AUDIT_LOG_USED, "R"),
    "followup:case:review": Kind(AUDIT_LOG_USED, "U"),
    # A citizen blocks or unblocks an organisation (a FHIR Consent).
    "followup:block:change": Kind(SECURITY_ALERT, "U", OBJECT_SECURITY_ATTRIBUTES),
    # An administrator confirms who they are before a sensitive admin change (identity).
    "identity:session:reauthenticate": Kind(USER_AUTHENTICATION, "E", LOGIN),
    # Usage and feedback reports downloaded as CSV (usage): counts, never patient data.
    "usage:report:export": Kind(EXPORT, "R"),
}
_UNKNOWN = Kind(APPLICATION_ACTIVITY, "E")

# DICOM / RFC 3881 / FHIR R4 EventOutcomeIndicator: 0 success, 4 minor failure (a refusal:
# the system did what it should), 8 serious failure (an error).
OUTCOME_CODES: dict[str, str] = {Outcome.SUCCESS: "0", Outcome.REFUSED: "4", Outcome.ERROR: "8"}

# The purposes the access policy knows (launch token ``purpose``), as HL7 v3 ActReason.
PURPOSES = {
    "treatment": Code("TREAT", "treatment"),
    "emergency": Code("ETREAT", "Emergency Treatment"),
}


_MACHINE_QUERY = Kind(QUERY, "E", interaction="search-type")


def kind_of(action: str, details: Mapping[str, Any] | None = None) -> Kind:
    """Return the classification of ``action`` (Application Activity if it is not listed).

    A machine client's read through the FHIR API (``fhir:resource:read``) is BALP's
    PatientRead when it read one resource, and its PatientQuery when it searched
    (``details.interaction`` = ``search``); a batch of both stays a read of what it names.
    """
    if action == Action.FHIR_READ and details and details.get("interaction") == "search":
        return _MACHINE_QUERY
    return KINDS.get(action, _UNKNOWN)


def outcome_code(outcome: str) -> str:
    """Return the DICOM/FHIR outcome indicator of an ``Outcome`` value."""
    return OUTCOME_CODES.get(outcome, "8")


def is_emergency(purpose: str) -> bool:
    """Tell whether the event was emergency access (it gets DICOM's "Emergency Override")."""
    return purpose == "emergency"
