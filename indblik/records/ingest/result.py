"""What an ingestion reports: errors that name where and what (never a value), and counts.

The same objects feed the CLI's messages, the ``IngestionRun`` row and the HTTP responses
(OperationOutcome, transaction-response and batch-response Bundles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Error lists are capped: a million-line NDJSON file of garbage must not become a
# million-element list in memory, a megabyte error column or a giant HTTP response.
MAX_ERRORS = 1000
MAX_ISSUES = 100

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
}


class Action(StrEnum):
    """What happened to one entry."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IngestError:
    """One refused entry or payload: where (entry index or line, FHIR path) and what.

    ``entry_index`` is the 0-based index of a Bundle entry (as in ``Bundle.entry[3]``), the
    1-based line number of an NDJSON line (``where == "line"``), or None for the payload as a
    whole. ``problem`` is plain English and never quotes the offending value.
    """

    entry_index: int | None
    path: str
    problem: str
    code: str = "invalid"  # OperationOutcome issue type
    where: str = "entry"

    def __str__(self) -> str:
        located = self.entry_index is not None and self.where
        location = f"{self.where} {self.entry_index}: " if located else ""
        if self.path:
            return f"{location}{self.path}: {self.problem}"
        return f"{location}{self.problem}"

    @property
    def status(self) -> int:
        """Return the HTTP status this error stands for."""
        if self.code == "too-long":
            return 413
        if self.code == "conflict":
            return 409
        if self.code in ("structure", "not-supported", "duplicate", "too-costly"):
            return 400
        return 422

    def to_issue(self) -> dict[str, Any]:
        """Return this error as an OperationOutcome issue."""
        issue: dict[str, Any] = {"severity": "error", "code": self.code, "diagnostics": str(self)}
        if self.path:
            issue["expression"] = [self.path]
        return issue


class PayloadRefused(Exception):
    """The payload as a whole cannot be processed (too large, not JSON, wrong type…)."""

    def __init__(self, error: IngestError, status: int | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.status = status or error.status


@dataclass
class EntryOutcome:
    """The outcome of one entry of a transaction or batch Bundle (or a single interaction)."""

    index: int
    action: Action
    resource_type: str = ""
    fhir_id: str = ""
    version: int | None = None
    errors: tuple[IngestError, ...] = ()

    @property
    def status(self) -> int:
        """Return the HTTP status of this entry."""
        if self.action == Action.FAILED:
            return max((error.status for error in self.errors), default=422)
        return 201 if self.action == Action.CREATED else 200

    @property
    def location(self) -> str:
        """Return ``Type/id/_history/version`` (or ``Type/id``; '' when unknown)."""
        if not (self.resource_type and self.fhir_id):
            return ""
        base = f"{self.resource_type}/{self.fhir_id}"
        return f"{base}/_history/{self.version}" if self.version else base

    def to_response_entry(self) -> dict[str, Any]:
        """Return this outcome as a Bundle.entry of a transaction- or batch-response."""
        response: dict[str, Any] = {"status": f"{self.status} {_REASONS.get(self.status, '')}"}
        if self.action != Action.FAILED and self.location:
            response["location"] = self.location
            if self.version:
                response["etag"] = f'W/"{self.version}"'
        if self.errors:
            response["outcome"] = operation_outcome([error.to_issue() for error in self.errors])
        elif self.action == Action.UNCHANGED:
            response["outcome"] = operation_outcome(
                [information("unchanged: identical to or older than the stored version")]
            )
        return {"response": response}


@dataclass
class IngestResult:
    """What one ingestion did: counts, per-entry outcomes (bundles), errors, HTTP status."""

    source: str
    channel: str
    kind: str = "resources"  # transaction, batch, collection, ndjson, resource, resources
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    entries: list[EntryOutcome] = field(default_factory=list)
    errors: list[IngestError] = field(default_factory=list)
    errors_omitted: int = 0
    refused_status: int | None = None  # set when the payload as a whole was refused
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        """Return True when everything was stored (or already was)."""
        return self.failed == 0 and not self.errors and self.refused_status is None

    @property
    def stored(self) -> int:
        """Return how many entries are now as sent (created, updated, unchanged or deleted)."""
        return self.created + self.updated + self.unchanged + self.deleted

    @property
    def total(self) -> int:
        """Return how many entries were seen."""
        return self.stored + self.failed

    @property
    def status(self) -> int:
        """Return the HTTP status for the whole payload."""
        if self.refused_status is not None:
            return self.refused_status
        if self.kind == "batch":
            return 200  # per-entry outcomes are in the batch-response
        if self.kind == "interaction" and self.entries:
            return self.entries[0].status
        if self.ok:
            return 201 if self.kind == "resource" and self.created else 200
        statuses = [error.status for error in self.errors] or [422]
        return max(set(statuses), key=statuses.count)

    def add_error(self, error: IngestError) -> None:
        """Record an error (beyond ``MAX_ERRORS`` only count it)."""
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)
        else:
            self.errors_omitted += 1

    def count(self, action: Action) -> None:
        """Count one entry's outcome."""
        setattr(self, action.value, getattr(self, action.value) + 1)

    def summary(self) -> str:
        """Return the counts as one line (no clinical content)."""
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.deleted} deleted, {self.failed} failed"
        )

    def to_operation_outcome(self) -> dict[str, Any]:
        """Return the errors (or a summary when there are none) as an OperationOutcome."""
        issues = [error.to_issue() for error in self.errors[:MAX_ISSUES]]
        hidden = len(self.errors) - len(issues) + self.errors_omitted
        if hidden:
            issues.append(information(f"{hidden} more problems not shown"))
        if self.refused_status is not None:
            issues.append(information("nothing was stored"))
        elif self.kind == "transaction" and not self.ok:
            issues.append(information("transaction rolled back: nothing was stored"))
        else:
            issues.append(information(self.summary()))
        return operation_outcome(issues)

    def to_bundle_response(self) -> dict[str, Any]:
        """Return the transaction-response or batch-response Bundle."""
        kind = "transaction-response" if self.kind == "transaction" else "batch-response"
        return {
            "resourceType": "Bundle",
            "type": kind,
            "entry": [outcome.to_response_entry() for outcome in self.entries],
        }

    def to_fhir(self) -> dict[str, Any]:
        """Return the body of the HTTP response for this result."""
        if self.refused_status is None and (
            self.kind == "batch" or (self.kind == "transaction" and self.ok)
        ):
            return self.to_bundle_response()
        if self.kind == "interaction" and self.entries and self.ok:
            outcome = self.entries[0]
            return operation_outcome([information(f"{outcome.action.value}: {outcome.location}")])
        return self.to_operation_outcome()


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    """Return an OperationOutcome resource with these issues."""
    return {"resourceType": "OperationOutcome", "issue": issues}


def information(text: str) -> dict[str, Any]:
    """Return an informational OperationOutcome issue."""
    return {"severity": "information", "code": "informational", "diagnostics": text}
