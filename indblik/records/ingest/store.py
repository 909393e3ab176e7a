"""Driving an ingestion: chunks, ids, validation (here or in workers), transactions, counts.

Entries arrive in chunks. Each chunk is identified (type and id), validated, then planned and
written by a :class:`~indblik.records.ingest.plan.ChunkPlan` inside one database transaction.
A transaction Bundle is a single chunk that is abandoned when any entry fails.

Validation (fhir.resources) dominates the cost; for large inputs it runs in worker processes
one or two chunks ahead of the chunk being written (:mod:`indblik.records.ingest.parallel`).
"""

from __future__ import annotations

import gc
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from indblik import audit
from indblik.records.ingest import derive, parallel, sql
from indblik.records.ingest.payload import Entry
from indblik.records.ingest.plan import ChunkPlan, RunContext, add_problems, needs_validation
from indblik.records.ingest.result import Action, EntryOutcome, IngestResult
from indblik.records.models import IngestionRun
from indblik.records.validation import Problem, is_resource_type, is_valid_id, validate_resource

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000  # entries per database transaction on the streaming paths
PARALLEL_MIN = 2 * CHUNK_SIZE  # below this, starting worker processes costs more than it saves
_PIECE = 500  # resources per worker task
_PREFETCH = 2  # chunks being validated while one is written
_RUN_ERRORS = 20


class _Abandon(Exception):
    """Roll the chunk back (a transaction Bundle with a failed entry)."""


