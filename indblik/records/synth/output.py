"""Write generated records to a directory: bulk-data NDJSON or one transaction Bundle per citizen.

Files are written into a hidden staging directory inside the target and moved into place only
when everything is written, so that an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from indblik.records.synth.terminology import Resource

# Shared resources must be stored before the patients that point at them, and a Patient
# before its resources: this is the order of the NDJSON files in the manifest.
SHARED_TYPES = ("Organization", "Practitioner", "PractitionerRole", "Location", "Questionnaire")
MANIFEST = "manifest.json"
SHARED_BUNDLE = "000-shared.json"
_UUID_NAMESPACE = uuid.UUID("6f3c1d0e-4b8a-5d2e-9a71-0c5e8f3b2a14")


class OutputError(Exception):
    """The output directory cannot be used."""


@contextmanager
def _staging(directory: Path) -> Iterator[Path]:
    """Yield a staging directory inside ``directory``; move its files into place on success."""
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory} exists and is not a directory")
    if directory.exists() and any(directory.iterdir()):
        raise OutputError(f"{directory} is not empty: choose a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".generate-", dir=directory))
    try:
        yield staging
        for path in sorted(staging.iterdir()):
            path.replace(directory / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_ndjson(
    resources: Iterable[Resource], directory: Path, *, now: dt.datetime
) -> dict[str, int]:
    """Write ``<Type>.ndjson`` files (FHIR bulk data layout) and a manifest; return counts by type.

    The manifest lists the files in the order to load them: shared types, Patient, the rest.
    """
    counts: dict[str, int] = {}
    with _staging(directory) as staging:
        files: dict[str, IO[bytes]] = {}
        try:
            for resource in resources:
                rtype = resource["resourceType"]
                handle = files.get(rtype)
                if handle is None:
                    handle = files[rtype] = (staging / f"{rtype}.ndjson").open("wb")
                handle.write(orjson.dumps(resource) + b"\n")
                counts[rtype] = counts.get(rtype, 0) + 1
        finally:
            for handle in files.values():
                handle.close()
        order = sorted(counts, key=_load_order)
        manifest = {
            "transactionTime": now.isoformat(),
            "requiresAccessToken": False,
            "output": [{"type": t, "url": f"{t}.ndjson", "count": counts[t]} for t in order],
            "error": [],
        }
        (staging / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return counts


def _load_order(resource_type: str) -> tuple[int, str]:
    if resource_type in SHARED_TYPES:
        return (0, f"{SHARED_TYPES.index(resource_type):02d}")
    return (1, "") if resource_type == "Patient" else (2, resource_type)


def load_order(directory: Path) -> list[Path]:
    """Return the NDJSON files of an output directory in the order to ingest them."""
    manifest = orjson.loads((directory / MANIFEST).read_bytes())
    return [directory / item["url"] for item in manifest["output"]]


def full_url(resource: Resource) -> str:
    """Return the deterministic ``urn:uuid`` fullUrl of a resource in a transaction Bundle."""
    return f"urn:uuid:{uuid.uuid5(_UUID_NAMESPACE, _local(resource))}"


def _local(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def transaction(resources: list[Resource], bundle_id: str) -> Resource:
    """Return a transaction Bundle: ``urn:uuid`` fullUrls, references between entries rewritten.

    Each entry is a PUT to ``Type/id`` so that loading the same Bundle twice changes nothing.
    """
    urls = {_local(resource): full_url(resource) for resource in resources}
    entries = []
    for resource in resources:
        entries.append(
            {
                "fullUrl": urls[_local(resource)],
                "resource": _rewrite(resource, urls),
                "request": {"method": "PUT", "url": _local(resource)},
            }
        )
    return {"resourceType": "Bundle", "id": bundle_id, "type": "transaction", "entry": entries}


def _rewrite(value: Any, urls: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str) and item in urls:
                out[key] = urls[item]
            else:
                out[key] = _rewrite(item, urls)
        return out
    if isinstance(value, list):
        return [_rewrite(item, urls) for item in value]
    return value


def write_bundles(
    shared: list[Resource], citizens: Iterable[list[Resource]], directory: Path
) -> int:
    """Write ``000-shared.json`` and ``patient-<n>.json`` transaction Bundles; return the count.

    File names sort in load order: the shared resources first.
    """
    written = 0
    with _staging(directory) as staging:
        (staging / SHARED_BUNDLE).write_bytes(orjson.dumps(transaction(shared, "synth-shared")))
        for resources in citizens:
            patient_id = resources[0]["id"]
            index = int(patient_id.rsplit("-", 1)[-1])
            bundle = transaction(resources, f"bundle-{patient_id}")
            (staging / f"patient-{index:07d}.json").write_bytes(orjson.dumps(bundle))
            written += 1
    return written
