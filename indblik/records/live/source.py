"""``FhirServerSource``: the record read live from a FHIR R4 server, section by section.

Each chart section is a few FHIR searches (:data:`PLANS`): one per resource type that can land
in the section, narrowed by category or type codes where those decide the section, newest first
by the type's date parameter (``indblik.records.searchparams``). The searches of one page run
concurrently. What comes back is untrusted: every resource is checked like ingested data
(structure and the bindings the chart relies on), must belong to the patient searched for, and
is sorted into its section with the same ``classify`` as the local store, so both sources put the
same resources on the same page and the same presenters render them. A malformed resource is
skipped with a notice on the page; a server that is down, slow or refusing makes the page say so
(:class:`~indblik.records.source.SourceUnavailable`), never a stale or partial page as current.

Nothing is stored: results live until the request ends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from indblik.records import fhir, searchparams
from indblik.records.ingest.derive import (
    organisation_keys,
    organisation_targets,
    parse_reference,
    patient_columns,
)
from indblik.records.live.client import CircuitBreaker, FhirHttp, interpret
from indblik.records.live.smart import TokenProvider
from indblik.records.sections import (
    ASSESSMENT_CATEGORIES,
    DISCHARGE_SUMMARY_TYPES,
    HISTORY_CATEGORIES,
    IMAGING_CATEGORIES,
    LAB_CATEGORIES,
    LETTER_TYPES,
    REFERRAL_CATEGORIES,
    Section,
    classify,
)
from indblik.records.source import (
    AmbiguousPatient,
    PatientRecord,
    SectionQuery,
    SectionResult,
    SourceUnavailable,
)
from indblik.records.validation import is_valid_id, validate_resource

log = logging.getLogger(__name__)

MAX_PAGES = 4  # next links followed per search, at most
BATCH_REFUSED = frozenset({400, 404, 405, 415, 422, 501})  # a batch POST refused as such
PAGE_SIZE_FLOOR = 20  # a search filtered afterwards asks for at least this many per page
CARE_EVENT_TYPES = (
    "Encounter",
    "EpisodeOfCare",
    "Appointment",
    "ServiceRequest",
    "Procedure",
    "CarePlan",
    "Communication",
)
_EXECUTOR = ThreadPoolExecutor(max_workers=16, thread_name_prefix="indblik-fhir")

MALFORMED_NOTICE = _("Some entries from the hospital record were malformed and are not shown.")
INCOMPLETE_NOTICE = _(
    "The hospital record sent more than Indblik reads at once; older entries may be missing "
    "from this page."
)


@dataclass(frozen=True)
class Search:
    """One FHIR search of a section: a type, and optionally a token parameter's codes."""

    resource_type: str
    token: str = ""  # e.g. "category"
    codes: frozenset[tuple[str, str]] = frozenset()
    include: str = ""  # an ``_include`` value (searchparams.INCLUDE_PATHS)


def _by(rtype: str, token: str, codes: set[tuple[str, str]]) -> Search:
    return Search(rtype, token, frozenset(codes))


