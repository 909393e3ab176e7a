"""Integrity of the audit log: signed Merkle checkpoints and the verifier (CloudTrail's model).

Each row carries the SHA-256 of its own canonical form (:mod:`indblik.audit.canonical`), so
writing needs no global lock. Every few minutes :func:`create_checkpoint` seals the rows written
since the previous checkpoint: an RFC 6962 Merkle root over their hashes in id order, their
count, a manifest of (id, hash prefix) pairs, and the digest of the previous checkpoint, all
signed with Ed25519. :func:`verify` recomputes everything and names the first row or checkpoint
that does not add up. docs/audit.md describes the formats for external auditors.
"""

from __future__ import annotations

from indblik.audit.integrity.checkpoints import (
    GENESIS,
    MANIFEST_ENTRY,
    CheckpointRefused,
    checkpoint_statement,
    create_checkpoint,
    manifest_entries,
    oldest_open_transaction,
    sealable_upper_id,
    settled_horizon,
    settled_upper_id,
    statement_of,
    unsealed_rows,
)
from indblik.audit.integrity.merkle import MerkleBuilder, leaf_hash, merkle_root, node_hash
from indblik.audit.integrity.rows import hashed_rows
from indblik.audit.integrity.verification import (
    EXPECTED_TRIGGERS,
    MAX_PROBLEMS,
    TABLES,
    Problem,
    VerifyReport,
    verify,
)

__all__ = [
    "EXPECTED_TRIGGERS",
    "GENESIS",
    "MANIFEST_ENTRY",
    "MAX_PROBLEMS",
    "TABLES",
    "CheckpointRefused",
    "MerkleBuilder",
    "Problem",
    "VerifyReport",
    "checkpoint_statement",
    "create_checkpoint",
    "hashed_rows",
    "leaf_hash",
    "manifest_entries",
    "merkle_root",
    "node_hash",
    "oldest_open_transaction",
    "sealable_upper_id",
    "settled_horizon",
    "settled_upper_id",
    "statement_of",
    "unsealed_rows",
    "verify",
]
