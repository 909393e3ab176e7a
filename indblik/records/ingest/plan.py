"""Planning and writing one chunk: ids, references, patients, organisations, versions.

A :class:`ChunkPlan` is built and written inside the chunk's database transaction, so that
it sees the rows it writes over and a chunk is stored entirely or not at all. What it learns
for later chunks (patients matched by CPR, stored organisations) reaches the run's
:class:`RunContext` only after the transaction commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db.models import F, Q

from indblik.records import fhir
from indblik.records.ingest import derive, sql
from indblik.records.ingest.payload import Entry
from indblik.records.ingest.result import Action
from indblik.records.models import OrganisationReference, Patient, Resource
from indblik.records.validation import Problem, patient_cpr, validate_resource

_IN_BATCH = 500  # values per IN (…) list: SQLite allows 32,766 parameters a statement
_CACHE_LIMIT = 200_000


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

    @property
    def derived(self) -> derive.Derived | None:
        """What was worked out ahead of the resource, while it is still stored as sent."""
        return self.entry.derived if self.resource is self.entry.resource else None


@dataclass
class _Planned:
    """The final write for one (type, id) after all entries of the chunk are applied."""

    work: _Work | None  # None: a tombstone
    state: _State
    existed: bool  # a database row existed before this chunk


@dataclass
class RunContext:
    """What the chunks of one run share: its settings, and what earlier chunks stored."""

    source: str
    validate: bool
    now: dt.datetime
    base_url: str
    patient_alias: dict[str, str] = field(default_factory=dict)  # incoming id -> stored id
    patient_pks: dict[str, int] = field(default_factory=dict)
    org_keys: dict[str, list[str]] = field(default_factory=dict)

    def learn(self, plan: ChunkPlan) -> None:
        """Take in what a committed chunk stored (never what a rolled-back one planned)."""
        self.patient_alias.update(plan.alias)
        self.patient_pks.update(plan.patient_pks)
        for fhir_id in plan.deleted_patients:
            self.patient_pks.pop(fhir_id, None)
        self.org_keys.update(plan.org_keys)
        if len(self.patient_pks) > _CACHE_LIMIT or len(self.org_keys) > _CACHE_LIMIT:
            self.patient_pks.clear()
            self.org_keys.clear()


class ChunkPlan:
    """The plan of one chunk of entries, and its writing."""

    def __init__(self, context: RunContext, chunk: list[Entry]) -> None:
        self.context = context
        self.chunk = chunk
        self.planned: dict[tuple[str, str], _Planned] = {}
        # Learnt by this chunk; merged into the context once it commits:
        self.alias: dict[str, str] = {}
        self.patient_pks: dict[str, int] = {}
        self.org_keys: dict[str, list[str]] = {}
        self.deleted_patients: list[str] = []

    def build(self) -> None:
        """Plan the chunk: resolve, compare with what is stored, decide each entry's action."""
        chunk = self.chunk
        work = [_Work(entry, entry.resource) for entry in chunk if not entry.errors]
        stored_patients = self._match_patients(work)
        self._rewrite(chunk, work)
        self._link_patients(work)
        self._resolve_organisations(work)
        for item in work:
            if item.resource is not None and not item.entry.errors:
                try:
                    # Most resources need no rewriting: their digest is already known.
                    rewritten = item.resource is not item.entry.resource or not item.entry.digest
                    item.digest = (
                        derive.canonical_digest(item.resource) if rewritten else item.entry.digest
                    )
                    derived = item.derived
                    item.body = derived.body if derived else orjson.dumps(item.resource).decode()
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
        self.planned = self._apply_versions(work, stored_patients)

    def _match_patients(self, work: list[_Work]) -> dict[str, _State]:
        """Give an incoming Patient the id under which its CPR number is already stored."""
        incoming = [
            item
            for item in work
            if item.entry.resource_type == "Patient" and item.entry.method != "DELETE"
        ]
        for item in incoming:
            item.cpr = patient_cpr(item.resource or {})
        ids = {
            self.context.patient_alias.get(item.entry.fhir_id, item.entry.fhir_id)
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
        pks = self.patient_pks
        pks.update({fhir_id: row[0] for fhir_id, row in by_id.items() if not row[2].deleted})
        alias = self.alias
        for item in work:
            # A DELETE of a patient known here under another id (same CPR) deletes that one.
            if item.entry.resource_type == "Patient" and item.entry.method == "DELETE":
                item.entry.fhir_id = self.context.patient_alias.get(
                    item.entry.fhir_id, item.entry.fhir_id
                )
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

    def _rewrite(self, chunk: list[Entry], work: list[_Work]) -> None:
        """Point references at ``Type/id``: fullUrls of the bundle, aliases, our own base URL."""
        full_urls = {
            entry.full_url: f"{entry.resource_type}/{entry.fhir_id}"
            for entry in chunk
            if entry.full_url and entry.resource_type and entry.fhir_id
        }
        # Patients matched by CPR already carry their stored id (see _match_patients).
        alias_now = {**self.context.patient_alias, **self.alias}

        def mapper(reference: str) -> str | None:
            target = full_urls.get(reference)
            if target is None:
                if reference.startswith("urn:"):
                    return None
                if "://" in reference:
                    if not reference.startswith(self.context.base_url):
                        return reference  # another server's resource: kept as sent
                    reference = reference.removeprefix(self.context.base_url)
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
            derived = item.derived
            references = derived.references if derived else derive.reference_dicts(item.resource)
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

    def _link_patients(self, work: list[_Work]) -> None:
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
            derived = item.derived
            link = derived.link if derived else derive.patient_link(item.resource)
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
            and link.value not in self.context.patient_pks
        }
        want_cprs = {link.value for _, link in links if link.by == "cpr"} - chunk_cprs.keys()
        found_pks = self.patient_pks
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
                known = link.value in chunk_ids or link.value in self.context.patient_pks
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

    def _resolve_organisations(self, work: list[_Work]) -> None:
        """Collect the SOR/CVR keys each resource references (stored or in-chunk Organizations)."""
        chunk_orgs = self.org_keys
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
                derived = item.derived
                item.org = (
                    derived.organisations
                    if derived
                    else derive.organisation_targets(item.resource, item.references)
                )
                wanted.update(item.org.literal_ids)
        wanted -= chunk_orgs.keys() | self.context.org_keys.keys()
        for batch in _batches(sorted(wanted)):
            rows = Resource.objects.filter(
                resource_type="Organization", fhir_id__in=batch, deleted=False
            ).values_list("fhir_id", "body")
            for fhir_id, body in rows:
                keys = derive.organisation_keys(orjson.loads(body).get("identifier"))
                self.context.org_keys[fhir_id] = keys

    def _keys_of(self, targets: derive.OrganisationTargets) -> list[str]:
        keys = list(targets.keys)
        chunk_orgs = self.org_keys
        for fhir_id in targets.literal_ids:
            keys.extend(chunk_orgs.get(fhir_id, self.context.org_keys.get(fhir_id, ())))
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
                state = _State(state.pk, state.digest, state.version + 1, self.context.now, True)
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
                    add_problems(
                        entry, validate_resource(entry.resource, structural=self.context.validate)
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
                    sent_updated or self.context.now,
                    False,
                )
            states[key] = state
            planned[key] = _Planned(None if state.deleted else item, state, key in existed)
        return planned

    # --- write ------------------------------------------------------------------------------

    def write(self) -> None:
        """Write the plan: patients, then resources, their organisation references, tombstones."""
        planned = self.planned
        patient_pks = self.patient_pks
        patient_rows = []
        deleted_patients = []
        for (rtype, fhir_id), plan in planned.items():
            if rtype != "Patient":
                continue
            if plan.work is None:
                deleted_patients.append(fhir_id)
                continue
            gp_keys = (self._gp_key(targets) for targets in plan.work.gp)
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
                    "source": self.context.source,
                }
            )
        written = sql.upsert(Patient, patient_rows, unique=["fhir_id"])
        patient_pks.update({key[0]: pk for key, pk in written.items()})
        for batch in _batches(deleted_patients):
            Patient.objects.filter(fhir_id__in=batch).update(
                deleted=True, version=F("version") + 1, last_updated=self.context.now
            )
        self.deleted_patients = deleted_patients

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
                patient_pk = patient_pks.get(item.patient_id) or self.context.patient_pks.get(
                    item.patient_id
                )
                if patient_pk is None:
                    patient_pk = _stored_patient_pk(item.patient_id)
                    patient_pks[item.patient_id] = patient_pk
            derived = item.derived
            linked = patient_pk is not None
            resource_rows.append(
                {
                    "resource_type": rtype,
                    "fhir_id": fhir_id,
                    "patient": patient_pk,
                    **(
                        derived.columns_for(patient_linked=linked)
                        if derived
                        else derive.resource_columns(item.resource or {}, patient_linked=linked)
                    ),
                    "version": plan.state.version,
                    "last_updated": plan.state.last_updated,
                    "deleted": False,
                    "digest": item.digest,
                    "body": item.body,
                    "source": self.context.source,
                }
            )
            org_keys.append(self._keys_of(item.org) if item.org else [])
            if plan.existed and plan.state.pk is not None:
                replaced.append(plan.state.pk)
        resource_pks = sql.upsert(Resource, resource_rows, unique=["resource_type", "fhir_id"])
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
                deleted=True, version=F("version") + 1, last_updated=self.context.now
            )

    def _gp_key(self, targets: derive.OrganisationTargets) -> str:
        keys = self._keys_of(targets)
        return next((key for key in keys if key.startswith("sor:")), keys[0] if keys else "")


def add_problems(entry: Entry, problems: list[Problem]) -> None:
    """Record validation problems as the entry's errors."""
    for problem in problems:
        entry.fail(problem.path, problem.problem, problem.code)


def needs_validation(entry: Entry) -> bool:
    """Return True for an entry that still has to be validated."""
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