class Ingestor:
    """Store entries chunk by chunk and count what happened to each."""

    def __init__(
        self,
        result: IngestResult,
        *,
        validate: bool = True,
        use_pool: bool = False,
        progress: Callable[[int], None] | None = None,
        all_or_nothing: bool = False,
        keep_entries: bool = False,
    ) -> None:
        self.result = result
        self.validate = validate
        self.use_pool = use_pool
        self.progress = progress
        self.all_or_nothing = all_or_nothing
        self.keep_entries = keep_entries
        self.processed = 0
        self.context = RunContext(
            source=derive.clip(result.source, 100),
            validate=validate,
            now=timezone.now(),
            base_url=f"{settings.INDBLIK_BASE_URL}/fhir/r4/",
        )

    # --- driving ------------------------------------------------------------------------

    def run(self, entries: Iterable[Entry], *, chunk_size: int | None = CHUNK_SIZE) -> None:
        """Identify, validate and store all entries (one chunk when ``chunk_size`` is None)."""
        chunks: Iterator[list[Entry]]
        if chunk_size is None:
            chunks = iter([list(entries)])
        else:
            iterator = iter(entries)
            chunks = iter(lambda: list(islice(iterator, chunk_size)), [])
        for chunk in self._validated(chunks):
            self._store(chunk)

    def _validated(self, chunks: Iterator[list[Entry]]) -> Iterator[list[Entry]]:
        if not self.use_pool:
            for chunk in chunks:
                self._prepare(chunk)
                self._validate_here([entry for entry in chunk if needs_validation(entry)])
                yield chunk
            return
        pending: deque[tuple[list[Entry], list[tuple[list[Entry], Future[Any]]]]] = deque()
        for chunk in chunks:
            self._prepare(chunk)
            pending.append((chunk, self._submit(chunk)))
            if len(pending) > _PREFETCH:
                yield self._collect(*pending.popleft())
        while pending:
            yield self._collect(*pending.popleft())

    def _prepare(self, chunk: list[Entry]) -> None:
        """Identify each entry and spot those identical to what is stored (no need to validate).

        Re-sending unchanged data is common (a feed re-synchronising); validation is most of
        the cost, and an identical resource is not written anyway. The stored state may change
        before the chunk is written: ``_apply_versions`` validates a skipped entry after all
        if it turns out to be a change.
        """
        self._identify_all(chunk)
        candidates = [
            entry
            for entry in chunk
            if not entry.errors and entry.method != "DELETE" and entry.fhir_id
        ]
        for entry in candidates:
            try:
                entry.digest = derive.canonical_digest(entry.resource)
            except (orjson.JSONEncodeError, TypeError):
                entry.fail("", "not representable as JSON (invalid Unicode?)", "structure")
        stored = sql.resource_states(
            (entry.resource_type, entry.fhir_id)
            for entry in candidates
            if entry.digest and entry.resource_type != "Patient"
        )
        patients = sql.patient_digests(
            entry.fhir_id for entry in candidates if entry.resource_type == "Patient"
        )
        for entry in candidates:
            if entry.resource_type == "Patient":
                digest, deleted = patients.get(entry.fhir_id, ("", True))
            else:
                state = stored.get((entry.resource_type, entry.fhir_id))
                digest, deleted = (state[1], state[4]) if state else ("", True)
            entry.known_unchanged = bool(entry.digest) and digest == entry.digest and not deleted

    def _submit(self, chunk: list[Entry]) -> list[tuple[list[Entry], Future[Any]]]:
        live = [entry for entry in chunk if needs_validation(entry)]
        tasks = []
        for start in range(0, len(live), _PIECE):
            piece = live[start : start + _PIECE]
            payloads = []
            for entry in piece:
                try:
                    payloads.append(orjson.dumps(entry.resource))
                except (orjson.JSONEncodeError, TypeError):
                    payloads.append(b"null")  # reported below as "not a JSON object"
            future = parallel.submit(payloads, self.validate)
            if future is None:
                self._validate_here(piece)
            else:
                tasks.append((piece, future))
        return tasks

    def _collect(
        self, chunk: list[Entry], tasks: list[tuple[list[Entry], Future[Any]]]
    ) -> list[Entry]:
        for piece, future in tasks:
            try:
                results: list[list[Problem]] = future.result()
            except BrokenProcessPool:
                parallel.broken()
                self._validate_here(piece)
                continue
            for entry, problems in zip(piece, results, strict=True):
                add_problems(entry, problems)
        return chunk

    def _validate_here(self, entries: list[Entry]) -> None:
        for entry in entries:
            add_problems(entry, validate_resource(entry.resource, structural=self.validate))

    # --- identify: type, id and request ------------------------------------------------

    def _identify_all(self, chunk: list[Entry]) -> None:
        for entry in chunk:
            if not entry.errors:
                self._identify(entry)

    def _identify(self, entry: Entry) -> None:
        """Set the entry's type and id (assigning one where FHIR lets the server choose)."""
        url_path = f"Bundle.entry[{entry.index}].request.url" if entry.where == "entry" else ""
        if entry.method == "DELETE":
            parsed = derive.parse_reference(entry.url or "")
            if parsed is None or not is_resource_type(parsed[0]):
                entry.fail(url_path, "must be Type/id (conditional deletes are not supported)")
            else:
                entry.resource_type, entry.fhir_id = parsed
            return
        resource = entry.resource
        if not isinstance(resource, dict):
            entry.fail("", "must be a FHIR resource (a JSON object)", "structure")
            return
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or not is_resource_type(rtype) or rtype == "Bundle":
            return  # validation names the problem
        entry.resource_type = rtype
        given_id = resource.get("id")
        fhir_id: str | None = given_id if isinstance(given_id, str) else None
        if entry.method in ("PUT", "POST") and entry.url is not None:
            url_type, _, url_id = entry.url.partition("/")
            if "?" in entry.url:
                entry.fail(url_path, "conditional requests are not supported", "not-supported")
                return
            if url_type != rtype:
                entry.fail(url_path, "names another resource type than the resource")
                return
            if entry.method == "PUT":
                if not is_valid_id(url_id):
                    entry.fail(url_path, "must be Type/id")
                    return
                if fhir_id is not None and fhir_id != url_id:
                    entry.fail(f"{rtype}.id", "does not match the id in the request URL")
                    return
                fhir_id = url_id
        if fhir_id is None:
            fhir_id = derive.id_from_full_url(entry.full_url, rtype)
        if fhir_id is None and entry.method == "POST":
            try:
                fhir_id = derive.content_id(resource)
            except (orjson.JSONEncodeError, TypeError):
                entry.fail("", "not representable as JSON (invalid Unicode?)", "structure")
                return
        if fhir_id is None:
            entry.fail(f"{rtype}.id", "field required (or a urn:uuid fullUrl)", "required")
            return
        entry.fhir_id = fhir_id
        if given_id != fhir_id and is_valid_id(fhir_id):
            entry.resource = {"resourceType": rtype, "id": fhir_id, **resource}

    # --- store a chunk ---------------------------------------------------------------------

    def _store(self, chunk: list[Entry]) -> None:
        # Planning a chunk allocates many short-lived containers that reference counting
        # frees; cyclic collections in between cost time and find nothing. Collect between
        # chunks instead.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._store_chunk(chunk)
        finally:
            if collecting:
                gc.enable()

    def _store_chunk(self, chunk: list[Entry]) -> None:
        committed = False
        plan = ChunkPlan(self.context, chunk)
        if any(not entry.errors for entry in chunk):
            try:
                with transaction.atomic():
                    plan.build()
                    if self.all_or_nothing and any(entry.errors for entry in chunk):
                        raise _Abandon
                    plan.write()
                committed = True
            except _Abandon:
                pass
            except IntegrityError:
                # Only a concurrent writer can get here (the plan checked every constraint):
                # the chunk was rolled back; the sender may simply send it again.
                log.warning("ingest: chunk rolled back after a concurrent write conflict")
                for entry in chunk:
                    if not entry.errors:
                        entry.fail(
                            "",
                            "a concurrent ingestion changed the same records; send again",
                            "conflict",
                        )
        if committed:
            self.context.learn(plan)
        self._account(chunk, committed)

    def _account(self, chunk: list[Entry], committed: bool) -> None:
        for entry in chunk:
            if entry.errors:
                entry.action = Action.FAILED
                self.result.count(Action.FAILED)
                for error in entry.errors:
                    self.result.add_error(error)
            elif committed and entry.action is not None:
                self.result.count(entry.action)
            if self.keep_entries:
                self.result.entries.append(
                    EntryOutcome(
                        entry.index,
                        entry.action
                        if entry.action and (committed or entry.errors)
                        else Action.FAILED,
                        entry.resource_type,
                        entry.fhir_id,
                        entry.version,
                        tuple(entry.errors),
                    )
                )
        self.processed += len(chunk)
        if self.progress is not None:
            self.progress(self.processed)