# What to search for each section. The client re-checks every result with ``classify``.
PLANS: dict[Section, tuple[Search, ...]] = {
    Section.ENCOUNTERS: (Search("Encounter"),),
    Section.NOTES: (Search("DocumentReference"), Search("Composition")),
    Section.DISCHARGE_SUMMARIES: (
        _by("DocumentReference", "type", DISCHARGE_SUMMARY_TYPES),
        _by("DocumentReference", "category", DISCHARGE_SUMMARY_TYPES),
        _by("Composition", "type", DISCHARGE_SUMMARY_TYPES),
    ),
    Section.LAB: (
        _by("Observation", "category", LAB_CATEGORIES),
        _by("DiagnosticReport", "category", LAB_CATEGORIES),
        _by("ServiceRequest", "category", LAB_CATEGORIES),
    ),
    Section.PROCEDURES: (Search("Procedure"), Search("ServiceRequest")),
    Section.DEVICES: (
        Search("DeviceUseStatement", include="DeviceUseStatement:device"),
        Search("Device"),
    ),
    Section.DOCUMENTS: (Search("Media"), Search("DocumentReference")),
    Section.CORRESPONDENCE: (
        Search("Communication"),
        _by("DocumentReference", "type", LETTER_TYPES),
        _by("DocumentReference", "category", LETTER_TYPES),
        _by("Composition", "type", LETTER_TYPES),
    ),
    Section.EPISODES: (Search("EpisodeOfCare"),),
    Section.REFERRALS: (_by("ServiceRequest", "category", REFERRAL_CATEGORIES),),
    Section.RESULTS_REVIEW: (
        Search("ImagingStudy"),
        _by("Observation", "category", IMAGING_CATEGORIES),
        Search("DiagnosticReport"),
        _by("ServiceRequest", "category", IMAGING_CATEGORIES),
    ),
    Section.ASSESSMENTS: (
        Search("QuestionnaireResponse"),
        _by("Observation", "category", ASSESSMENT_CATEGORIES),
    ),
    Section.DIAGNOSES: (Search("Condition"),),
    Section.HISTORY: (
        Search("FamilyMemberHistory"),
        _by("Observation", "category", HISTORY_CATEGORIES),
        _by("Procedure", "category", HISTORY_CATEGORIES),
        _by("Condition", "category", HISTORY_CATEGORIES),
    ),
    Section.DEMOGRAPHICS: (Search("RelatedPerson"),),
    Section.APPOINTMENTS: (Search("Appointment"),),
    Section.CARE_PLANS: (Search("CarePlan"), Search("Goal")),
    Section.ALERTS: (Search("Flag"),),
    Section.ALLERGIES: (Search("AllergyIntolerance"),),
    Section.CONSENTS: (Search("Consent"),),
    Section.OTHER: (),
}


