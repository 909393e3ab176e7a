"""What an audit event says happened: the action (``source:subject:action``) and its outcome.

The values are stored in the database, forwarded to central logging and shown to citizens, so
they are stable: add new members, never rename or reuse one.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """An audited action, named ``source:subject:action`` like Warehouse's event tags."""

    # chart: the record pages
    PATIENT_READ = "chart:patient:read"
    DOCUMENT_VIEW = "chart:document:view"
    DOCUMENT_DOWNLOAD = "chart:document:download"
    PAGE_PRINT = "chart:page:print"
    SECTION_SEARCH = "chart:section:search"
    # launch: the deep link from the care system
    LAUNCH_ACCEPTED = "launch:token:accepted"
    LAUNCH_REFUSED = "launch:token:refused"
    # identity: sign-in and sessions
    LOGIN = "identity:session:login"
    LOGOUT = "identity:session:logout"
    LOGIN_REFUSED = "identity:login:refused"
    # access: every policy decision, allow or deny
    ACCESS_ALLOWED = "access:decision:allow"
    ACCESS_DENIED = "access:decision:deny"
    # administration
    ADMIN_CHANGE = "admin:object:change"
    ORGANISATION_CHANGE = "organisations:organisation:change"
    AUDIT_EXPORT = "audit:export:run"
    INGEST_RUN = "records:ingest:run"
    # machine API
    FHIR_READ = "fhir:resource:read"
    # organisations: the registry (onboarding, allowlist, keys, role, status) and its gate
    ORGANISATION_CHECKLIST_DONE = "organisations:checklist:done"
    ORGANISATION_CHECKLIST_REOPEN = "organisations:checklist:reopen"
    ORGANISATION_STATUS_CHANGE = "organisations:status:change"
    ORGANISATION_NETWORK_CHANGE = "organisations:network:change"
    ORGANISATION_KEY_CHANGE = "organisations:key:change"
    ORGANISATION_ROLE_CHANGE = "organisations:role:change"
    ORGANISATION_ACCESS_REFUSED = "organisations:access:refused"
    # identity: user lifecycle and session policy
    USER_DEACTIVATED = "identity:user:deactivate"
    SESSION_EXPIRED = "identity:session:expire"
    USER_DELETED = "identity:user:delete"
    # identity: re-authentication before sensitive admin changes (outcome success/refused)
    REAUTHENTICATE = "identity:session:reauthenticate"
    # usage: rollout and feedback reports leaving the system as CSV
    USAGE_EXPORT = "usage:report:export"
    # followup: the citizen's own log (Min log) and the organisation's log follow-up
    CITIZEN_LOG_READ = "followup:citizen-log:read"
    CITIZEN_BLOCK = "followup:block:change"
    FOLLOWUP_SEARCH = "followup:log:search"
    FOLLOWUP_EXPORT = "followup:log:export"
    FOLLOWUP_CASE_READ = "followup:case:read"
    FOLLOWUP_REVIEW = "followup:case:review"
    FOLLOWUP_SPOT_CHECK_DRAW = "followup:spot-check:draw"
    # security: a client address went over a rate limit (sign-in, launch, SCIM)
    RATE_LIMITED = "security:rate-limit:exceeded"


class Outcome(StrEnum):
    """How the action ended."""

    SUCCESS = "success"
    REFUSED = "refused"
    ERROR = "error"
