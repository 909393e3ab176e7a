"""The audit log: one writer, append-only storage, signed integrity checkpoints.

Public API::

    from indblik import audit
    from indblik.audit import Action, Actor, Outcome

    audit.record(request, Action.PATIENT_READ, patient_cpr=cpr, section="snapshot")

``record`` and ``AuditEvent`` are loaded on first use: this package is imported while Django
is still loading apps, before models may be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from indblik.audit.actions import Action, Outcome
from indblik.audit.actors import Actor
from indblik.audit.errors import AppendOnlyError, AuditKeyError, AuditWriteError

if TYPE_CHECKING:
    from indblik.audit.models import AuditCheckpoint, AuditEvent
    from indblik.audit.writer import record

__all__ = [
    "Action",
    "Actor",
    "AppendOnlyError",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditKeyError",
    "AuditWriteError",
    "Outcome",
    "record",
]


def __getattr__(name: str) -> Any:
    if name == "record":
        from indblik.audit.writer import record

        return record
    if name in ("AuditEvent", "AuditCheckpoint"):
        from indblik.audit import models

        return getattr(models, name)
    raise AttributeError(f"module 'indblik.audit' has no attribute {name!r}")