@dataclass
class _Found:
    """What one search brought back (already checked), newest first in the server's order."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    included: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True  # False: the server had more than was read
    bounded: bool = False  # True: reading stopped at MAX_PAGES, not because enough was read
    malformed: int = 0


class FhirServerSource:
    """A ``RecordSource`` reading a FHIR R4 server live (see the module docstring)."""

    name = "fhir"

    def __init__(self, http: FhirHttp) -> None:
        self.http = http
        self._capabilities: Capabilities | None = None
        self.origin = origin_of(http.base_url)

    @classmethod
    def from_settings(cls, base_url: str) -> FhirServerSource:
        cert = None
        if settings.INDBLIK_FHIR_CLIENT_CERT_FILE:
            cert = (
                settings.INDBLIK_FHIR_CLIENT_CERT_FILE,
                settings.INDBLIK_FHIR_CLIENT_CERT_KEY_FILE,
            )
        tokens = TokenProvider(
            base_url,
            settings.INDBLIK_FHIR_CLIENT_ID,
            settings.INDBLIK_FHIR_SCOPE,
            settings.INDBLIK_FHIR_TOKEN_URL,
            key_file=settings.INDBLIK_FHIR_CLIENT_KEY_FILE,
        )
        return cls(
            FhirHttp(
                base_url,
                tokens,
                timeout_ms=settings.INDBLIK_FHIR_TIMEOUT_MS,
                max_bytes=settings.INDBLIK_FHIR_MAX_BYTES,
                ca_file=settings.INDBLIK_FHIR_CA_FILE,
                cert=cert,
                breaker=CircuitBreaker(),
            )
        )

    # --- the patient ---------------------------------------------------------------------------

    def find_patient(self, cpr: str) -> PatientRecord | None:
        form = {"identifier": f"{searchparams.CPR_IDENTIFIER}|{cpr}", "_count": "2"}
        with_consents = self.capabilities().consents_with_patient
        if with_consents:
            form["_revinclude"] = "Consent:patient"
        return self._patient(self.http.search_post("Patient", form), cpr, with_consents)

    def find_patient_reading(
        self, cpr: str, key: str, queries: Iterable[SectionQuery]
    ) -> tuple[PatientRecord | None, dict[Section, SectionResult] | None]:
        """The patient and the sections of ``queries``, in the time of one round trip.

        ``key`` is this server's id of the patient as found when the grant was opened (the
        caller passes it only for a grant opened on this source, ``origin``). The page's
        searches of ``Patient/<key>`` go out as one batch at once, beside the search of the
        patient by CPR number (which alone decides who the patient is: exactly one match, or
        none, or refused). Their answer counts only if that search finds the patient under
        ``key``; otherwise (merged, renumbered) it is dropped unread, a failure of it too, and
        the caller reads the sections of the patient found. Without a key, queries or
        batches: ``(find_patient(cpr), None)``.
        """
        wanted = list(queries)
        if not key or not wanted or not is_valid_id(key) or not self.batches():
            return self.find_patient(cpr), None
        now = dt.datetime.now(dt.UTC)
        searches = self._plan(wanted)
        named = PatientRecord(key, cpr, "", None, "", "", deceased=False, resource={})
        urls = [_search_path(named, search, bounds, now) for search, bounds in searches]
        ahead = _EXECUTOR.submit(self._batch, urls)
        try:
            patient = self.find_patient(cpr)
        except BaseException:
            if not ahead.cancel():
                wait([ahead])  # nothing of the hospital's is left running for a refused page
            raise
        try:
            pages = ahead.result()
        except SourceUnavailable:
            if patient is not None and patient.key == key:
                raise  # the page's own searches failed: the page cannot be shown
            pages = None  # searches of an id that is not the citizen's any more: never mind
        if patient is not None and patient.key != key:
            log.info("live source: the grant's patient id no longer names the citizen")
        if patient is None or patient.key != key or pages is None:
            return patient, None
        found = self._run_all(
            patient, searches, now, first_pages=dict(zip(searches, pages, strict=True))
        )
        return patient, self._results(patient, wanted, found, now)

    def _patient(
        self, bundle: Mapping[str, Any], cpr: str, with_consents: bool
    ) -> PatientRecord | None:
        """The one Patient of a search answer that carries ``cpr`` (None: no such Patient;
        :class:`AmbiguousPatient`: several), with its consents if they surely all came."""
        matches: list[dict[str, Any]] = []
        consents: list[dict[str, Any]] = []
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
            raise SourceUnavailable("malformed", "the answer to a search is not a searchset")
        for resource, mode in _entries(bundle):
            if resource.get("resourceType") == "Consent":
                consents.append(resource)  # with or without search.mode (it is optional)
                continue
            if resource.get("resourceType") != "Patient" or mode not in ("match", None):
                continue
            if _check(resource) is not None:
                log.warning("live source: a malformed Patient was skipped")
                continue
            found = fhir.identifier_value(resource.get("identifier"), [fhir.CPR_SYSTEM])
            if found is None or fhir.normalise_cpr(found) != cpr:
                # The server answered with someone else: never take it for the citizen.
                log.warning("live source: a Patient without the searched CPR number was ignored")
                continue
            if all(resource.get("id") != match.get("id") for match in matches):
                matches.append(resource)
        total = bundle.get("total")
        total = total if isinstance(total, int) and not isinstance(total, bool) else 0
        if len(matches) > 1 or total > 1 or _next_link(bundle) is not None:
            # Another match may be on a page not read (``_count`` is 2; a next link or a total
            # over one says there is more): refused like two matches, never guessed. The next
            # page is not fetched: a server may write the search, CPR number and all, into it.
            raise AmbiguousPatient(max(len(matches), total, 2))
        if not matches:
            return None
        resource = matches[0]
        columns = patient_columns(resource, cpr, "")
        key = str(resource["id"])
        checked = None
        if with_consents and all(_check(c) is None for c in consents):
            # Only when surely all of them came (a paged answer was refused above): a consent
            # that fails the checks leaves ``consents`` unset, and the access policy searches
            # them itself (and refuses to decide if one cannot be read).
            checked = tuple(c for c in consents if _belongs_to(c, key, self.http.base_url))
        return PatientRecord(
            key=str(resource["id"]),
            origin=self.origin,
            cpr=cpr,
            name=f"{columns['given']} {columns['family']}".strip(),
            birth_date=columns["birth_date"],
            gender=columns["gender"] or "",
            municipality_code=columns["municipality_code"],
            deceased=columns["deceased"],
            resource=resource,
            consents=checked,
        )

    # --- sections --------------------------------------------------------------------------------

    def section(self, patient: PatientRecord, query: SectionQuery) -> SectionResult:
        if (
            query.section == Section.CONSENTS
            and patient.consents is not None
            and query == SectionQuery(Section.CONSENTS, limit=query.limit, include_restricted=True)
            and len(patient.consents) <= query.limit
        ):
            # The consents came with the patient in this request: nothing more to ask.
            consents = sorted(patient.consents, key=_sort_key, reverse=True)
            return SectionResult(Section.CONSENTS, tuple(consents))
        return self.sections(patient, [query])[query.section]

    def sections(
        self, patient: PatientRecord, queries: Iterable[SectionQuery]
    ) -> dict[Section, SectionResult]:
        wanted = list(queries)
        now = dt.datetime.now(dt.UTC)
        found = self._run_all(patient, self._plan(wanted), now)
        return self._results(patient, wanted, found, now)

    @staticmethod
    def _plan(
        queries: list[SectionQuery],
    ) -> dict[tuple[Search, SectionQuery], tuple[frozenset[Section], int]]:
        """The searches of ``queries``: one per distinct (search, bounds), with the sections
        that ask for it and how many of them to read."""
        askers: dict[tuple[Search, SectionQuery], set[Section]] = {}
        for query in queries:
            for search in PLANS.get(query.section, ()):
                askers.setdefault((search, _bounds(query)), set()).add(query.section)
        return {key: (frozenset(sections), key[1].limit) for key, sections in askers.items()}

    @staticmethod
    def _results(
        patient: PatientRecord,
        queries: list[SectionQuery],
        found: Mapping[tuple[Search, SectionQuery], _Found],
        now: dt.datetime,
    ) -> dict[Section, SectionResult]:
        results: dict[Section, SectionResult] = {}
        for query in queries:
            parts = [found[(search, _bounds(query))] for search in PLANS.get(query.section, ())]
            results[query.section] = _assemble(patient, query, parts, now)
        return results

    def _run_all(
        self,
        patient: PatientRecord,
        searches: Mapping[tuple[Search, SectionQuery], tuple[frozenset[Section], int]],
        now: dt.datetime,
        *,
        first_pages: Mapping[tuple[Search, SectionQuery], dict[str, Any]] | None = None,
    ) -> dict[tuple[Search, SectionQuery], _Found]:
        """Run several searches of one patient: their first pages in one batch where the
        server takes batches (or as given in ``first_pages``), the rest concurrently. Any
        failure fails them all (raised)."""
        if first_pages is None:
            first_pages = {}
            if len(searches) > 1 and self.batches():
                # One round trip for the first page of every search (a FHIR batch of GETs).
                urls = [_search_path(patient, key[0], key[1], now) for key in searches]
                answered = self._batch(urls)
                if answered is not None:
                    first_pages = dict(zip(searches, answered, strict=True))
        found: dict[tuple[Search, SectionQuery], _Found] = {}
        failure: SourceUnavailable | None = None
        futures = {}
        for key, (sections, limit) in searches.items():
            task = (patient, key[0], key[1], now, sections, limit)
            first_page = first_pages.get(key)
            if first_page is not None and _next_link(first_page) is None:
                # All of it came with the batch: checked here, no thread to hand it to.
                try:
                    found[key] = self._run(*task, first_page)
                except SourceUnavailable as exc:
                    failure = failure or exc
                continue
            futures[key] = _EXECUTOR.submit(self._run, *task, first_page)
        for key, future in futures.items():
            try:
                found[key] = future.result()
            except SourceUnavailable as exc:
                failure = failure or exc
        if failure is not None:
            # One search missing makes the answer incomplete: say so, show nothing as current.
            raise failure
        return found

    def capabilities(self) -> Capabilities:
        """What the server offers, from its CapabilityStatement (read once per process).

        Used only to ask for less: a page's searches in one ``batch``, the consents with the
        patient (``_revinclude``). If the statement cannot be read, neither is used this time.
        """
        if self._capabilities is None:
            try:
                statement = self.http.get(self.http.url("metadata"))
            except SourceUnavailable:
                return Capabilities(batch=False, consents_with_patient=False)
            self._capabilities = _capabilities(statement or {})
        return self._capabilities

    def batches(self) -> bool:
        """Tell whether to send a page's searches as one FHIR batch (``INDBLIK_FHIR_BATCH``):
        ``auto`` when the server's CapabilityStatement offers the ``batch`` interaction."""
        mode = settings.INDBLIK_FHIR_BATCH
        if mode != "auto":
            return mode == "on"
        return self.capabilities().batch

    def _batch(self, urls: list[str]) -> list[dict[str, Any]] | None:
        """POST the searches as a batch; return each one's searchset, in order.

        None when the server refuses batches as such although its CapabilityStatement offers
        them (400, 404, 405, 415, 422 or 501 to the POST itself, e.g. a gateway that does not
        pass it on): the searches are then sent one by one, now and for the rest of the
        process's life. A failed entry fails the page as the same GET would.
        """
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": url}} for url in urls],
        }
        try:
            answer = self.http.post_bundle(bundle)
        except SourceUnavailable as exc:
            if exc.status not in BATCH_REFUSED:
                raise
            log.warning(
                "live source: the FHIR server answered %s to a batch; searching one by one",
                exc.status,
            )
            self._capabilities = replace(self.capabilities(), batch=False)
            return None
        if answer.get("resourceType") != "Bundle" or answer.get("type") != "batch-response":
            raise SourceUnavailable("malformed", "the answer to a batch is not a batch-response")
        entries = answer.get("entry")
        if not isinstance(entries, list) or len(entries) != len(urls):
            raise SourceUnavailable("malformed", "a batch-response has the wrong number of entries")
        pages = []
        for entry in entries:
            response = entry.get("response") if isinstance(entry, dict) else None
            status = str(response.get("status", "")) if isinstance(response, dict) else ""
            code = int(status[:3]) if status[:3].isdigit() else 0
            if code != 200:
                # The entry failed as a whole request would have: map its status the same way.
                interpret(code or 500, b"{}", missing_ok=False)
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                raise SourceUnavailable("malformed", "a batch-response entry has no searchset")
            pages.append(resource)
        return pages

    def _run(
        self,
        patient: PatientRecord,
        search: Search,
        query: SectionQuery,
        now: dt.datetime,
        sections: frozenset[Section],
        limit: int,
        first_page: dict[str, Any] | None = None,
    ) -> _Found:
        """Run one search, following ``next`` links until enough of ``sections`` was read."""
        spec = searchparams.SEARCHES[search.resource_type]
        url: str | None = self.http.url(_search_path(patient, search, query, now))
        result = _Found()
        pages = 0
        useful = 0
        while url is not None:
            if first_page is not None:
                bundle, first_page = first_page, None
            else:
                fetched = self.http.get(url)
                assert fetched is not None
                bundle = fetched
            pages += 1
            if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
                raise SourceUnavailable("malformed", "the answer to a search is not a searchset")
            for resource, mode in _entries(bundle):
                problem = _check(resource)
                included = mode == "include"
                wanted = _include_target(search.include) if included else search.resource_type
                if problem is None:
                    if resource.get("resourceType") != wanted:
                        problem = "not the type searched for (or included)"
                    elif not _belongs_to(resource, patient.key, self.http.base_url):
                        problem = "not the patient searched for"
                if problem is not None:
                    result.malformed += 1
                    log.warning(
                        "live source: a %s from the server was skipped: %s",
                        search.resource_type,
                        problem,
                    )
                    continue
                if included:
                    result.included.append(resource)
                    continue
                result.resources.append(resource)
                if Section.OTHER in sections or classify(resource) in sections:
                    useful += 1
            url = _next_link(bundle)
            if url is None:
                break
            if spec.date and useful > limit:
                result.complete = False  # enough read: what is left is older
                break
            if pages >= MAX_PAGES:
                result.complete = False
                result.bounded = True
                break
        return result

    # --- shared resources and care events --------------------------------------------------------

    def resolve(self, references: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        wanted: dict[tuple[str, str], str] = {}
        for reference in references:
            parsed = parse_reference("/".join(reference.rstrip("/").split("/")[-2:]))
            if parsed and parsed[0] in fhir.NON_PATIENT_TYPES:
                wanted[parsed] = reference
        futures = {
            key: _EXECUTOR.submit(
                self.http.get, self.http.url(f"{key[0]}/{key[1]}"), missing_ok=True
            )
            for key in wanted
        }
        found: dict[str, Mapping[str, Any]] = {}
        for (rtype, rid), future in futures.items():
            resource = future.result()
            if (
                resource is not None
                and resource.get("resourceType") == rtype
                and resource.get("id") == rid
                and _check(resource) is None
                and not fhir.is_restricted(resource)  # never shown to external users
            ):
                found[wanted[(rtype, rid)]] = resource
        return found

    def care_events(
        self, patient: PatientRecord, organisations: Iterable[str], since: dt.datetime
    ) -> list[Mapping[str, Any]]:
        keys = set(organisations)
        if not keys:
            return []
        query = SectionQuery(Section.OTHER, limit=50, since=since)
        now = dt.datetime.now(dt.UTC)
        everything = frozenset({Section.OTHER})
        # The care events of every type: one batch where the server takes batches.
        found = self._run_all(
            patient, {(Search(rtype), query): (everything, 50) for rtype in CARE_EVENT_TYPES}, now
        )
        candidates: list[dict[str, Any]] = []
        for result in found.values():
            candidates.extend(result.resources)
        literal: set[str] = set()
        targets = {}
        for resource in candidates:
            target = organisation_targets(resource)
            targets[id(resource)] = target
            literal.update(target.literal_ids)
        organisations_by_id = self.resolve(
            f"Organization/{oid}" for oid in literal if is_valid_id(oid)
        )
        events: list[dict[str, Any]] = []
        for resource in candidates:
            date = fhir.clinical_date(resource)
            if date is None or date < since:
                continue
            target = targets[id(resource)]
            names = set(target.keys)
            for oid in target.literal_ids:
                org = organisations_by_id.get(f"Organization/{oid}")
                if org is not None:
                    names.update(organisation_keys(org.get("identifier")))
            if names & keys:
                events.append(resource)
        events.sort(key=lambda r: fhir.clinical_date(r) or since, reverse=True)
        return list(events[:50])


# --- helpers -------------------------------------------------------------------------------------


def origin_of(base_url: str) -> str:
    """The ``PatientRecord.origin`` of ids from the FHIR server at ``base_url``."""
    return "fhir:" + hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:24]


