"""FHIR R4 ingestion: Bundles, NDJSON and single resources into the local record store.

Three entry points share one engine (:class:`~indblik.records.ingest.store.Ingestor`):

- :func:`ingest_resources` — many independent resources (the synthetic generator, bulk loads);
- :func:`ingest_payload` — an untrusted byte stream: a transaction/batch/collection Bundle,
  NDJSON or one resource (``indblik ingest`` and ``POST /fhir/r4/``);
- :func:`ingest_interaction` — one RESTful create, update or delete (``/fhir/r4/<Type>[/<id>]``).

Every call writes one ``IngestionRun`` row. Errors name the entry, the FHIR path and the
problem, never a value (see docs/ingestion.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sized
from itertools import chain, islice
from typing import Any

from indblik.records.ingest import parallel as _parallel
from indblik.records.ingest.payload import (
    JSON_TYPES,
    NDJSON_TYPES,
    BoundedReader,
    Entry,
    Limits,
    Readable,
    parse_json,
    read_payload,
    refuse,
)
from indblik.records.ingest.result import (
    Action,
    EntryOutcome,
    IngestError,
    IngestResult,
    PayloadRefused,
)
from indblik.records.ingest.store import (
    CHUNK_SIZE,
    PARALLEL_MIN,
    Ingestor,
    finish_run,
    start_run,
)
from indblik.records.models import IngestionRun

__all__ = [
    "ACCEPTED_TYPES",
    "Action",
    "EntryOutcome",
    "IngestError",
    "IngestResult",
    "ingest_interaction",
    "ingest_payload",
    "ingest_resources",
    "media_type",
]

ACCEPTED_TYPES = JSON_TYPES | NDJSON_TYPES
log = logging.getLogger(__name__)
Progress = Callable[[int], None]


def ingest_resources(
    resources: Iterable[dict[str, Any]],
    *,
    source: str,
    channel: str = "generate",
    validate: bool = True,
    progress: Progress | None = None,
    parallel: bool | None = None,
) -> IngestResult:
    """Store many independent resources (a batch of upserts), chunk by chunk.

    Patients may come in the same iterable before their resources, or be stored already.
    Invalid resources are counted as failed and reported; the others are stored. Errors name
    ``resource N`` (0-based position in the iterable). ``validate=False`` skips the
    fhir.resources models; the cheap checks (ids, CPR numbers, status codes, patients) always
    run. ``parallel`` forces (True) or forbids (False) validation in worker processes and, on
    PostgreSQL outside a transaction, writing in a thread of its own; by default inputs of
    2,000 resources or more use them (the caller's main module must then be import-safe: see
    docs/ingestion.md).
    """
    head: list[dict[str, Any]] | None = None
    size: int | None = len(resources) if isinstance(resources, Sized) else None
    if size is None:
        # Peek far enough to know whether worker processes pay off.
        iterator = iter(resources)
        head = list(islice(iterator, PARALLEL_MIN))
        size = len(head) + (1 if len(head) == PARALLEL_MIN else 0)
        resources = chain(head, iterator)
    entries = (Entry(index, resource, where="resource") for index, resource in enumerate(resources))
    result = IngestResult(source=source, channel=channel, kind="resources")
    ingestor = Ingestor(
        result,
        validate=validate,
        use_pool=_use_pool(parallel, validate, size),
        progress=progress,
        background=_large(parallel, size),
    )
    _run(result, lambda: ingestor.run(entries))
    return result


def ingest_payload(
    stream: Readable,
    *,
    source: str,
    channel: str,
    content_type: str | None,
    max_bytes: int | None = None,
    progress: Progress | None = None,
    validate: bool = True,
    parallel: bool | None = False,
) -> IngestResult:
    """Store a FHIR payload: a Bundle (transaction, batch, collection), NDJSON or one resource.

    ``content_type`` None means detect (a file on the command line). A transaction stores
    everything or nothing; a batch reports per entry; collections and NDJSON store what is
    valid and report the rest. A payload that is refused as a whole (too large, too deep, not
    UTF-8/JSON, unsupported type) stores nothing: ``result.refused_status`` says why.
    ``max_bytes`` None means ``INDBLIK_INGEST_MAX_BYTES``.
    """
    result = IngestResult(source=source, channel=channel, kind="payload")

    def work() -> None:
        media = media_type(content_type)
        payload = read_payload(stream, content_type=media, limits=Limits.from_settings(max_bytes))
        result.kind = payload.kind
        bundle = payload.kind in ("transaction", "batch")
        ingestor = Ingestor(
            result,
            validate=validate,
            use_pool=_use_pool(parallel, validate, payload.size_hint),
            progress=progress,
            all_or_nothing=payload.kind == "transaction",
            keep_entries=bundle or payload.kind == "resource",
            background=not bundle and _large(parallel, payload.size_hint),
        )
        # A transaction or batch Bundle is already in memory: plan it as one unit so that
        # references between its entries resolve and a transaction rolls back as a whole.
        ingestor.run(payload.entries, chunk_size=None if bundle else CHUNK_SIZE)

    _run(result, work)
    return result


def ingest_interaction(
    stream: Readable | None,
    *,
    method: str,
    resource_type: str,
    fhir_id: str | None,
    source: str,
    channel: str,
    content_type: str | None = None,
    max_bytes: int | None = None,
) -> IngestResult:
    """Store one RESTful interaction: create (POST Type), update-create (PUT Type/id), DELETE."""
    result = IngestResult(source=source, channel=channel, kind="interaction")

    def work() -> None:
        url = resource_type if fhir_id is None else f"{resource_type}/{fhir_id}"
        resource = None
        if method != "DELETE":
            if media_type(content_type) not in JSON_TYPES:
                raise refuse(
                    "a single resource must be sent as application/fhir+json", "not-supported"
                )
            limits = Limits.from_settings(max_bytes)
            assert stream is not None
            data = BoundedReader(stream, limits.max_bytes).read_all()
            resource = parse_json(data.removeprefix(b"\xef\xbb\xbf"), limits)
        entry = Entry(0, resource, method=method, url=url, where="")
        Ingestor(result, keep_entries=True).run([entry], chunk_size=None)

    _run(result, work)
    return result


def media_type(content_type: str | None) -> str | None:
    """Return the bare media type of a Content-Type header; refuse unsupported ones (415)."""
    if content_type is None:
        return None
    media, _, parameters = content_type.partition(";")
    media = media.strip().lower()
    if media not in ACCEPTED_TYPES:
        raise PayloadRefused(
            IngestError(
                None, "", "send application/fhir+json or application/fhir+ndjson", "not-supported"
            ),
            415,
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise PayloadRefused(
                IngestError(None, "", "FHIR JSON must be UTF-8", "not-supported"), 415
            )
    return media


def _use_pool(parallel: bool | None, validate: bool, size: int | None) -> bool:
    if parallel is not None:
        return parallel and validate
    return validate and _parallel.available() and (size or 0) >= PARALLEL_MIN


def _large(parallel: bool | None, size: int | None) -> bool:
    """Return True when a writer thread pays off (see ``Ingestor``; ``parallel`` forces it)."""
    if parallel is not None:
        return parallel
    return (size or 0) >= PARALLEL_MIN


def _run(result: IngestResult, work: Callable[[], None]) -> None:
    """Run ``work`` between the start and the end of an ``IngestionRun``."""
    run = start_run(result)
    try:
        work()
    except PayloadRefused as refused:
        result.refused_status = refused.status
        result.add_error(refused.error)
    except BaseException:
        # Record the failure if the database still answers; the original error matters more.
        with contextlib.suppress(Exception):
            run.outcome = IngestionRun.Outcome.FAILED
            run.error = "internal error: ingestion stopped"
            run.save(update_fields=["outcome", "error"])
        raise
    finish_run(run, result)
    log.info(
        "ingest run %s: source=%s channel=%s kind=%s status=%s %s",
        result.run_id,
        result.source,
        result.channel,
        result.kind,
        result.status,
        result.summary(),
    )
