"""Checkpoints seal what was written; verify finds any row or checkpoint that was touched."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction

from indblik.audit import Action, canonical, integrity, keys, record
from indblik.audit.models import AuditCheckpoint, AuditEvent
from indblik.audit.testing import append_only_triggers_disabled
from indblik.audit.tests.conftest import T0

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL")
sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="needs SQLite")

WriteEvents = Callable[..., list[AuditEvent]]


def tamper(sql: str, params: list[Any] | None = None) -> None:
    """Change the log the way someone who owns the database could."""
    with append_only_triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def seal(clock: Any) -> AuditCheckpoint:
    """Let the safety margin pass, then sign a checkpoint."""
    clock.shift(3600)
    checkpoint = integrity.create_checkpoint()
    assert checkpoint is not None
    return checkpoint


def kinds(report: integrity.VerifyReport) -> list[str]:
    return [problem.kind for problem in report.problems]


# --- Merkle tree ----------------------------------------------------------------------------
def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written out recursively as the RFC states it."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two below n
    left, right = reference_root(leaves[:split]), reference_root(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def test_the_streaming_merkle_root_equals_rfc_6962_for_every_size_up_to_70() -> None:
    leaves = [hashlib.sha256(str(n).encode()).digest() for n in range(70)]
    for size in range(71):
        assert integrity.merkle_root(leaves[:size]) == reference_root(leaves[:size]), size


def test_the_merkle_root_is_right_around_the_builders_block_boundaries() -> None:
    block = integrity.MerkleBuilder.BLOCK
    leaves = [hashlib.sha256(str(n).encode()).digest() for n in range(3 * block + 5)]
    for size in (
        block - 1,
        block,
        block + 1,
        2 * block - 1,
        2 * block,
        2 * block + 1,
        3 * block + 5,
    ):
        assert integrity.merkle_root(leaves[:size]) == reference_root(leaves[:size]), size
    builder = integrity.MerkleBuilder()
    for leaf in leaves[: block + 3]:
        builder.add(leaf)
    assert builder.root() == builder.root() == reference_root(leaves[: block + 3])  # no side effect


def test_the_merkle_root_matches_the_certificate_transparency_test_vectors() -> None:
    # The eight leaves and roots of RFC 6962's reference implementation tests.
    leaves = [
        bytes.fromhex(h)
        for h in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    roots = {
        1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    }
    for size, root in roots.items():
        assert integrity.merkle_root(leaves[:size]).hex() == root
    assert integrity.merkle_root([]).hex() == hashlib.sha256(b"").hexdigest()


# --- checkpoints ----------------------------------------------------------------------------
def test_a_checkpoint_with_nothing_to_seal_is_a_no_op() -> None:
    assert integrity.create_checkpoint() is None
    assert not AuditCheckpoint.objects.exists()


def test_a_checkpoint_seals_the_rows_since_the_last_one_and_chains_to_it(
    clock: Any, write_events: WriteEvents
) -> None:
    first_rows = write_events(3)
    first = seal(clock)
    assert (first.sequence, first.previous) == (1, integrity.GENESIS)
    assert (first.first_id, first.last_id, first.row_count) == (1, first_rows[-1].pk, 3)
    assert (
        first.merkle_root
        == integrity.merkle_root(bytes.fromhex(event.row_hash) for event in first_rows).hex()
    )
    assert integrity.create_checkpoint() is None  # nothing new

    later_rows = write_events(2)
    second = seal(clock)
    assert (second.sequence, second.previous) == (2, first.digest)
    assert (second.first_id, second.last_id, second.row_count) == (
        first.last_id + 1,
        later_rows[-1].pk,
        2,
    )


def test_the_signature_covers_the_whole_statement(clock: Any, write_events: WriteEvents) -> None:
    write_events(1)
    checkpoint = seal(clock)
    statement = integrity.statement_of(checkpoint)
    public = keys.load_signing_key().public_key()
    public.verify(bytes.fromhex(checkpoint.signature), statement)
    assert checkpoint.key_id == keys.key_id(public)
    assert checkpoint.digest == hashlib.sha256(statement).hexdigest()
    for name in (
        "sequence",
        "first_id",
        "last_id",
        "row_count",
        "merkle_root",
        "manifest_digest",
        "previous",
        "created_at",
        "key_id",
    ):
        assert f'"{name}"' in statement.decode()


def test_rows_younger_than_the_margin_wait_for_the_next_checkpoint(
    clock: Any, write_events: WriteEvents, settings: Any
) -> None:
    settings.INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS = 60
    old = write_events(2)
    clock.shift(45)
    young = write_events(1)
    clock.shift(30)  # the old rows are 75 s old, the young one 30 s
    checkpoint = integrity.create_checkpoint()
    assert checkpoint is not None and checkpoint.last_id == old[-1].pk
    assert integrity.unsealed_rows()[0] == 1
    clock.shift(31)
    later = integrity.create_checkpoint()
    assert later is not None and (later.first_id, later.last_id) == (old[-1].pk + 1, young[0].pk)


def test_a_checkpoint_refuses_to_seal_a_row_that_no_longer_matches_its_hash(
    clock: Any, write_events: WriteEvents
) -> None:
    rows = write_events(3)
    tamper("UPDATE audit_auditevent SET reason = 'forged' WHERE id = %s", [rows[1].pk])
    clock.shift(3600)
    with pytest.raises(integrity.CheckpointRefused, match=f"row {rows[1].pk} "):
        integrity.create_checkpoint()
    assert not AuditCheckpoint.objects.exists()


def test_a_production_checkpoint_needs_a_configured_key(
    settings: Any, write_events: WriteEvents
) -> None:
    settings.PRODUCTION = True
    settings.INDBLIK_AUDIT_KEY_FILE = ""
    write_events(1)
    with pytest.raises(keys.AuditKeyError, match="INDBLIK_AUDIT_KEY_FILE"):
        integrity.create_checkpoint()


# --- rows committed out of order --------------------------------------------------------------
def test_the_sealable_range_ends_at_the_newest_row_stamped_before_the_horizon() -> None:
    horizon = T0
    rows = [
        (1, T0 - timedelta(seconds=90)),
        (2, T0 + timedelta(seconds=5)),
        (3, T0 - timedelta(seconds=1)),
        (4, T0 + timedelta(seconds=20)),
    ]
    # Row 2 was stamped after the horizon but has a lower id than row 3, which was inserted
    # before the horizon + margin: row 2's insert came earlier still, so it is settled.
    assert integrity.sealable_upper_id(rows, horizon) == 3
    assert integrity.sealable_upper_id(rows[1:2], horizon) is None


def test_an_open_transaction_holds_the_horizon_back_so_its_row_cannot_be_skipped() -> None:
    # Timeline, on PostgreSQL: a slow request began its transaction at X and took id 2 (not
    # committed, invisible). Meanwhile another request stamped and committed id 3.
    margin = timedelta(seconds=60)
    x = T0
    visible = [(1, x - timedelta(seconds=100)), (3, x + timedelta(seconds=5))]
    now = x + timedelta(seconds=120)
    with_rule = min(now, x) - margin
    assert integrity.sealable_upper_id(visible, with_rule) == 1  # id 2 stays unsealed
    # Without the open-transaction term, the checkpoint would seal 3 and skip the in-flight 2.
    assert integrity.sealable_upper_id(visible, now - margin) == 3


def test_the_horizon_is_the_margin_before_now_when_nothing_is_in_flight(
    clock: Any, settings: Any
) -> None:
    settings.INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS = 60
    assert integrity.settled_horizon() == T0 - timedelta(seconds=60)


@postgresql_only
def test_on_postgresql_a_real_open_transaction_holds_the_checkpoint_back(settings: Any) -> None:
    import psycopg

    settings.INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS = 0
    before = record(None, Action.PATIENT_READ)
    time.sleep(0.05)
    params = connection.settings_dict
    other = psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"],
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
    )
    try:
        other.execute("SELECT 1")  # a transaction is now open in another session
        time.sleep(0.05)
        after = record(None, Action.PATIENT_READ)
        checkpoint = integrity.create_checkpoint()
        assert checkpoint is not None and checkpoint.last_id == before.pk
        other.rollback()
        checkpoint = integrity.create_checkpoint()
        assert checkpoint is not None and checkpoint.last_id == after.pk
    finally:
        other.close()


def test_a_rolled_back_insert_leaves_a_gap_that_is_not_a_missing_row(
    clock: Any, write_events: WriteEvents
) -> None:
    write_events(2)
    with pytest.raises(RuntimeError), transaction.atomic():
        record(None, Action.PATIENT_READ)
        raise RuntimeError("the request failed after the audit row")
    write_events(2)
    seal(clock)
    assert integrity.verify().ok


# --- verify: an untouched log -------------------------------------------------------------
def test_verify_passes_on_an_untouched_log_and_counts_unsealed_rows(
    clock: Any, write_events: WriteEvents
) -> None:
    write_events(3)
    seal(clock)
    write_events(2)
    seal(clock)
    newest = write_events(2)
    report = integrity.verify()
    assert report.ok, report.problems
    assert (report.rows, report.sealed_rows, report.unsealed_rows, report.checkpoints) == (
        7,
        5,
        2,
        2,
    )
    assert (report.first_unsealed_id, report.last_unsealed_id) == (newest[0].pk, newest[1].pk)


def test_the_verifier_rebuilds_the_writers_canonical_bytes_for_every_kind_of_value(
    clock: Any, make_request: Callable[..., Any]
) -> None:
    from indblik.audit import Actor
    from indblik.audit.integrity.rows import hashed_rows

    delegate = Actor(user_id=7, name="Søren Ærø", delegated=True, organisation_cvr="29189846")
    shared = {"z": 1, "a": [1, "æ", {"y": None, "b": True}], "m": {"k": "ø"}}
    record(None, Action.PATIENT_READ, actor=delegate, details=shared)  # a whole second
    clock.shift(0.000123)
    record(make_request(remote_addr="2001:DB8:0:0::1"), Action.ADMIN_CHANGE, details=shared)
    record(make_request(), Action.PATIENT_READ, details={"b": 2, "a": 1})
    record(None, Action.LOGIN, decision_reasons=["z", "a"], details={})

    digests = [(stored, digest) for _, stored, digest in hashed_rows(AuditEvent.objects.all())]

    assert len(digests) == 4
    for stored, digest in digests:
        assert digest is not None and digest.hex() == stored
    event = AuditEvent.objects.order_by("id").first()
    assert event is not None
    assert canonical.row_hash({f: getattr(event, f) for f in canonical.FIELDS}) == event.row_hash


def test_verify_passes_on_an_empty_log() -> None:
    report = integrity.verify()
    assert report.ok and report.rows == 0


# --- verify: tampered rows ------------------------------------------------------------------
def test_verify_names_an_edited_row(clock: Any, write_events: WriteEvents) -> None:
    rows = write_events(4)
    seal(clock)
    tamper("UPDATE audit_auditevent SET patient_cpr = '0202802345' WHERE id = %s", [rows[2].pk])
    report = integrity.verify()
    assert kinds(report) == ["row-changed"]
    assert report.problems[0].row_id == rows[2].pk
    assert f"row {rows[2].pk} was changed" in report.problems[0].message


def test_verify_names_an_edited_unsealed_row_too(clock: Any, write_events: WriteEvents) -> None:
    seal_me = write_events(1)
    seal(clock)
    unsealed = write_events(1)
    tamper(
        "UPDATE audit_auditevent SET actor_name = 'Someone Else' WHERE id = %s", [unsealed[0].pk]
    )
    report = integrity.verify()
    assert [(p.kind, p.row_id) for p in report.problems] == [("row-changed", unsealed[0].pk)]
    assert seal_me[0].pk != unsealed[0].pk


def test_verify_names_a_row_whose_content_and_hash_were_both_rewritten(
    clock: Any, write_events: WriteEvents
) -> None:
    rows = write_events(4)
    seal(clock)
    victim = AuditEvent.objects.get(pk=rows[1].pk)
    values = {field: getattr(victim, field) for field in canonical.FIELDS}
    values["reason"] = "emergency"  # an attacker who knows the canonical form
    tamper(
        "UPDATE audit_auditevent SET reason = %s, row_hash = %s WHERE id = %s",
        ["emergency", canonical.row_hash(values), victim.pk],
    )
    report = integrity.verify()
    assert [(p.kind, p.row_id) for p in report.problems] == [("row-rewritten", victim.pk)]


def test_verify_names_a_deleted_row(clock: Any, write_events: WriteEvents) -> None:
    rows = write_events(5)
    checkpoint = seal(clock)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [rows[3].pk])
    report = integrity.verify()
    assert [(p.kind, p.row_id, p.sequence) for p in report.problems] == [
        ("row-missing", rows[3].pk, checkpoint.sequence)
    ]
    assert f"row {rows[3].pk} was sealed but is missing" in report.problems[0].message


def test_verify_names_every_row_of_a_deleted_tail(clock: Any, write_events: WriteEvents) -> None:
    rows = write_events(4)
    seal(clock)
    tamper("DELETE FROM audit_auditevent WHERE id >= %s", [rows[2].pk])
    assert [(p.kind, p.row_id) for p in integrity.verify().problems] == [
        ("row-missing", rows[2].pk),
        ("row-missing", rows[3].pk),
    ]


def test_verify_names_a_row_inserted_into_a_sealed_range(
    clock: Any, write_events: WriteEvents
) -> None:
    rows = write_events(5)
    # A gap, as a rolled-back insert leaves on PostgreSQL: sealed as "no row here".
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [rows[2].pk])
    seal(clock)
    assert integrity.verify().ok
    intruder = write_events(1)[0]
    # Backdate a well-formed row into the gap, where it would read as an old access.
    tamper("UPDATE audit_auditevent SET id = %s WHERE id = %s", [rows[2].pk, intruder.pk])
    report = integrity.verify()
    assert [(p.kind, p.row_id) for p in report.problems] == [("row-inserted", rows[2].pk)]
    assert "inserted into the sealed range" in report.problems[0].message


@sqlite_only
def test_verify_reports_a_row_that_cannot_even_be_read_back(
    clock: Any, write_events: WriteEvents
) -> None:
    # (SQLite's JSON check constraint already keeps broken JSON out; PostgreSQL's types keep
    # all of this out.)
    rows = write_events(2)
    tamper("UPDATE audit_auditevent SET at = 'yesterday' WHERE id = %s", [rows[0].pk])
    tamper("UPDATE audit_auditevent SET client_ip = 'not an address' WHERE id = %s", [rows[1].pk])
    assert [(p.kind, p.row_id) for p in integrity.verify().problems] == [
        ("row-changed", rows[0].pk),
        ("row-changed", rows[1].pk),
    ]


# --- verify: forged checkpoints -------------------------------------------------------------
@pytest.fixture
def sealed_twice(clock: Any, write_events: WriteEvents) -> list[AuditCheckpoint]:
    write_events(3)
    first = seal(clock)
    write_events(3)
    return [first, seal(clock)]


def test_verify_rejects_a_changed_signature(sealed_twice: list[AuditCheckpoint]) -> None:
    forged = Ed25519PrivateKey.generate().sign(b"something else").hex()
    tamper("UPDATE audit_auditcheckpoint SET signature = %s WHERE sequence = 2", [forged])
    report = integrity.verify()
    assert [(p.kind, p.sequence) for p in report.problems] == [("checkpoint-signature", 2)]


def test_verify_rejects_a_changed_root(sealed_twice: list[AuditCheckpoint]) -> None:
    tamper("UPDATE audit_auditcheckpoint SET merkle_root = %s WHERE sequence = 1", ["ab" * 32])
    # The stored digest no longer matches the statement, the signature fails, and the rows
    # no longer add up to the root it claims.
    assert kinds(integrity.verify()) == [
        "checkpoint-digest",
        "checkpoint-signature",
        "checkpoint-root",
    ]


def test_verify_rejects_a_rewritten_log_even_with_a_consistent_stored_digest(
    sealed_twice: list[AuditCheckpoint],
) -> None:
    # Someone recomputes root and digest for checkpoint 2 but cannot sign without the key.
    checkpoint = AuditCheckpoint.objects.get(sequence=2)
    checkpoint.merkle_root = "cd" * 32
    digest = hashlib.sha256(integrity.statement_of(checkpoint)).hexdigest()
    tamper(
        "UPDATE audit_auditcheckpoint SET merkle_root = %s, digest = %s WHERE sequence = 2",
        ["cd" * 32, digest],
    )
    assert kinds(integrity.verify()) == ["checkpoint-signature", "checkpoint-root"]


def test_verify_rejects_a_broken_chain(sealed_twice: list[AuditCheckpoint]) -> None:
    tamper("DELETE FROM audit_auditcheckpoint WHERE sequence = 1")
    report = integrity.verify()
    assert report.problems[0].kind == "checkpoint-sequence"
    assert {"checkpoint-range", "checkpoint-chain"} <= set(kinds(report))


def test_verify_rejects_a_changed_manifest(sealed_twice: list[AuditCheckpoint]) -> None:
    import zlib

    tamper(
        "UPDATE audit_auditcheckpoint SET manifest = %s WHERE sequence = 1", [zlib.compress(b"")]
    )
    assert "checkpoint-manifest" in kinds(integrity.verify())


def write_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def test_verify_rejects_a_checkpoint_signed_with_an_unknown_key_until_it_is_listed(
    clock: Any, write_events: WriteEvents, settings: Any, tmp_path: Path
) -> None:
    old_key = write_key(tmp_path / "old.pem")
    write_key(tmp_path / "new.pem")
    settings.INDBLIK_AUDIT_KEY_FILE = str(tmp_path / "old.pem")
    write_events(2)
    seal(clock)
    # Rotate: a new signing key; the old public key is not listed (yet).
    settings.INDBLIK_AUDIT_KEY_FILE = str(tmp_path / "new.pem")
    write_events(2)
    seal(clock)
    report = integrity.verify()
    assert [(p.kind, p.sequence) for p in report.problems] == [("checkpoint-key", 1)]
    assert keys.key_id(old_key.public_key()) in report.problems[0].message
    (tmp_path / "old.pub").write_text(keys.public_key_pem(old_key.public_key()))
    settings.INDBLIK_AUDIT_PUBLIC_KEYS = [str(tmp_path / "old.pub")]
    assert integrity.verify().ok


def test_verify_keeps_the_first_hundred_problems_and_counts_the_rest(
    clock: Any, write_events: WriteEvents
) -> None:
    write_events(105)
    tamper("UPDATE audit_auditevent SET reason = 'forged'")
    report = integrity.verify()
    assert len(report.problems) == 100 and report.more_problems == 5
    assert not report.ok


def test_of_two_concurrent_checkpoint_runs_one_wins_and_the_other_changes_nothing(
    clock: Any, write_events: WriteEvents
) -> None:
    write_events(2)
    clock.shift(3600)
    rival_ran: list[bool] = []

    def rival_finishes_first(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        # While this run reads the rows to seal, another run seals them and commits.
        if not rival_ran and '"audit_auditevent"."row_hash"' in sql:
            rival_ran.append(True)
            assert integrity.create_checkpoint() is not None
        return execute(sql, params, many, ctx)

    with (
        connection.execute_wrapper(rival_finishes_first),
        pytest.raises(integrity.CheckpointRefused, match="another checkpoint run"),
    ):
        integrity.create_checkpoint()
    assert AuditCheckpoint.objects.count() == 1
    assert integrity.verify().ok


def test_verify_rejects_a_manifest_that_is_not_even_compressed_data(
    sealed_twice: list[AuditCheckpoint],
) -> None:
    tamper("UPDATE audit_auditcheckpoint SET manifest = %s WHERE sequence = 2", [b"garbage"])
    assert kinds(integrity.verify()) == ["checkpoint-manifest"]


def test_verify_rejects_a_changed_row_count(sealed_twice: list[AuditCheckpoint]) -> None:
    tamper("UPDATE audit_auditcheckpoint SET row_count = 4 WHERE sequence = 1")
    assert kinds(integrity.verify()) == [
        "checkpoint-digest",
        "checkpoint-signature",
        "checkpoint-count",
    ]
