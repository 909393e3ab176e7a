"""What the chart asks of a clinical record, and the local-store answer to it.

``RecordSource`` is the protocol; :class:`LocalStore` reads the Django models. A live FHIR
server source (issue 8) implements the same protocol with concurrent searches. Sources know
nothing of users or grants: the caller has already decided that this read is allowed and has
audited it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Q

from indblik.records import fhir
from indblik.records.models import OrganisationReference, Patient, Resource
from indblik.records.sections import Section

DEFAULT_LIMIT = 50


class SourceUnavailable(Exception):
    """The record could not be read now (a live source timed out, refused or answered nonsense).

    ``kind`` is a short, stable code safe for logs and metrics (``timeout``, ``unavailable``,
    ``http-5xx``, ``auth``, ``forbidden``, ``malformed``, ``oversized``, ``circuit-open``); the
    message names no citizen. The chart says so plainly and shows nothing as current.
    """

    def __init__(self, kind: str, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.status = status  # the HTTP status that said so, when one did


class AmbiguousPatient(SourceUnavailable):
    """The source has more than one patient with the CPR number: refuse, never guess."""

    def __init__(self, count: int) -> None:
        super().__init__("ambiguous", f"{count} patients match the CPR identifier")
        self.count = count


@dataclass(frozen=True)
class PatientRecord:
    """One citizen as a source found them (enough for the banner and the access policy)."""

    key: str  # the source's own id of the patient (local store: primary key)
    cpr: str
    name: str
    birth_date: dt.date | None
    gender: str
    municipality_code: str
    deceased: bool
    resource: Mapping[str, Any] = field(repr=False, compare=False, hash=False)
    # A live source may bring the citizen's consents with the citizen (``_revinclude``): the
    # access policy's check of blocks then needs no request of its own. None: not fetched.
    consents: tuple[Mapping[str, Any], ...] | None = field(
        default=None, repr=False, compare=False, hash=False
    )
    # Which source ``key`` is an id of (a live source: ``fhir:`` and a digest of its base URL;
    # the local store: empty). A grant remembers both, so an id is never sent to another server.
    origin: str = field(default="", compare=False)


@dataclass(frozen=True)
class SectionQuery:
    """Which part of a section to read: newest first, ``limit`` rows, optional filters."""

    section: Section
    limit: int = DEFAULT_LIMIT
    before: dt.datetime | None = None  # keyset paging: only rows dated strictly before this
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    upcoming: bool = False  # appointments: from now on, soonest first
    # Resources labelled restricted (meta.security R or V) are never shown to external users;
    # only the access policy reads them (a citizen's blocks).
    include_restricted: bool = False


@dataclass(frozen=True)
class SectionResult:
    """The resources of one section, newest first (soonest first for upcoming)."""

    section: Section
    resources: tuple[Mapping[str, Any], ...]
    has_more: bool = False
    notices: tuple[str, ...] = ()


class RecordSource(Protocol):
    """Reads one patient's record, section by section."""

    name: str

    def find_patient(self, cpr: str) -> PatientRecord | None:
        """Return the patient with this CPR number, or None (never guess between several)."""

    def section(self, patient: PatientRecord, query: SectionQuery) -> SectionResult:
        """Return one section of one patient."""

    def sections(
        self, patient: PatientRecord, queries: Iterable[SectionQuery]
    ) -> dict[Section, SectionResult]:
        """Return several sections of one patient (a live source fetches them concurrently)."""

    def resolve(self, references: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """Return the shared resources (Organization, Practitioner, Binary…) by reference."""

    def care_events(
        self, patient: PatientRecord, organisations: Iterable[str], since: dt.datetime
    ) -> list[Mapping[str, Any]]:
        """Return resources of this patient dated since ``since`` that reference an organisation.

        ``organisations`` are keys like ``sor:<code>`` or ``cvr:<number>``.
        """


def _shown(query: SectionQuery, resources: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The resources a section may show: without those of a restricted type.

    The query already left out rows whose stored ``code`` (the first coding) is restricted;
    this checks every coding of ``code``, ``type`` and ``category``.
    """
    types = frozenset(settings.INDBLIK_RESTRICTED_TYPES)
    if query.include_restricted or not types:
        return tuple(resources)
    return tuple(r for r in resources if not fhir.has_restricted_type(r, types))


def patient_record(row: Patient) -> PatientRecord:
    """Build the source-neutral view of a stored patient."""
    return PatientRecord(
        key=str(row.pk),
        cpr=row.cpr or "",
        name=row.name,
        birth_date=row.birth_date,
        gender=row.gender,
        municipality_code=row.municipality_code,
        deceased=row.deceased,
        resource=orjson.loads(row.body),
    )


class LocalStore:
    """The record as ingested into this server's database: one indexed query per section."""

    name = "local"

    def find_patient(self, cpr: str) -> PatientRecord | None:
        row = Patient.objects.filter(cpr=cpr, deleted=False).first()
        return patient_record(row) if row else None

    def section(self, patient: PatientRecord, query: SectionQuery) -> SectionResult:
        if query.section == Section.DEMOGRAPHICS:
            return self._demographics(patient, query)
        rows = Resource.objects.filter(
            patient_id=int(patient.key), section=query.section, deleted=False
        )
        if not query.include_restricted:
            rows = rows.filter(restricted=False)
            if settings.INDBLIK_RESTRICTED_TYPES:
                rows = rows.exclude(code__in=settings.INDBLIK_RESTRICTED_TYPES)
        now = dt.datetime.now(dt.UTC)
        if query.upcoming:
            rows = rows.filter(date__gte=now).order_by("date", "id")
        else:
            rows = rows.order_by("-date", "-id")
        if query.before is not None:
            rows = rows.filter(date__lt=query.before)
        if query.since is not None:
            rows = rows.filter(date__gte=query.since)
        if query.until is not None:
            rows = rows.filter(date__lt=query.until)
        bodies = list(rows.values_list("body", flat=True)[: query.limit + 1])
        resources = _shown(query, (orjson.loads(body) for body in bodies[: query.limit]))
        return SectionResult(query.section, resources, has_more=len(bodies) > query.limit)

    def _demographics(self, patient: PatientRecord, query: SectionQuery) -> SectionResult:
        related = Resource.objects.filter(
            patient_id=int(patient.key),
            section=Section.DEMOGRAPHICS,
            deleted=False,
            restricted=False,
        ).values_list("body", flat=True)[: query.limit]
        resources = (patient.resource, *_shown(query, (orjson.loads(body) for body in related)))
        return SectionResult(Section.DEMOGRAPHICS, resources)

    def sections(
        self, patient: PatientRecord, queries: Iterable[SectionQuery]
    ) -> dict[Section, SectionResult]:
        """Read several sections in one round trip: a UNION ALL of the per-section queries.

        Each part is the same indexed, limited query as :meth:`section` (the snapshot reads
        eight sections; one statement instead of eight saves the ORM's per-query cost and the
        database round trips).
        """
        wanted = list(queries)
        results: dict[Section, SectionResult] = {}
        parts: list[str] = []
        params: list[Any] = []
        plain = [query for query in wanted if query.section != Section.DEMOGRAPHICS]
        for query in wanted:
            if query.section == Section.DEMOGRAPHICS:
                results[query.section] = self._demographics(patient, query)
        if len(plain) == 1:
            results[plain[0].section] = self.section(patient, plain[0])
            plain = []
        now = dt.datetime.now(dt.UTC)
        for position, query in enumerate(plain):
            sql, part_params = _section_sql(int(patient.key), query, position, now)
            parts.append(f"SELECT * FROM ({sql}) AS part{position}")  # noqa: S608 - values are params
            params.extend(part_params)
        if parts:
            statement = (  # fixed fragments only; every value is a parameter
                "SELECT k, body FROM (" + " UNION ALL ".join(parts) + ") AS parts ORDER BY k, rn"  # noqa: S608
            )
            bodies: list[list[str]] = [[] for _ in plain]
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                for position, body in cursor.fetchall():
                    bodies[position].append(body)
            for position, query in enumerate(plain):
                rows = bodies[position]
                results[query.section] = SectionResult(
                    query.section,
                    _shown(query, (orjson.loads(body) for body in rows[: query.limit])),
                    has_more=len(rows) > query.limit,
                )
        return {query.section: results[query.section] for query in wanted}

    def resolve(self, references: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        wanted: dict[tuple[str, str], str] = {}
        for reference in references:
            parts = reference.rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] in fhir.NON_PATIENT_TYPES:
                wanted[(parts[-2], parts[-1])] = reference
        if not wanted:
            return {}
        condition = Q()
        for rtype, fhir_id in wanted:
            condition |= Q(resource_type=rtype, fhir_id=fhir_id)
        found: dict[str, Mapping[str, Any]] = {}
        # Restricted resources (a Binary labelled R…) are never shown to external users.
        shared = Resource.objects.filter(condition, deleted=False, restricted=False)
        for rtype, fhir_id, body in shared.values_list("resource_type", "fhir_id", "body"):
            found[wanted[(rtype, fhir_id)]] = orjson.loads(body)
        return found

    def care_events(
        self, patient: PatientRecord, organisations: Iterable[str], since: dt.datetime
    ) -> list[Mapping[str, Any]]:
        keys = list(organisations)
        if not keys:
            return []
        bodies = (
            OrganisationReference.objects.filter(
                patient_id=int(patient.key),
                organisation__in=keys,
                date__gte=since,
                resource__deleted=False,
            )
            .order_by("-date")
            .values_list("resource__body", flat=True)
            .distinct()[:DEFAULT_LIMIT]
        )
        return [orjson.loads(body) for body in bodies]


def source() -> RecordSource:
    """Return the configured record source (``INDBLIK_RECORD_SOURCE``): one per process."""
    return _source(settings.INDBLIK_RECORD_SOURCE)


@cache
def _source(configured: str) -> RecordSource:
    if configured == "local":
        return LocalStore()
    if configured.startswith(("https://", "http://")):
        from indblik.records.live.source import FhirServerSource

        return FhirServerSource.from_settings(configured)
    raise ImproperlyConfigured(f"unknown record source {configured!r}")


def _section_sql(
    patient_id: int, query: SectionQuery, position: int, now: dt.datetime
) -> tuple[str, list[Any]]:
    """The SQL of one section's read, as :meth:`LocalStore.section` builds it with the ORM."""
    adapt = connection.ops.adapt_datetimefield_value
    where = ["patient_id = %s", "section = %s", "NOT deleted"]
    params: list[Any] = [patient_id, str(query.section)]
    if not query.include_restricted:
        where.append("NOT restricted")
        restricted_types = list(settings.INDBLIK_RESTRICTED_TYPES)
        if restricted_types:
            where.append("code NOT IN (" + ", ".join(["%s"] * len(restricted_types)) + ")")
            params.extend(restricted_types)
    for condition, value in (
        ("date >= %s", now if query.upcoming else None),
        ("date < %s", query.before),
        ("date >= %s", query.since),
        ("date < %s", query.until),
    ):
        if value is not None:
            where.append(condition)
            params.append(adapt(value))
    order = "date ASC, id ASC" if query.upcoming else "date DESC, id DESC"
    table = connection.ops.quote_name(Resource._meta.db_table)
    # Fixed fragments (column and table names) only; every value is a parameter.
    sql = (
        f"SELECT %s AS k, body, ROW_NUMBER() OVER (ORDER BY {order}) AS rn FROM {table} "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
    )
    return sql, [position, *params, query.limit + 1]