# --- IngestionRun ---------------------------------------------------------------------------


_COUNTS = ("created", "updated", "unchanged", "deleted", "failed")
_AUDIT_OUTCOME = {
    IngestionRun.Outcome.OK: audit.Outcome.SUCCESS,
    IngestionRun.Outcome.PARTIAL: audit.Outcome.ERROR,
    IngestionRun.Outcome.FAILED: audit.Outcome.REFUSED,
}


def start_run(result: IngestResult) -> IngestionRun:
    """Record that an ingestion started (outside its data transaction: it survives a rollback)."""
    run = IngestionRun.objects.create(
        source=derive.clip(result.source, 100), channel=derive.clip(result.channel, 16)
    )
    result.run_id = run.pk
    return run


def finish_run(run: IngestionRun, result: IngestResult) -> None:
    """Record the counts, the outcome and the first errors (paths and problems only)."""
    if result.ok:
        run.outcome = IngestionRun.Outcome.OK
    elif result.created + result.updated + result.deleted + result.unchanged > 0 and (
        result.kind != "transaction"
    ):
        run.outcome = IngestionRun.Outcome.PARTIAL
    else:
        run.outcome = IngestionRun.Outcome.FAILED
    for name in _COUNTS:
        setattr(run, name, getattr(result, name))
    lines = [str(error) for error in result.errors[:_RUN_ERRORS]]
    hidden = len(result.errors) + result.errors_omitted - len(lines)
    if hidden > 0:
        lines.append(f"… and {hidden} more")
    run.error = "\n".join(lines)
    run.finished_at = timezone.now()
    run.save(
        update_fields=[
            "outcome",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "failed",
            "error",
            "finished_at",
        ]
    )
    # One audit event per ingestion: counts and the run id, never clinical content.
    audit.record(
        None,
        audit.Action.INGEST_RUN,
        outcome=_AUDIT_OUTCOME[run.outcome],
        actor=audit.Actor(name=f"{run.channel}:{run.source}"),
        details={
            "run": run.pk,
            "kind": result.kind or "",
            "outcome": run.outcome,
            **{name: getattr(run, name) for name in _COUNTS},
        },
    )
