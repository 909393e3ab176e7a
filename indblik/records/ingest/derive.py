"""Pure derivations from one FHIR resource: ids, digests, references and the stored columns.

Nothing here touches the database; :mod:`indblik.records.ingest.store` supplies what must be
looked up (stored Organizations, patients) as plain mappings and callables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from indblik.records import fhir
from indblik.records.sections import classify
from indblik.records.validation import is_valid_id

MAX_VERSION = 2**31 - 1  # PositiveIntegerField is a 32-bit integer on PostgreSQL
_VOLATILE_META = ("lastUpdated", "versionId")
_CONTAINERS = (dict, list)


def clip(value: Any, length: int) -> str:
    """Return ``value`` as text that fits a ``CharField(max_length=length)`` on any database.

    PostgreSQL rejects NUL characters in text, and an over-long value in a varchar: both are
    possible in valid FHIR and must not turn into a server error.
    """
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "")[:length]


def canonical_digest(resource: dict[str, Any]) -> str:
    """Return the SHA-256 of the canonical JSON, ignoring ``meta.lastUpdated``/``versionId``.

    Raises ``orjson.JSONEncodeError`` for values JSON cannot hold (e.g. lone surrogates).
    """
    meta = resource.get("meta")
    if isinstance(meta, dict) and any(key in meta for key in _VOLATILE_META):
        resource = dict(resource)
        kept = {key: value for key, value in meta.items() if key not in _VOLATILE_META}
        if kept:
            resource["meta"] = kept
        else:
            del resource["meta"]
    return hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest()


def meta_version(resource: dict[str, Any]) -> tuple[int | None, dt.datetime | None]:
    """Return the numeric ``meta.versionId`` and the parsed ``meta.lastUpdated`` (or None)."""
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return None, None
    version_id = meta.get("versionId")
    version = None
    if isinstance(version_id, str) and version_id.isascii() and version_id.isdigit():
        number = int(version_id)
        version = number if 0 < number <= MAX_VERSION else None
    return version, fhir.parse_datetime(meta.get("lastUpdated"))


def id_from_full_url(full_url: str | None, resource_type: str) -> str | None:
    """Return the id a ``fullUrl`` implies (the UUID of ``urn:uuid:…``, the id of ``…/Type/id``)."""
    if not full_url:
        return None
    if full_url.startswith("urn:uuid:"):
        candidate = full_url.removeprefix("urn:uuid:").lower()
    else:
        parts = full_url.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != resource_type:
            return None
        candidate = parts[-1]
    return candidate if is_valid_id(candidate) else None


def content_id(resource: dict[str, Any]) -> str:
    """Return an id derived from the content, so that a repeated create stays one resource."""
    return canonical_digest({k: v for k, v in resource.items() if k != "id"})[:32]


def parse_reference(reference: str) -> tuple[str, str] | None:
    """Return (type, id) of a relative literal reference ``Type/id[/_history/n]``, or None."""
    parts = reference.split("/")
    if len(parts) in (2, 4) and parts[0][:1].isupper() and is_valid_id(parts[1]):
        if len(parts) == 4 and parts[2] != "_history":
            return None
        return parts[0], parts[1]
    return None


def rewrite_references(
    value: Any,
    mapper: Callable[[str], str | None],
    path: str,
    problems: list[str],
    found: list[dict[str, Any]] | None = None,
) -> Any:
    """Return ``value`` with every ``reference`` string passed through ``mapper``.

    Containers are copied only where something changes, so the caller's dicts are never
    modified. Where ``mapper`` returns None the reference cannot be resolved: its path is
    appended to ``problems`` and the value is left alone. Reference-shaped dicts of the result
    are appended to ``found`` (one walk serves both purposes: this is the hot path).
    """
    if isinstance(value, dict):
        out: dict[str, Any] | None = None
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                new = mapper(item)
                if new is None:
                    problems.append(f"{path}.reference")
                elif new != item:
                    out = out if out is not None else dict(value)
                    out[key] = new
            elif isinstance(item, _CONTAINERS):
                new_item = rewrite_references(item, mapper, f"{path}.{key}", problems, found)
                if new_item is not item:
                    out = out if out is not None else dict(value)
                    out[key] = new_item
        result = value if out is None else out
        if found is not None and _is_reference(result):
            found.append(result)
        return result
    if isinstance(value, list):
        new_list: list[Any] | None = None
        for index, item in enumerate(value):
            if isinstance(item, _CONTAINERS):
                new_item = rewrite_references(item, mapper, f"{path}[{index}]", problems, found)
                if new_item is not item:
                    new_list = new_list if new_list is not None else list(value)
                    new_list[index] = new_item
        return value if new_list is None else new_list
    return value


def _is_reference(item: dict[str, Any]) -> bool:
    return "resourceType" not in item and (
        isinstance(item.get("reference"), str) or isinstance(item.get("identifier"), dict)
    )


@dataclass(frozen=True, slots=True)
class PatientLink:
    """How a resource names its patient: by FHIR id or by CPR identifier."""

    element: str  # e.g. "subject"
    by: str  # "id" or "cpr"
    value: str


def patient_link(resource: dict[str, Any]) -> PatientLink | None:
    """Return the patient a (reference-rewritten) resource belongs to, or None."""
    rtype = resource.get("resourceType", "")
    for element in fhir.PATIENT_PATHS.get(rtype, ("subject", "patient")):
        value = resource.get(element)
        for item in value if isinstance(value, list) else [value]:
            target = (
                item.get("actor") if element == "participant" and isinstance(item, dict) else item
            )
            if not isinstance(target, dict):
                continue
            reference = target.get("reference")
            if isinstance(reference, str):
                parsed = parse_reference(reference)
                if parsed and parsed[0] == "Patient":
                    return PatientLink(element, "id", parsed[1])
            identifier = target.get("identifier")
            if (
                isinstance(identifier, dict)
                and identifier.get("system") == fhir.CPR_SYSTEM
                and target.get("type") in (None, "Patient")
                and isinstance(identifier.get("value"), str)
            ):
                cpr = fhir.normalise_cpr(identifier["value"])
                if cpr:
                    return PatientLink(element, "cpr", cpr)
    return None


def patient_element(resource: dict[str, Any]) -> str:
    """Return the element where a resource of this type names its patient."""
    paths = fhir.PATIENT_PATHS.get(resource.get("resourceType", ""), ("subject", "patient"))
    return paths[0] if paths else "subject"


def link_patient(resource: dict[str, Any], link: PatientLink, fhir_id: str) -> dict[str, Any]:
    """Return the resource with a literal reference beside a patient identifier reference."""
    target = resource.get(link.element)
    if link.by != "cpr" or not isinstance(target, dict) or "reference" in target:
        return resource  # list-valued elements keep their identifier-only references
    return {**resource, link.element: {"reference": f"Patient/{fhir_id}", **target}}


def organisation_keys(identifiers: Any) -> list[str]:
    """Return ``sor:<code>`` / ``cvr:<number>`` for the SOR and CVR identifiers given."""
    keys = []
    for identifier in identifiers if isinstance(identifiers, list) else [identifiers]:
        if not isinstance(identifier, dict):
            continue
        value = identifier.get("value")
        if not isinstance(value, str) or not value or len(value) > 59:
            continue
        system = identifier.get("system")
        if system == fhir.SOR_SYSTEM:
            keys.append(f"sor:{value}")
        elif system in fhir.CVR_SYSTEMS:
            keys.append(f"cvr:{value}")
    return keys


def reference_dicts(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every Reference-shaped dict below the top level of a resource."""
    found: list[dict[str, Any]] = []
    for value in resource.values():
        kind = type(value)
        if kind is dict or kind is list:
            _collect_references(value, found)
    return found


