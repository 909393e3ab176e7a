"""The verifier: every row's hash, every checkpoint's rows, signature and chain."""

from __future__ import annotations

import hashlib
import multiprocessing
import time
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection, connections, models, transaction

from indblik.audit import keys
from indblik.audit.integrity.checkpoints import GENESIS, MANIFEST_ENTRY, statement_of
from indblik.audit.integrity.merkle import MerkleBuilder
from indblik.audit.integrity.rows import hashed_rows
from indblik.audit.models import AuditCheckpoint, AuditEvent

MAX_PROBLEMS = 100

# The triggers migration 0002 installs, by database vendor.
TABLES = ("audit_auditevent", "audit_auditcheckpoint")
EXPECTED_TRIGGERS = {
    "postgresql": {f"{t}_{s}" for t in TABLES for s in ("append_only", "no_truncate")},
    "sqlite": {f"{t}_no_{v}" for t in TABLES for v in ("update", "delete")},
}


@dataclass(frozen=True)
class Problem:
    """One thing that does not add up, the first row or checkpoint it concerns, and what."""

    kind: str
    message: str
    row_id: int | None = None
    sequence: int | None = None


@dataclass
class VerifyReport:
    """What :func:`verify` found."""

    rows: int = 0
    sealed_rows: int = 0
    unsealed_rows: int = 0
    first_unsealed_id: int | None = None
    last_unsealed_id: int | None = None
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    seconds: float = 0.0
    processes: int = 1

    @property
    def ok(self) -> bool:
        """Return True when nothing is wrong."""
        return not self.problems

    @property
    def rows_per_second(self) -> float:
        """Return the verification speed."""
        return self.rows / self.seconds if self.seconds else 0.0

    def add(self, problem: Problem) -> None:
        """Record a problem (the first MAX_PROBLEMS are kept, the rest counted)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more_problems += 1

    def merge(self, later: VerifyReport) -> None:
        """Add the findings of the next id range (parallel verification)."""
        self.rows += later.rows
        self.sealed_rows += later.sealed_rows
        self.unsealed_rows += later.unsealed_rows
        if self.first_unsealed_id is None:
            self.first_unsealed_id = later.first_unsealed_id
        self.last_unsealed_id = later.last_unsealed_id or self.last_unsealed_id
        for problem in later.problems:
            self.add(problem)
        self.more_problems += later.more_problems


class _Seal:
    """A checkpoint being compared with the rows in its range as they stream past."""

    def __init__(self, checkpoint: AuditCheckpoint, report: VerifyReport) -> None:
        self.checkpoint = checkpoint
        self.report = report
        self.tree = MerkleBuilder()
        blob = AuditCheckpoint.objects.values_list("manifest", flat=True).get(pk=checkpoint.pk)
        try:
            raw: bytes | None = zlib.decompress(bytes(blob))
        except zlib.error:
            raw = None
        # A manifest that is not the signed one says nothing about the rows: do not compare
        # them with it (every row would look inserted); the count and the root still speak.
        self.use_manifest = (
            raw is not None and hashlib.sha256(raw).hexdigest() == checkpoint.manifest_digest
        )
        if not self.use_manifest:
            report.add(
                self._problem(
                    "checkpoint-manifest", "its manifest does not match its signed digest"
                )
            )
        self.problems_before = len(report.problems) + report.more_problems
        entries = raw if raw is not None and self.use_manifest else b""
        self.manifest: Iterator[tuple[int, bytes]] = MANIFEST_ENTRY.iter_unpack(entries)
        self.expected = next(self.manifest, None)

    def _problem(self, kind: str, text: str, row_id: int | None = None) -> Problem:
        return Problem(
            kind, f"checkpoint {self.checkpoint.sequence}: {text}", row_id, self.checkpoint.sequence
        )

    def row(self, row_id: int, stored_hash: bytes) -> None:
        """Compare the next row of the range with what the checkpoint sealed."""
        if not self.use_manifest:
            self.tree.add(stored_hash)
            return
        expected = self.expected
        if expected is not None and expected[0] == row_id:  # the usual case, kept short
            if expected[1] != stored_hash[:8]:
                self.report.add(
                    self._problem(
                        "row-rewritten",
                        f"row {row_id} differs from the row that was sealed "
                        "(its content and its hash were both rewritten)",
                        row_id,
                    )
                )
            self.expected = next(self.manifest, None)
            self.tree.add(stored_hash)
            return
        while self.expected is not None and self.expected[0] < row_id:
            self._missing(self.expected[0])
            self.expected = next(self.manifest, None)
        if self.expected is not None and self.expected[0] == row_id:
            self.row(row_id, stored_hash)
            return
        self.report.add(
            self._problem(
                "row-inserted",
                f"row {row_id} was inserted into the sealed range "
                f"{self.checkpoint.first_id}-{self.checkpoint.last_id}",
                row_id,
            )
        )
        self.tree.add(stored_hash)

    def _missing(self, row_id: int) -> None:
        self.report.add(
            self._problem(
                "row-missing", f"row {row_id} was sealed but is missing (deleted)", row_id
            )
        )

    def finish(self) -> None:
        """Report sealed rows that never came, then compare count and Merkle root."""
        while self.expected is not None:
            self._missing(self.expected[0])
            self.expected = next(self.manifest, None)
        if len(self.report.problems) + self.report.more_problems > self.problems_before:
            return  # the row-level problems above already explain any count or root mismatch
        if self.tree.count != self.checkpoint.row_count:
            self.report.add(
                self._problem(
                    "checkpoint-count",
                    f"it sealed {self.checkpoint.row_count} rows, the range now holds "
                    f"{self.tree.count}",
                )
            )
        elif self.tree.root().hex() != self.checkpoint.merkle_root:
            self.report.add(
                self._problem(
                    "checkpoint-root", "the Merkle root of the rows in its range does not match"
                )
            )


def verify(*, processes: int = 1, anchors: Mapping[int, str] | None = None) -> VerifyReport:
    """Check every row's hash, every checkpoint's rows, signature and chain; report problems.

    ``anchors`` maps checkpoint sequence numbers to digests kept outside the database (the
    line `audit checkpoint` prints): the chain alone cannot show that its newest links were
    cut off, an anchor can. With ``processes`` > 1 the rows are checked by that many worker
    processes, each taking a run of whole checkpoints; the findings are the same.
    """
    started = time.perf_counter()
    report = VerifyReport()
    fan_out = _can_fan_out(processes)  # before _read_snapshot opens a transaction
    with _read_snapshot():
        _check_triggers(report)
        checkpoints = list(AuditCheckpoint.objects.order_by("sequence").defer("manifest"))
        report.checkpoints = len(checkpoints)
        _check_chain(checkpoints, report)
        _check_anchors(checkpoints, anchors or {}, report)
        parts = _partition(checkpoints, processes) if fan_out else []
        if len(parts) < 2:
            _check_rows(checkpoints, report, AuditEvent.objects.all())
    if len(parts) >= 2:
        report.processes = len(parts)
        # Workers open their own connections; a forked copy of ours would be shared by both.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=len(parts),
            mp_context=context,
            initializer=_forget_inherited_connections,
        ) as pool:
            for part in pool.map(_verify_part, parts):
                report.merge(part)
    report.seconds = time.perf_counter() - started
    return report


_Part = tuple[list[AuditCheckpoint], int | None, int | None]


def _can_fan_out(processes: int) -> bool:
    """Tell whether worker processes would see the same rows we do."""
    if processes < 2 or connection.in_atomic_block:
        return False  # uncommitted rows (a test's transaction) are invisible to other sessions
    in_memory = getattr(connection, "is_in_memory_db", lambda: False)
    return not in_memory()


def _partition(checkpoints: list[AuditCheckpoint], processes: int) -> list[_Part]:
    """Split the log into runs of whole checkpoints of about equal row counts.

    Each part is (checkpoints, after id, up to id); the last part also takes the unsealed rows.
    """
    total = sum(checkpoint.row_count for checkpoint in checkpoints)
    parts: list[_Part] = []
    group: list[AuditCheckpoint] = []
    seen, after = 0, None
    for checkpoint in checkpoints:
        group.append(checkpoint)
        seen += checkpoint.row_count
        if len(parts) < processes - 1 and seen >= total * (len(parts) + 1) / processes:
            parts.append((group, after, checkpoint.last_id))
            group, after = [], checkpoint.last_id
    parts.append((group, after, None))
    return parts


def _forget_inherited_connections() -> None:
    """In a forked worker, drop any connection object copied from the parent, unclosed.

    Closing it would end the parent's (or a sibling worker's) session on the shared socket;
    psycopg does not finish a connection in a process that did not open it, so dropping the
    reference is safe. The worker then opens its own connection.
    """
    for conn in connections.all(initialized_only=True):
        conn.connection = None
        conn.in_atomic_block = False
        conn.savepoint_ids = []
        conn.needs_rollback = False
        conn.closed_in_transaction = False


def _verify_part(part: _Part) -> VerifyReport:
    """Check one part's rows (in a worker process) and return what was found."""
    checkpoints, after, upper = part
    report = VerifyReport()
    rows = AuditEvent.objects.all()
    if after is not None:
        rows = rows.filter(id__gt=after)
    if upper is not None:
        rows = rows.filter(id__lte=upper)
    try:
        with _read_snapshot():
            _check_rows(checkpoints, report, rows)
    finally:
        connections.close_all()
    return report