def _search_path(
    patient: PatientRecord, search: Search, query: SectionQuery, now: dt.datetime
) -> str:
    """The relative URL of a search's first page: ``Type?patient=…&_sort=…&_count=…``."""
    spec = searchparams.SEARCHES[search.resource_type]
    pairs: list[tuple[str, str]] = [(spec.patient[0], f"Patient/{patient.key}")]
    if search.token:
        codes = ",".join(f"{system}|{code}" for system, code in sorted(search.codes))
        pairs.append((search.token, codes))
    if search.include:
        pairs.append(("_include", search.include))
    if spec.date:
        pairs.append(("_sort", spec.date if query.upcoming else f"-{spec.date}"))
        # Whole seconds on the wire: lower bounds rounded down, upper bounds up, so the server
        # never returns less than wanted (the bounds are re-checked here exactly).
        for prefix, moment in (
            ("ge", now if query.upcoming else None),
            ("lt", query.before),
            ("ge", query.since),
            ("lt", query.until),
        ):
            if moment is not None:
                pairs.append((spec.date, f"{prefix}{_instant(moment, up=prefix == 'lt')}"))
    # Without codes the server cannot tell sections apart: ask for more, thin afterwards.
    limit = query.limit
    count = max(limit + 1, PAGE_SIZE_FLOOR) if not search.codes else limit + 1
    pairs.append(("_count", str(min(count, searchparams.MAX_COUNT))))
    return f"{search.resource_type}?{urlencode(pairs)}"