def _collect_references(value: Any, found: list[dict[str, Any]]) -> None:
    # The hot path of ingestion: exact type checks and plain recursion are what is fast here.
    if type(value) is dict:
        if _is_reference(value):
            found.append(value)
        items = value.values()
    else:
        items = value
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            _collect_references(item, found)


@dataclass
class OrganisationTargets:
    """The organisations a resource points at: known keys, and literal ids still to look up."""

    keys: list[str]
    literal_ids: list[str]


def organisation_targets(
    resource: dict[str, Any], references: Iterable[dict[str, Any]] | None = None
) -> OrganisationTargets:
    """Return the SOR/CVR keys and ``Organization/<id>`` references anywhere in a resource.

    ``references`` are the resource's Reference-shaped dicts when the caller already has them.
    """
    contained: dict[str, list[str]] = {}
    for item in resource.get("contained") or ():
        if isinstance(item, dict) and item.get("resourceType") == "Organization":
            contained[f"#{item.get('id')}"] = organisation_keys(item.get("identifier"))
    targets = OrganisationTargets([], [])
    for reference in reference_dicts(resource) if references is None else references:
        _add_targets(reference, contained, targets)
    return targets


def gp_targets(resource: dict[str, Any]) -> list[OrganisationTargets]:
    """Return, per ``Patient.generalPractitioner`` reference, the organisation it names."""
    out = []
    for reference in resource.get("generalPractitioner") or ():
        if isinstance(reference, dict):
            targets = OrganisationTargets([], [])
            _add_targets(reference, {}, targets)
            identifier = reference.get("identifier")
            if not targets.keys and not targets.literal_ids and isinstance(identifier, dict):
                # A GP named by another kind of identifier (e.g. a practitioner's): kept as is.
                value = identifier.get("value")
                if isinstance(value, str) and value:
                    targets.keys.append(value)
            out.append(targets)
    return out