@contextmanager
def _read_snapshot() -> Iterator[None]:
    """Read everything from one snapshot on PostgreSQL; use no transaction at all on SQLite.

    PostgreSQL: one read-only REPEATABLE READ transaction shows checkpoints and rows as of
    one moment, and lets the row cursor stream (outside a transaction it would be WITH HOLD,
    materialising the whole table first). SQLite: every transaction there takes the write lock
    (BEGIN IMMEDIATE), which would stop all audit writes - and so every page - while verifying.
    """
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _check_triggers(report: VerifyReport) -> None:
    """Report append-only triggers that are missing or disabled (tampering often leaves them so)."""
    vendor = connection.vendor
    expected = EXPECTED_TRIGGERS.get(vendor, set())
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled IN ('O', 'A') "
                "AND tgrelid IN ('audit_auditevent'::regclass, 'audit_auditcheckpoint'::regclass)"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name IN ('audit_auditevent', 'audit_auditcheckpoint')"
            )
        present = {name for (name,) in cursor.fetchall()}
    for name in sorted(expected - present):
        report.add(Problem("trigger", f"the append-only trigger {name} is missing or disabled"))


def _check_anchors(
    checkpoints: list[AuditCheckpoint], anchors: Mapping[int, str], report: VerifyReport
) -> None:
    """Report an anchored checkpoint that is gone or has another digest."""
    digests = {checkpoint.sequence: checkpoint.digest for checkpoint in checkpoints}
    for sequence, digest in sorted(anchors.items()):
        found = digests.get(sequence)
        if found is None:
            text = "it is missing (the newest checkpoints and their rows may have been cut off)"
        elif found != digest.lower():
            text = "its digest differs from the one kept outside the database"
        else:
            continue
        report.add(Problem("checkpoint-anchor", f"checkpoint {sequence}: {text}", None, sequence))


