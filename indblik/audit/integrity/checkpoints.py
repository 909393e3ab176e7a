"""Checkpoints: which rows are settled, and sealing them with a signed, chained statement."""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from indblik.audit import canonical, keys
from indblik.audit.integrity.merkle import MerkleBuilder
from indblik.audit.integrity.rows import hashed_rows
from indblik.audit.models import AuditCheckpoint, AuditEvent

# The `previous` of the first checkpoint.
GENESIS = "0" * 64
STATEMENT_TYPE = "indblik-audit-checkpoint"
STATEMENT_VERSION = 1
# Manifest entry: row id (signed 64-bit big-endian) and the first 8 bytes of its row hash.
MANIFEST_ENTRY = struct.Struct(">q8s")
# Any fixed number: serialises concurrent `audit checkpoint` runs on PostgreSQL.
_CHECKPOINT_LOCK = 0x1DB11C_A0D17


# --- the signed statement -------------------------------------------------------------------
def checkpoint_statement(
    *,
    sequence: int,
    first_id: int,
    last_id: int,
    row_count: int,
    merkle_root: str,
    manifest_digest: str,
    previous: str,
    created_at: datetime,
    key_id: str,
) -> bytes:
    """Return the canonical bytes a checkpoint's signature and digest are computed over."""
    return orjson.dumps(
        {
            "type": STATEMENT_TYPE,
            "version": STATEMENT_VERSION,
            "sequence": sequence,
            "first_id": first_id,
            "last_id": last_id,
            "row_count": row_count,
            "merkle_root": merkle_root,
            "manifest_digest": manifest_digest,
            "previous": previous,
            "created_at": canonical.canonical_time(created_at),
            "key_id": key_id,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def statement_of(checkpoint: AuditCheckpoint) -> bytes:
    """Return the statement of a stored checkpoint, rebuilt from its columns."""
    return checkpoint_statement(
        sequence=checkpoint.sequence,
        first_id=checkpoint.first_id,
        last_id=checkpoint.last_id,
        row_count=checkpoint.row_count,
        merkle_root=checkpoint.merkle_root,
        manifest_digest=checkpoint.manifest_digest,
        previous=checkpoint.previous,
        created_at=checkpoint.created_at,
        key_id=checkpoint.key_id,
    )


def manifest_entries(blob: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield the (row id, 8-byte hash prefix) pairs of a stored (compressed) manifest."""
    yield from MANIFEST_ENTRY.iter_unpack(zlib.decompress(blob))


# --- which rows may be sealed ---------------------------------------------------------------
def oldest_open_transaction() -> datetime | None:
    """Return when the oldest other open transaction on this database began (PostgreSQL).

    An insert not yet committed is invisible to us, and its id may be lower than ids already
    visible. Its transaction shows in pg_stat_activity, though, with its start time. (Other
    roles' sessions show no start time without pg_read_all_stats: run the checkpoint as the
    role the application writes with.) SQLite needs no such look: one writer at a time, and
    the checkpoint's own write transaction waits for it.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        # Statistics views are snapshotted once per transaction: take a fresh look.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND xact_start IS NOT NULL"
        )
        (started,) = cursor.fetchone()
    return started


def settled_horizon(now: datetime | None = None) -> datetime:
    """Return a time such that every row with an earlier ``at`` that will ever exist is visible.

    horizon = min(now, start of the oldest other open transaction) - margin, with the margin
    (INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS, default 60 s) larger than the time from a row's
    stamp to the end of its insert plus clock skew. A row still in flight was stamped no
    earlier than (about) its transaction's start, so it lies after the horizon, and so does
    every row with a higher id. The proof is in docs/audit.md, "Rows committed out of order".
    """
    margin = timedelta(seconds=settings.INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS)
    start = timezone.now() if now is None else now
    oldest = oldest_open_transaction()
    if oldest is not None:
        start = min(start, oldest)
    return start - margin


def sealable_upper_id(rows: Iterable[tuple[int, datetime]], horizon: datetime) -> int | None:
    """Return the highest id a checkpoint may seal given visible (id, at) pairs, or None.

    That is the largest id of a row stamped before the horizon. Every row with a lower id is
    settled too, even one stamped after the horizon: it got its id before that older row did,
    and the older row was inserted before the horizon + margin, i.e. before the oldest open
    transaction began - so the lower-id row's transaction has ended as well.
    """
    ids = [row_id for row_id, at in rows if at < horizon]
    return max(ids) if ids else None


def settled_upper_id(after_id: int = 0, now: datetime | None = None) -> int | None:
    """Return the highest id up to which no row can still appear or vanish, or None.

    Only rows after ``after_id`` are considered. Checkpoints seal up to here; the forwarder
    (a later issue) must not move its cursor past it either, or it would skip late commits.
    """
    # Ordering matters: measure the horizon (and the oldest open transaction) before looking
    # at any row, so that a transaction beginning afterwards stamps its rows later than it.
    horizon = settled_horizon(now)
    result = AuditEvent.objects.filter(id__gt=after_id, at__lt=horizon).aggregate(top=Max("id"))
    return result["top"]  # the database's sealable_upper_id over the visible rows


# --- creating a checkpoint ------------------------------------------------------------------
class CheckpointRefused(Exception):
    """The checkpoint was not made: a row no longer matches its hash, or another run won."""


def create_checkpoint(now: datetime | None = None) -> AuditCheckpoint | None:
    """Seal the settled rows written since the last checkpoint; return None when there are none.

    Raises CheckpointRefused when a row to be sealed no longer matches its hash (sealing it
    would bless a tampered row) or when a concurrent run sealed first, and AuditKeyError when
    the signing key is missing (production) or unusable.
    """
    # The key first: a missing key should fail before minutes of hashing, not after.
    signing_key = keys.load_signing_key()
    kid = keys.key_id(signing_key.public_key())
    now = timezone.now() if now is None else now
    # Read and hash outside any transaction: on SQLite a write transaction would lock out every
    # audit write (and so every page) for as long as the hashing takes.
    last = AuditCheckpoint.objects.order_by("-sequence").defer("manifest").first()
    after_id = last.last_id if last else 0
    upper_id = settled_upper_id(after_id, now)
    if upper_id is None:
        return None
    tree = MerkleBuilder()
    manifest = bytearray()
    for row_id, stored, raw in hashed_rows(
        AuditEvent.objects.filter(id__gt=after_id, id__lte=upper_id)
    ):
        if raw is None or raw.hex() != stored:
            raise CheckpointRefused(
                f"row {row_id} does not match its hash; not sealing it - "
                "run `indblik audit verify` and investigate"
            )
        tree.add(raw)
        manifest += MANIFEST_ENTRY.pack(row_id, raw[:8])
    fields: dict[str, Any] = {
        "sequence": (last.sequence + 1) if last else 1,
        "first_id": after_id + 1,
        "last_id": upper_id,
        "row_count": tree.count,
        "merkle_root": tree.root().hex(),
        "manifest_digest": hashlib.sha256(manifest).hexdigest(),
        "previous": last.digest if last else GENESIS,
        "created_at": now,
        "key_id": kid,
    }
    statement = checkpoint_statement(**fields)
    checkpoint = AuditCheckpoint(
        **fields,
        manifest=zlib.compress(bytes(manifest), 6),
        digest=hashlib.sha256(statement).hexdigest(),
        signature=signing_key.sign(statement).hex(),
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # One run at a time (SQLite's write transaction already is exclusive).
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHECKPOINT_LOCK])
        newest = AuditCheckpoint.objects.aggregate(top=Max("sequence"))["top"] or 0
        if newest != (last.sequence if last else 0):
            raise CheckpointRefused("another checkpoint run sealed these rows first; run again")
        # Model.save, not checkpoint.save(): the model refuses every other caller.
        models.Model.save(checkpoint, force_insert=True)
    return checkpoint


def unsealed_rows() -> tuple[int, datetime | None]:
    """Return how many rows no checkpoint covers yet, and when the oldest of them was written."""
    last_id = AuditCheckpoint.objects.aggregate(top=Max("last_id"))["top"] or 0
    pending = AuditEvent.objects.filter(id__gt=last_id)
    oldest = pending.order_by("id").values_list("at", flat=True).first()
    return pending.count(), oldest
