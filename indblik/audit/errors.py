"""Exceptions of the audit app (no model imports, so anything may import them early)."""

from __future__ import annotations


class AuditWriteError(Exception):
    """The audit row could not be written; the caller must not show or return any data."""


class AppendOnlyError(Exception):
    """Someone tried to change or delete an audit row or checkpoint (a programming error)."""


class AuditKeyError(Exception):
    """The checkpoint signing key or a verification key is missing or unusable."""