def _check_chain(checkpoints: list[AuditCheckpoint], report: VerifyReport) -> None:
    """Check sequence, ranges, digests, the chain of previous digests and every signature.

    (Each manifest is checked against its signed digest when its rows stream past.)
    """
    public_keys: dict[str, Ed25519PublicKey] = keys.verification_keys()
    previous_digest, previous_last_id = GENESIS, 0
    for expected_sequence, checkpoint in enumerate(checkpoints, start=1):
        seq = checkpoint.sequence

        def problem(kind: str, text: str, seq: int = seq) -> None:
            report.add(Problem(kind, f"checkpoint {seq}: {text}", None, seq))

        if seq != expected_sequence:
            problem("checkpoint-sequence", f"expected checkpoint {expected_sequence} here")
        if checkpoint.first_id != previous_last_id + 1 or checkpoint.last_id < checkpoint.first_id:
            problem(
                "checkpoint-range",
                f"its range {checkpoint.first_id}-{checkpoint.last_id} does not follow "
                f"the previous checkpoint's end ({previous_last_id})",
            )
        if checkpoint.previous != previous_digest:
            problem("checkpoint-chain", "it does not chain to the previous checkpoint's digest")
        statement = statement_of(checkpoint)
        if hashlib.sha256(statement).hexdigest() != checkpoint.digest:
            problem("checkpoint-digest", "its stored digest does not match its statement")
        public = public_keys.get(checkpoint.key_id)
        if public is None:
            problem(
                "checkpoint-key",
                f"signed with unknown key {checkpoint.key_id} "
                "(add its public key to INDBLIK_AUDIT_PUBLIC_KEYS)",
            )
        else:
            try:
                public.verify(bytes.fromhex(checkpoint.signature), statement)
            except (InvalidSignature, ValueError):
                problem("checkpoint-signature", "its signature does not verify")
        # Chain on what the checkpoint *says*, so one bad link is reported once, not n times.
        previous_digest, previous_last_id = checkpoint.digest, checkpoint.last_id


def _check_rows(
    checkpoints: list[AuditCheckpoint],
    report: VerifyReport,
    rows: models.QuerySet[AuditEvent],
) -> None:
    """Stream each row once, in id order: its own hash, then its checkpoint's view of it."""
    pending = iter(checkpoints)
    current: AuditCheckpoint | None = next(pending, None)
    seal = _Seal(current, report) if current is not None else None
    for row_id, stored, computed in hashed_rows(rows):
        report.rows += 1
        intact = computed is not None and computed.hex() == stored
        if not intact:
            report.add(
                Problem(
                    "row-changed",
                    f"row {row_id} was changed after it was written "
                    "(its content does not match its hash)",
                    row_id,
                )
            )
        while current is not None and row_id > current.last_id:
            assert seal is not None
            seal.finish()
            current = next(pending, None)
            seal = _Seal(current, report) if current is not None else None
        if current is None:
            report.unsealed_rows += 1
            if report.first_unsealed_id is None:
                report.first_unsealed_id = row_id
            report.last_unsealed_id = row_id
            continue
        report.sealed_rows += 1
        if not intact:
            try:
                # The checkpoint sealed the *stored* hash: compare that, whatever the content.
                computed = bytes.fromhex(stored)
            except ValueError:
                computed = b""  # not hex at all: the manifest comparison names the row
        assert seal is not None and computed is not None
        seal.row(row_id, computed)
    while current is not None:
        assert seal is not None
        seal.finish()
        current = next(pending, None)
        seal = _Seal(current, report) if current is not None else None