def _add_targets(
    reference: dict[str, Any], contained: dict[str, list[str]], targets: OrganisationTargets
) -> None:
    identifier = reference.get("identifier")
    if isinstance(identifier, dict):
        targets.keys.extend(organisation_keys(identifier))
    literal = reference.get("reference")
    if isinstance(literal, str):
        if literal in contained:
            targets.keys.extend(contained[literal])
        else:
            parsed = parse_reference(literal)
            if parsed and parsed[0] == "Organization":
                targets.literal_ids.append(parsed[1])


@dataclass(slots=True)
class Derived:
    """What storing a resource needs of it as sent, worked out before its chunk is planned.

    It holds only while the resource is stored exactly as sent: planning works out again
    what it needs of a resource whose references it rewrites or whose patient it links.
    Working it out ahead lets the thread that reads the input do it while the writer thread
    waits for the database (see :mod:`indblik.records.ingest.store`).
    """

    references: list[dict[str, Any]]
    link: PatientLink | None
    organisations: OrganisationTargets
    columns: dict[str, Any]  # resource_columns(..., patient_linked=True)
    body: str

    def columns_for(self, *, patient_linked: bool) -> dict[str, Any]:
        """Return ``resource_columns(resource, patient_linked=patient_linked)``."""
        return self.columns if patient_linked else {**self.columns, "section": ""}


def derive(resource: dict[str, Any]) -> Derived:
    """Work out a validated resource's references, patient, organisations, columns and body.

    Raises ``orjson.JSONEncodeError`` (or ``TypeError``) for values JSON cannot hold.
    """
    references = reference_dicts(resource)
    return Derived(
        references,
        patient_link(resource),
        organisation_targets(resource, references),
        resource_columns(resource, patient_linked=True),
        orjson.dumps(resource).decode(),
    )


def resource_columns(resource: dict[str, Any], *, patient_linked: bool) -> dict[str, Any]:
    """Return the indexed columns of a ``Resource`` row (section, category, code, …)."""
    labels = fhir.security_labels(resource)
    code = fhir.first_code(resource.get("code")) or fhir.first_code(resource.get("type"))
    return {
        "section": classify(resource).value if patient_linked else "",
        "category": clip(fhir.first_category(resource), 200),
        "code": clip(code, 200),
        "status": clip(fhir.status(resource), 32),
        "date": fhir.clinical_date(resource),
        "restricted": any(label in fhir.RESTRICTED_LABELS for label in labels),
        "security": clip(",".join(labels), 200),
    }


def patient_columns(resource: dict[str, Any], cpr: str, gp: str) -> dict[str, Any]:
    """Return the columns of a ``Patient`` row (``gp`` is the already resolved GP key)."""
    family, given = _name(resource.get("name"))
    address = _home_address(resource.get("address"))
    deceased_at = fhir.parse_datetime(resource.get("deceasedDateTime"))
    return {
        "cpr": cpr,
        "family": clip(family, 200),
        "given": clip(given, 200),
        "birth_date": _date(resource.get("birthDate")),
        "gender": clip(resource.get("gender"), 16),
        "municipality_code": _municipality(address),
        "address": clip(_address_text(address), 300),
        "gp_identifier": clip(gp, 64),
        "deceased": resource.get("deceasedBoolean") is True or deceased_at is not None,
        "deceased_at": deceased_at,
    }


def _name(names: Any) -> tuple[str, str]:
    candidates = [name for name in names or () if isinstance(name, dict)]
    if not candidates:
        return "", ""
    chosen = next((name for name in candidates if name.get("use") == "official"), candidates[0])
    family = chosen.get("family") if isinstance(chosen.get("family"), str) else ""
    given = " ".join(part for part in chosen.get("given") or () if isinstance(part, str))
    return family or "", given


def _date(value: Any) -> dt.date | None:
    # Partial dates (1958, 1958-08) are legal FHIR but not a date column: leave them out.
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _home_address(addresses: Any) -> dict[str, Any] | None:
    candidates = [address for address in addresses or () if isinstance(address, dict)]
    if not candidates:
        return None
    current = [a for a in candidates if not fhir.get_path(a, "period.end")] or candidates
    return next((a for a in current if a.get("use") == "home"), current[0])


def _municipality(address: dict[str, Any] | None) -> str:
    for extension in (address or {}).get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == fhir.MUNICIPALITY_EXTENSION:
            for _system, code in sorted(fhir.codings(extension.get("valueCodeableConcept"))):
                if len(code) == 4 and code.isascii() and code.isdigit():
                    return code
    return ""


def _address_text(address: dict[str, Any] | None) -> str:
    if not address:
        return ""
    if isinstance(address.get("text"), str):
        return str(address["text"])
    lines = [line for line in address.get("line") or () if isinstance(line, str)]
    place = " ".join(
        part for part in (address.get("postalCode"), address.get("city")) if isinstance(part, str)
    )
    return ", ".join(part for part in (*lines, place) if part)
