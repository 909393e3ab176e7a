"""Storing entries: ids, references, patients, versions, and set-based upserts.

Entries arrive in chunks. Each chunk is *planned* (ids assigned, references rewritten,
patients and organisations resolved, versions compared) and *written* (a handful of bulk
statements) inside one database transaction, so that a chunk is stored entirely or not at all
and the plan sees the rows it writes over. A transaction Bundle is a single chunk that is
abandoned when any entry fails.

Validation (fhir.resources) dominates the cost; for large inputs it runs in worker processes
one chunk ahead of the chunk being written (:mod:`indblik.records.ingest.parallel`).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from indblik.records import fhir
from indblik.records.ingest import derive, parallel, sql
from indblik.records.ingest.payload import Entry
from indblik.records.ingest.result import Action, EntryOutcome, IngestResult
from indblik.records.models import IngestionRun, OrganisationReference, Patient, Resource
from indblik.records.validation import (
    Problem,
    is_resource_type,
    is_valid_id,
    patient_cpr,
    validate_resource,
)

log = logging.getLogger(__name__)

CHUNK_SIZE = 1000  # entries per database transaction on the streaming paths
PARALLEL_MIN = 2 * CHUNK_SIZE  # below this, starting worker processes costs more than it saves
_PIECE = 500  # resources per worker task
_PREFETCH = 2  # chunks being validated while one is written
_IN_BATCH = 500  # values per IN (…) list: SQLite allows 32,766 parameters a statement
_CACHE_LIMIT = 200_000
_RUN_ERRORS = 20

_PATIENT_UPDATE = [
    "cpr",
    "family",
    "given",
    "birth_date",
    "gender",
    "municipality_code",
    "address",
    "gp_identifier",
    "deceased",
    "deceased_at",
    "version",
    "last_updated",
    "deleted",
    "digest",
    "body",
    "source",
]
_RESOURCE_UPDATE = [
    "patient",
    "section",
    "category",
    "code",
    "status",
    "date",
    "restricted",
    "security",
    "version",
    "last_updated",
    "deleted",
    "digest",
    "body",
    "source",
]


class _Abandon(Exception):
    """Roll the chunk back (a transaction Bundle with a failed entry)."""


@dataclass
class _State:
    """What is stored for one (type, id): in the database or by an earlier entry of the chunk."""

    pk: int | None
    digest: str
    version: int
    last_updated: dt.datetime
    deleted: bool


@dataclass
class _Work:
    """One live entry while its chunk is planned."""

    entry: Entry
    resource: dict[str, Any] | None
    cpr: str | None = None
    patient_id: str | None = None
    org: derive.OrganisationTargets | None = None
    gp: list[derive.OrganisationTargets] = field(default_factory=list)
    digest: str = ""
    body: str = ""
    references: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Planned:
    """The final write for one (type, id) after all entries of the chunk are applied."""

    work: _Work | None  # None: a tombstone
    state: _State
    existed: bool  # a database row existed before this chunk


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
        self.now = timezone.now()
        self.base_url = f"{settings.INDBLIK_BASE_URL}/fhir/r4/"
        self.source = derive.clip(result.source, 100)
        self.processed = 0
        # Known across the chunks of one run (merged only after a chunk commits):
        self.patient_alias: dict[str, str] = {}  # incoming Patient id -> stored id (same CPR)
        self.patient_pks: dict[str, int] = {}
        self.org_keys: dict[str, list[str]] = {}

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
                self._validate_here([entry for entry in chunk if _needs_validation(entry)])
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
        live = [entry for entry in chunk if _needs_validation(entry)]
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
                self._add_problems(entry, problems)
        return chunk

    def _validate_here(self, entries: list[Entry]) -> None:
        for entry in entries:
            self._add_problems(entry, validate_resource(entry.resource, structural=self.validate))

    @staticmethod
    def _add_problems(entry: Entry, problems: list[Problem]) -> None:
        for problem in problems:
            entry.fail(problem.path, problem.problem, problem.code)

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
        staged: dict[str, Any] = {}
        if any(not entry.errors for entry in chunk):
            try:
                with transaction.atomic():
                    planned = self._plan(chunk, staged)
                    if self.all_or_nothing and any(entry.errors for entry in chunk):
                        raise _Abandon
                    self._write(planned, staged)
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
            self.patient_alias.update(staged.get("alias", {}))
            self.patient_pks.update(staged.get("patient_pks", {}))
            for fhir_id in staged.get("deleted_patients", ()):
                self.patient_pks.pop(fhir_id, None)
            self.org_keys.update(staged.get("org_keys", {}))
            if len(self.patient_pks) > _CACHE_LIMIT or len(self.org_keys) > _CACHE_LIMIT:
                self.patient_pks.clear()
                self.org_keys.clear()
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

    # --- plan -------------------------------------------------------------------------------

    def _plan(self, chunk: list[Entry], staged: dict[str, Any]) -> dict[tuple[str, str], _Planned]:
        work = [_Work(entry, entry.resource) for entry in chunk if not entry.errors]
        stored_patients = self._match_patients(work, staged)
        self._rewrite(chunk, work, staged)
        self._link_patients(work, staged)
        self._resolve_organisations(work, staged)
        for item in work:
            if item.resource is not None and not item.entry.errors:
                try:
                    # Most resources need no rewriting: their digest is already known.
                    rewritten = item.resource is not item.entry.resource or not item.entry.digest
                    item.digest = (
                        derive.canonical_digest(item.resource) if rewritten else item.entry.digest
                    )
                    item.body = orjson.dumps(item.resource).decode()
                except (orjson.JSONEncodeError, TypeError):
                    item.entry.fail("", "not representable as JSON (invalid Unicode?)", "structure")
        # A resource whose patient entry failed just now cannot be stored either.
        failed_patients = {
            item.entry.fhir_id
            for item in work
            if item.entry.resource_type == "Patient" and item.entry.errors
        }
        for item in work:
            if item.patient_id in failed_patients and not item.entry.errors:
                item.entry.fail(
                    f"{item.entry.resource_type}.{derive.patient_element(item.resource or {})}",
                    "the patient's entry failed",
                    "not-found",
                )
        return self._apply_versions(work, stored_patients)

    def _match_patients(self, work: list[_Work], staged: dict[str, Any]) -> dict[str, _State]:
        """Give an incoming Patient the id under which its CPR number is already stored."""
        incoming = [
            item
            for item in work
            if item.entry.resource_type == "Patient" and item.entry.method != "DELETE"
        ]
        for item in incoming:
            item.cpr = patient_cpr(item.resource or {})
        ids = {
            self.patient_alias.get(item.entry.fhir_id, item.entry.fhir_id)
            for item in work
            if item.entry.resource_type == "Patient"
        }
        cprs = {item.cpr for item in incoming if item.cpr}
        by_id: dict[str, tuple[int, str | None, _State]] = {}
        by_cpr: dict[str, str] = {}
        for ids_batch, cprs_batch in _pairs(sorted(ids), sorted(cprs)):
            rows = Patient.objects.filter(
                Q(fhir_id__in=ids_batch) | Q(cpr__in=cprs_batch)
            ).values_list("pk", "fhir_id", "cpr", "digest", "version", "last_updated", "deleted")
            for pk, fhir_id, cpr, digest, version, last_updated, deleted in rows:
                by_id[fhir_id] = (pk, cpr, _State(pk, digest, version, last_updated, deleted))
                if cpr:
                    by_cpr[cpr] = fhir_id
        pks: dict[str, int] = staged.setdefault("patient_pks", {})
        pks.update({fhir_id: row[0] for fhir_id, row in by_id.items() if not row[2].deleted})
        alias: dict[str, str] = staged.setdefault("alias", {})
        for item in work:
            # A DELETE of a patient known here under another id (same CPR) deletes that one.
            if item.entry.resource_type == "Patient" and item.entry.method == "DELETE":
                item.entry.fhir_id = self.patient_alias.get(item.entry.fhir_id, item.entry.fhir_id)
        chunk_cpr: dict[str, str] = {}
        for item in incoming:
            entry, cpr = item.entry, item.cpr
            if cpr is None:
                continue
            target = chunk_cpr.get(cpr) or by_cpr.get(cpr) or entry.fhir_id
            if target != entry.fhir_id:
                own = by_id.get(entry.fhir_id)
                if own is not None and own[1] != cpr:
                    entry.fail(
                        "Patient.identifier",
                        "the CPR number is stored for another patient",
                        "business-rule",
                    )
                    continue
                alias[entry.fhir_id] = target
                entry.fhir_id = target
                item.resource = {**(item.resource or {}), "id": target}
            chunk_cpr[cpr] = entry.fhir_id
        return {fhir_id: row[2] for fhir_id, row in by_id.items()}

    def _rewrite(self, chunk: list[Entry], work: list[_Work], staged: dict[str, Any]) -> None:
        """Point references at ``Type/id``: fullUrls of the bundle, aliases, our own base URL."""
        full_urls = {
            entry.full_url: f"{entry.resource_type}/{entry.fhir_id}"
            for entry in chunk
            if entry.full_url and entry.resource_type and entry.fhir_id
        }
        # Patients matched by CPR already carry their stored id (see _match_patients).
        alias_now = {**self.patient_alias, **staged.get("alias", {})}

        def mapper(reference: str) -> str | None:
            target = full_urls.get(reference)
            if target is None:
                if reference.startswith("urn:"):
                    return None
                if "://" in reference:
                    if not reference.startswith(self.base_url):
                        return reference  # another server's resource: kept as sent
                    reference = reference.removeprefix(self.base_url)
                target = reference
            if target.startswith("Patient/"):
                parts = target.split("/")
                if len(parts) > 1 and parts[1] in alias_now:
                    parts[1] = alias_now[parts[1]]
                    target = "/".join(parts)
            return target

        for item in work:
            if item.resource is None or item.entry.errors:
                continue
            # Most resources need no rewriting: find out on the fast walk, and take the slow
            # one (copying, with paths for errors) only where some reference changes.
            references = derive.reference_dicts(item.resource)
            if all(
                mapper(reference["reference"]) == reference["reference"]
                for reference in references
                if isinstance(reference.get("reference"), str)
            ):
                item.references = references
                continue
            problems: list[str] = []
            rtype = item.entry.resource_type
            item.resource = derive.rewrite_references(
                item.resource, mapper, rtype, problems, item.references
            )
            for path in problems:
                item.entry.fail(
                    path,
                    "a urn: reference must name the fullUrl of an entry of this Bundle",
                    "not-found",
                )

    def _link_patients(self, work: list[_Work], staged: dict[str, Any]) -> None:
        """Find each patient-linked resource's patient: in this chunk or stored."""
        chunk_ids: set[str] = set()
        chunk_cprs: dict[str, str] = {}
        for item in work:
            entry = item.entry
            if entry.resource_type == "Patient" and entry.method != "DELETE" and not entry.errors:
                chunk_ids.add(entry.fhir_id)
                if item.cpr:
                    chunk_cprs[item.cpr] = entry.fhir_id
        links: list[tuple[_Work, derive.PatientLink]] = []
        for item in work:
            rtype = item.entry.resource_type
            if (
                item.resource is None
                or item.entry.errors
                or rtype == "Patient"
                or rtype in fhir.NON_PATIENT_TYPES
            ):
                continue
            link = derive.patient_link(item.resource)
            if link is None:
                item.entry.fail(
                    f"{rtype}.{derive.patient_element(item.resource)}",
                    "must reference the patient (Patient/<id>, a urn:uuid of this Bundle or a "
                    "CPR identifier)",
                    "required",
                )
                continue
            links.append((item, link))
        want_ids = {
            link.value
            for _, link in links
            if link.by == "id"
            and link.value not in chunk_ids
            and link.value not in self.patient_pks
        }
        want_cprs = {link.value for _, link in links if link.by == "cpr"} - chunk_cprs.keys()
        found_pks: dict[str, int] = staged.setdefault("patient_pks", {})
        found_cprs: dict[str, str] = {}
        for ids_batch, cprs_batch in _pairs(sorted(want_ids), sorted(want_cprs)):
            rows = Patient.objects.filter(
                Q(fhir_id__in=ids_batch) | Q(cpr__in=cprs_batch), deleted=False
            ).values_list("pk", "fhir_id", "cpr")
            for pk, fhir_id, cpr in rows:
                found_pks[fhir_id] = pk
                if cpr:
                    found_cprs[cpr] = fhir_id
        for item, link in links:
            patient_id: str | None
            if link.by == "id":
                known = link.value in chunk_ids or link.value in self.patient_pks
                patient_id = link.value if known or link.value in found_pks else None
            else:
                patient_id = chunk_cprs.get(link.value) or found_cprs.get(link.value)
            if patient_id is None:
                item.entry.fail(
                    f"{item.entry.resource_type}.{link.element}",
                    "the patient is neither stored nor in this Bundle",
                    "not-found",
                )
                continue
            item.patient_id = patient_id
            if link.by == "cpr" and item.resource is not None:
                item.resource = derive.link_patient(item.resource, link, patient_id)

    def _resolve_organisations(self, work: list[_Work], staged: dict[str, Any]) -> None:
        """Collect the SOR/CVR keys each resource references (stored or in-chunk Organizations)."""
        chunk_orgs: dict[str, list[str]] = staged.setdefault("org_keys", {})
        for item in work:
            if (
                item.entry.resource_type == "Organization"
                and item.resource is not None
                and not item.entry.errors
            ):
                chunk_orgs[item.entry.fhir_id] = derive.organisation_keys(
                    item.resource.get("identifier")
                )
        wanted: set[str] = set()
        for item in work:
            if item.resource is None or item.entry.errors:
                continue
            if item.entry.resource_type == "Patient":
                item.gp = derive.gp_targets(item.resource)
                for targets in item.gp:
                    wanted.update(targets.literal_ids)
            elif item.patient_id is not None:
                item.org = derive.organisation_targets(item.resource, item.references)
                wanted.update(item.org.literal_ids)
        wanted -= chunk_orgs.keys() | self.org_keys.keys()
        for batch in _batches(sorted(wanted)):
            rows = Resource.objects.filter(
                resource_type="Organization", fhir_id__in=batch, deleted=False
            ).values_list("fhir_id", "body")
            for fhir_id, body in rows:
                keys = derive.organisation_keys(orjson.loads(body).get("identifier"))
                self.org_keys[fhir_id] = keys

    def _keys_of(self, targets: derive.OrganisationTargets, staged: dict[str, Any]) -> list[str]:
        keys = list(targets.keys)
        chunk_orgs: dict[str, list[str]] = staged.get("org_keys", {})
        for fhir_id in targets.literal_ids:
            keys.extend(chunk_orgs.get(fhir_id, self.org_keys.get(fhir_id, ())))
        return list(dict.fromkeys(keys))

    def _apply_versions(
        self, work: list[_Work], stored_patients: dict[str, _State]
    ) -> dict[tuple[str, str], _Planned]:
        """Apply the entries in order: newer versions win, older and identical ones do nothing."""
        states: dict[tuple[str, str], _State] = {
            ("Patient", fhir_id): state for fhir_id, state in stored_patients.items()
        }
        keys = {
            (item.entry.resource_type, item.entry.fhir_id)
            for item in work
            if item.entry.resource_type != "Patient" and not item.entry.errors
        }
        for key, row in sql.resource_states(keys).items():
            states[key] = _State(*row)
        existed = {key for key, state in states.items() if state.pk is not None}
        planned: dict[tuple[str, str], _Planned] = {}
        for item in work:
            entry = item.entry
            if entry.errors:
                continue
            key = (entry.resource_type, entry.fhir_id)
            state = states.get(key)
            if entry.method == "DELETE":
                if state is None or state.deleted:
                    entry.action = Action.UNCHANGED  # deleting what is not there: nothing to do
                    continue
                state = _State(state.pk, state.digest, state.version + 1, self.now, True)
                entry.action, entry.version = Action.DELETED, state.version
            else:
                sent_version, sent_updated = derive.meta_version(item.resource or {})
                if state is not None and (
                    (not state.deleted and state.digest == item.digest)
                    or _is_older(sent_version, sent_updated, state)
                ):
                    entry.action, entry.version = Action.UNCHANGED, state.version
                    continue
                if entry.known_unchanged:
                    # Validation was skipped for a copy of the stored version, which has changed
                    # since: this is a real change after all, so validate it now.
                    self._add_problems(
                        entry, validate_resource(entry.resource, structural=self.validate)
                    )
                    if entry.errors:
                        continue
                new_version = sent_version or (
                    min(state.version + 1, derive.MAX_VERSION) if state else 1
                )
                entry.action = Action.UPDATED if state is not None else Action.CREATED
                entry.version = new_version
                state = _State(
                    state.pk if state else None,
                    item.digest,
                    new_version,
                    sent_updated or self.now,
                    False,
                )
            states[key] = state
            planned[key] = _Planned(None if state.deleted else item, state, key in existed)
        return planned

    # --- write ------------------------------------------------------------------------------

    def _write(self, planned: dict[tuple[str, str], _Planned], staged: dict[str, Any]) -> None:
        """Write the plan: patients, then resources, their organisation references, tombstones."""
        patient_pks: dict[str, int] = staged.setdefault("patient_pks", {})
        patient_rows = []
        deleted_patients = []
        for (rtype, fhir_id), plan in planned.items():
            if rtype != "Patient":
                continue
            if plan.work is None:
                deleted_patients.append(fhir_id)
                continue
            gp_keys = (self._gp_key(targets, staged) for targets in plan.work.gp)
            patient_rows.append(
                {
                    "fhir_id": fhir_id,
                    **derive.patient_columns(
                        plan.work.resource or {},
                        plan.work.cpr or "",
                        next(filter(None, gp_keys), ""),
                    ),
                    "version": plan.state.version,
                    "last_updated": plan.state.last_updated,
                    "deleted": False,
                    "digest": plan.work.digest,
                    "body": plan.work.body,
                    "source": self.source,
                }
            )
        written = sql.upsert(Patient, patient_rows, unique=["fhir_id"], update=_PATIENT_UPDATE)
        patient_pks.update({key[0]: pk for key, pk in written.items()})
        for batch in _batches(deleted_patients):
            Patient.objects.filter(fhir_id__in=batch).update(
                deleted=True, version=F("version") + 1, last_updated=self.now
            )
        staged["deleted_patients"] = deleted_patients

        resource_rows: list[dict[str, Any]] = []
        org_keys: list[list[str]] = []
        replaced: list[int] = []
        tombstones: list[int] = []
        for (rtype, fhir_id), plan in planned.items():
            if rtype == "Patient":
                continue
            if plan.work is None:
                if plan.state.pk is not None:
                    tombstones.append(plan.state.pk)
                continue
            item = plan.work
            patient_pk = None
            if item.patient_id is not None:
                patient_pk = patient_pks.get(item.patient_id) or self.patient_pks.get(
                    item.patient_id
                )
                if patient_pk is None:
                    patient_pk = _stored_patient_pk(item.patient_id)
                    patient_pks[item.patient_id] = patient_pk
            resource_rows.append(
                {
                    "resource_type": rtype,
                    "fhir_id": fhir_id,
                    "patient": patient_pk,
                    **derive.resource_columns(
                        item.resource or {}, patient_linked=patient_pk is not None
                    ),
                    "version": plan.state.version,
                    "last_updated": plan.state.last_updated,
                    "deleted": False,
                    "digest": item.digest,
                    "body": item.body,
                    "source": self.source,
                }
            )
            org_keys.append(self._keys_of(item.org, staged) if item.org else [])
            if plan.existed and plan.state.pk is not None:
                replaced.append(plan.state.pk)
        resource_pks = sql.upsert(
            Resource, resource_rows, unique=["resource_type", "fhir_id"], update=_RESOURCE_UPDATE
        )
        # An update replaces the resource's organisation references (they may have changed).
        sql.delete_organisation_references(replaced)
        references = [
            {
                "resource": resource_pks[(row["resource_type"], row["fhir_id"])],
                "patient": row["patient"],
                "organisation": key,
                "date": row["date"],
            }
            for row, keys in zip(resource_rows, org_keys, strict=True)
            if row["patient"] is not None
            for key in keys
        ]
        sql.insert(OrganisationReference, references)
        for batch in _batches(tombstones):
            Resource.objects.filter(pk__in=batch).update(
                deleted=True, version=F("version") + 1, last_updated=self.now
            )

    def _gp_key(self, targets: derive.OrganisationTargets, staged: dict[str, Any]) -> str:
        keys = self._keys_of(targets, staged)
        return next((key for key in keys if key.startswith("sor:")), keys[0] if keys else "")


def _needs_validation(entry: Entry) -> bool:
    return not entry.errors and entry.method != "DELETE" and not entry.known_unchanged


def _is_older(version: int | None, last_updated: dt.datetime | None, state: _State) -> bool:
    """Return True when an incoming version is older than the stored one (it arrived late)."""
    if version is not None and version != state.version:
        return version < state.version
    return last_updated is not None and last_updated < state.last_updated


def _stored_patient_pk(fhir_id: str) -> int:
    return Patient.objects.values_list("pk", flat=True).get(fhir_id=fhir_id)


def _batches(values: list[Any] | set[Any]) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), _IN_BATCH):
        yield items[start : start + _IN_BATCH]


def _pairs(ids: list[str], cprs: list[str]) -> Iterator[tuple[list[str], list[str]]]:
    """Yield (ids, cprs) batches for ``fhir_id IN … OR cpr IN …`` lookups."""
    for start in range(0, max(len(ids), len(cprs)), _IN_BATCH):
        yield ids[start : start + _IN_BATCH], cprs[start : start + _IN_BATCH]


# --- IngestionRun ---------------------------------------------------------------------------


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
    for name in ("created", "updated", "unchanged", "deleted", "failed"):
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