@dataclass(frozen=True)
class Capabilities:
    """What a FHIR server's CapabilityStatement says it does, of what this source can use."""

    batch: bool  # the batch interaction (a page's searches in one request)
    consents_with_patient: bool  # Patient searches take _revinclude=Consent:patient


def _capabilities(statement: Mapping[str, Any]) -> Capabilities:
    batch = revinclude = False
    for rest in _list(statement.get("rest")):
        if not isinstance(rest, dict) or rest.get("mode") != "server":
            continue
        for interaction in _list(rest.get("interaction")):
            if isinstance(interaction, dict) and interaction.get("code") == "batch":
                batch = True
        for resource in _list(rest.get("resource")):
            if isinstance(resource, dict) and resource.get("type") == "Patient":
                revinclude = "Consent:patient" in _list(resource.get("searchRevInclude"))
    return Capabilities(batch=batch, consents_with_patient=revinclude)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _bounds(query: SectionQuery) -> SectionQuery:
    """The part of a query that changes a search (not which section asked)."""
    return SectionQuery(
        Section.OTHER,
        limit=query.limit,
        before=query.before,
        since=query.since,
        until=query.until,
        upcoming=query.upcoming,
        include_restricted=query.include_restricted,
    )


def _entries(bundle: Mapping[str, Any]) -> Iterable[tuple[dict[str, Any], str | None]]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise SourceUnavailable("malformed", "a Bundle's entries are not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        if resource.get("resourceType") == "OperationOutcome":
            continue  # informational outcomes inside a searchset are not record content
        yield resource, mode if isinstance(mode, str) else None


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    if links is None:
        return None
    if not isinstance(links, list):
        raise SourceUnavailable("malformed", "a Bundle's links are not a list")
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None


def _check(resource: dict[str, Any]) -> str | None:
    """Return why a resource from the server may not be shown (None: it may)."""
    if not is_valid_id(resource.get("id")):
        return "no valid id"
    problems = validate_resource(resource)
    if problems:
        first = problems[0]
        return f"{getattr(first, 'path', '')}: {getattr(first, 'message', first)}"[:200]
    return None


def _belongs_to(resource: dict[str, Any], patient_key: str, base_url: str) -> bool:
    """Tell whether ``resource`` names the patient ``patient_key`` of the server at
    ``base_url``: ``Patient/<key>``, or the same written in full on this server. A Patient of
    the same id on another server is someone else."""
    reference = fhir.patient_reference(resource)
    return reference in (f"Patient/{patient_key}", f"{base_url.rstrip('/')}/Patient/{patient_key}")


def _instant(moment: dt.datetime, *, up: bool = False) -> str:
    """``moment`` in whole seconds, UTC (``up``: the next whole second if it has a fraction)."""
    moment = moment.astimezone(dt.UTC)
    if up and moment.microsecond:
        moment = moment.replace(microsecond=0) + dt.timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _include_target(include: str) -> str:
    """The type an ``_include`` brings (``DeviceUseStatement:device`` → ``Device``)."""
    return searchparams.INCLUDED_TYPES.get(include, "")


def _sort_key(resource: Mapping[str, Any]) -> tuple[bool, dt.datetime]:
    date = fhir.clinical_date(dict(resource))
    return (date is not None, date or dt.datetime.min.replace(tzinfo=dt.UTC))


def _assemble(
    patient: PatientRecord, query: SectionQuery, parts: list[_Found], now: dt.datetime
) -> SectionResult:
    """Merge a section's searches: keep what belongs, order, bound, and note what is missing."""
    seen: set[tuple[str, str]] = set()
    kept: list[dict[str, Any]] = []
    restricted_types = set(settings.INDBLIK_RESTRICTED_TYPES)
    # Searches that stopped early read everything newer than their oldest resource; older
    # than the newest such "horizon", another search's resources may be missing in between.
    horizon: dt.datetime | None = None
    for part in parts:
        if not part.complete and part.resources:
            # The oldest of what the search read (whatever order the server sorted in).
            dated = [d for d in (fhir.clinical_date(r) for r in part.resources) if d is not None]
            oldest = min(dated) if dated else None
            if oldest is not None and (horizon is None or oldest > horizon):
                horizon = oldest
        for resource in (*part.resources, *part.included):
            key = (str(resource.get("resourceType")), str(resource.get("id")))
            if key in seen:
                continue
            if query.section != Section.OTHER and classify(resource) != query.section:
                continue
            if not query.include_restricted and (
                fhir.is_restricted(resource) or fhir.has_restricted_type(resource, restricted_types)
            ):
                continue
            if not _in_bounds(fhir.clinical_date(resource), query, now):
                continue
            seen.add(key)
            kept.append(resource)
    if query.upcoming:
        kept.sort(key=lambda r: fhir.clinical_date(r) or now)
    else:
        kept.sort(key=_sort_key, reverse=True)
        if horizon is not None:
            kept = [r for r in kept if (fhir.clinical_date(r) or horizon) >= horizon]
    has_more = len(kept) > query.limit or any(not part.complete for part in parts)
    resources = kept[: query.limit]
    if query.section == Section.DEMOGRAPHICS:
        resources = [dict(patient.resource), *resources]
    notices: list[str] = []
    if any(part.malformed for part in parts):
        notices.append(str(MALFORMED_NOTICE))
    if any(part.bounded for part in parts) and len(resources) < query.limit:
        notices.append(str(INCOMPLETE_NOTICE))
    return SectionResult(query.section, tuple(resources), has_more=has_more, notices=tuple(notices))


def _in_bounds(date: dt.datetime | None, query: SectionQuery, now: dt.datetime) -> bool:
    if query.upcoming and (date is None or date < now):
        return False
    if query.before is not None and (date is None or date >= query.before):
        return False
    if query.since is not None and (date is None or date < query.since):
        return False
    return not (query.until is not None and (date is None or date >= query.until))
