"""Driving an ingestion: chunks, ids, validation (here or in workers), transactions, counts.

Entries arrive in chunks. Each chunk is identified (type and id), validated, then planned and
written by a :class:`~indblik.records.ingest.plan.ChunkPlan` inside one database transaction.
A transaction Bundle is a single chunk that is abandoned when any entry fails.

For large inputs the work is spread so that no part waits for another:

- validation runs in worker processes one or two chunks ahead of the chunk being written
  (:mod:`indblik.records.ingest.parallel`);
- on PostgreSQL, chunks are planned and written by one writer thread on its own connection,
  in order, while this thread reads, parses and prepares the next chunks. The database
  server's work on chunk N (and the wait for it) then overlaps the Python work on chunk N+1;
  psycopg releases the GIL while it waits. Each chunk is still its own transaction, written
  after the one before it has committed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
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
_COLLECT_EVERY = 10  # chunks between garbage collections during a run


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
        background: bool = False,
    ) -> None:
        self.result = result
        self.validate = validate
        self.use_pool = use_pool
        # A writer thread has its own connection: only where nobody expects the writes inside
        # a transaction of theirs (a test's, a caller's atomic block) and where the database
        # is another process that can work meanwhile (PostgreSQL, not SQLite).
        self.background = background and can_write_in_background()
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
        # Only a command-line run owns its process; in a web server the collector is shared
        # with other requests' threads (and the startup gc.freeze() of indblik/wsgi.py).
        pause = self.result.channel in ("cli", "generate")
        with _few_collections() if pause else contextlib.nullcontext():
            if self.background:
                self._run_with_writer(chunks)
                return
            for number, chunk in enumerate(self._validated(chunks), 1):
                self._account(chunk, self._store(chunk))
                _collect_now_and_then(number)

    def _run_with_writer(self, chunks: Iterator[list[Entry]]) -> None:
        """Store chunks in a writer thread, one at a time and in order, preparing the next here."""
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indblik-ingest-writer")
        in_flight: tuple[list[Entry], Future[bool]] | None = None
        try:
            for number, chunk in enumerate(self._validated(chunks), 1):
                if in_flight is not None:
                    self._account(in_flight[0], in_flight[1].result())
                in_flight = (chunk, writer.submit(self._store, chunk))
                _collect_now_and_then(number)
            if in_flight is not None:
                self._account(in_flight[0], in_flight[1].result())
        finally:
            # Wait for a chunk still being written (also when this thread failed: nothing may
            # be written after the run has ended), then close the thread's connection.
            writer.submit(_close_this_threads_connection)
            writer.shutdown(wait=True)

    def _validated(self, chunks: Iterator[list[Entry]]) -> Iterator[list[Entry]]:
        if not self.use_pool:
            for chunk in chunks:
                self._prepare(chunk)
                live = [entry for entry in chunk if needs_validation(entry)]
                self._validate_here(live)
                self._derive(live)
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
        if it turns out to be a change. Without validation (``validate=False``) there is
        nothing worth a look-up to skip.
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
        if not self.validate:
            return
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
                self._derive(piece)
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
            else:
                for entry, problems in zip(piece, results, strict=True):
                    add_problems(entry, problems)
            self._derive(piece)
        return chunk

    def _validate_here(self, entries: list[Entry]) -> None:
        for entry in entries:
            add_problems(entry, validate_resource(entry.resource, structural=self.validate))

    def _derive(self, validated: list[Entry]) -> None:
        """Work out what planning needs of each valid resource (here, not in the writer).

        Patients are left to planning: matching them by CPR number may change them.
        """
        for entry in validated:
            if not entry.errors and entry.resource_type != "Patient":
                # A resource JSON cannot hold gets nothing here: planning reports it.
                with contextlib.suppress(orjson.JSONEncodeError, TypeError):
                    entry.derived = derive.derive(entry.resource)

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

    def _store(self, chunk: list[Entry]) -> bool:
        """Plan and write one chunk in its own transaction; return True when it committed.

        Runs in the writer thread when there is one: it changes the chunk's entries and the
        run's context, never ``self.result`` (counted by ``_account`` in the calling thread).
        """
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
        return committed

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


def _close_this_threads_connection() -> None:
    # ``django.db.connection`` is per thread: it must be looked up in the writer thread itself
    # (``submit(connection.close)`` would look it up in the submitting thread).
    connection.close()


def can_write_in_background() -> bool:
    """Return True when chunks may be written by a thread with its own database connection."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Keep the cyclic garbage collector out of the way during a run.

    Parsing and planning allocate millions of short-lived containers that reference counting
    frees; the collector's automatic passes then keep traversing every object of the process
    (Django, the models, the validation tables) and cost more than validating. During the run
    the objects that existed before it are frozen (left out of collections) and automatic
    collection is off; ``_collect_now_and_then`` collects between chunks instead.
    """
    collecting = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if collecting:
            gc.enable()


def _collect_now_and_then(chunks_done: int) -> None:
    # Cyclic garbage (e.g. exceptions kept with their frames) must not pile up in long runs.
    if chunks_done % _COLLECT_EVERY == 0:
        gc.collect()


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
