"""The CapabilityStatement of ``/fhir/r4/metadata``, built from what the API really answers.

Nothing here is written per type by hand: the read side comes from
:mod:`indblik.records.searchparams` (through :func:`search.accepted_parameters`, the very list
the parser enforces), the ingestion side from what :mod:`indblik.records.views` accepts, so
the statement and the API cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import metadata
from typing import Any

from django.conf import settings
from django.urls import reverse

from indblik.records import fhir, searchparams, smart
from indblik.records.api import search

FHIR_VERSION = "4.0.1"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
# What ingestion offers per type (``POST <Type>``, ``PUT``/``DELETE <Type>/<id>``) and for
# the whole system (``POST /fhir/r4/`` with a transaction or batch Bundle).
INGEST_INTERACTIONS = ("create", "update", "delete")
SYSTEM_INTERACTIONS = {
    "transaction": "Ingestion (scope ingest): a transaction Bundle is stored all or nothing.",
    "batch": (
        "Ingestion (scope ingest): a batch Bundle is stored entry by entry. Reads (scope "
        "record-read): a batch Bundle of up to 50 GET searches and reads is answered entry by "
        "entry, each audited as the same GET would be."
    ),
}
STATUS_COLUMN_NOTE = (
    "the code alone: the value set FHIR binds is the only one, so a system given is not compared"
)


def statement() -> dict[str, Any]:
    """Return the CapabilityStatement (built once per process and base URL)."""
    return _statement(settings.INDBLIK_BASE_URL)


@cache
def _statement(base_url: str) -> dict[str, Any]:
    api = f"{base_url}{reverse('fhir:base').rstrip('/')}"
    return {
        "resourceType": "CapabilityStatement",
        "id": "indblik",
        "url": f"{api}/metadata",
        "version": _version(),
        "name": "Indblik",
        "title": "Indblik FHIR R4 API",
        "status": "active",
        "experimental": False,
        "date": dt.date.today().isoformat(),
        "publisher": "Indblik",
        "description": (
            "Machine API of Indblik: ingestion of the hospital record, read and search of the "
            "local store, and the audit log's AuditEvent search. Clients authenticate with "
            "SMART Backend Services (private_key_jwt, ES384/RS384); every read is audited."
        ),
        "kind": "instance",
        "software": {"name": "Indblik", "version": _version()},
        "implementation": {"description": "Indblik", "url": api},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Reads (scope record-read) serve only the resource types listed, and every "
                    "search of a citizen's resources must name the patient. Unknown or "
                    "unsupported parameters are refused (400), never ignored. Restricted "
                    "resources (meta.security R or V) and entered-in-error ones are served: "
                    "the client decides what to show. Deleted resources never appear. "
                    "Ingestion (scope ingest) accepts create, update and delete of any FHIR R4 "
                    "resource type, and transaction and batch Bundles."
                ),
                "security": _security(),
                "resource": [_resource(rtype) for rtype in smart.readable_types()]
                + [_audit_event()],
                "interaction": [
                    {"code": code, "documentation": text}
                    for code, text in SYSTEM_INTERACTIONS.items()
                ],
            }
        ],
    }


def _security() -> dict[str, Any]:
    return {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [{"url": "token", "valueUri": smart.token_endpoint_url()}],
            }
        ],
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": SECURITY_SERVICE,
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR",
                    }
                ],
                "text": "SMART Backend Services (client credentials, private_key_jwt)",
            }
        ],
        "description": (
            "Read: an access token from the token endpoint (SMART Backend Services: a client "
            "assertion signed ES384 or RS384 with a key registered for the client), valid "
            f"{smart.ACCESS_TOKEN_SECONDS} s, sent as 'Authorization: Bearer'. Ingestion and "
            "the AuditEvent search also accept their feed's long-lived bearer credential. "
            "Discovery: .well-known/smart-configuration."
        ),
    }


def _resource(rtype: str) -> dict[str, Any]:
    kind = search.kind_of(rtype)
    entry: dict[str, Any] = {
        "type": rtype,
        "documentation": _type_documentation(rtype, kind),
        "interaction": [
            {"code": "read"},
            {"code": "search-type"},
            *({"code": code} for code in INGEST_INTERACTIONS),
        ],
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": True,
        "conditionalCreate": False,
        "conditionalRead": "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
    }
    spec = searchparams.SEARCHES.get(rtype)
    if spec is not None and spec.includes:
        entry["searchInclude"] = list(spec.includes)
    if kind == "patient":
        entry["searchRevInclude"] = list(searchparams.PATIENT_REVINCLUDES)
    entry["searchParam"] = [
        _parameter(rtype, name)
        for name in search.accepted_parameters(rtype)
        if name not in ("_sort", "_include", "_revinclude")
    ]
    return entry


def _type_documentation(rtype: str, kind: str) -> str:
    paging = (
        f"_count: default {searchparams.DEFAULT_COUNT}, at most {searchparams.MAX_COUNT} "
        "(larger is clipped; 0: Bundle.total alone); the next link carries an opaque cursor "
        "valid for an hour."
    )
    if kind == "patient":
        return f"One patient per search, by CPR identifier or _id. {paging}"
    if kind == "shared":
        return f"Shared resource: searched by _id only. {paging}"
    spec = searchparams.SEARCHES[rtype]
    if spec.date:
        order = (
            f"Sorted by {spec.date} (_sort=-{spec.date}, newest first, is the default; "
            f"_sort={spec.date} oldest first); resources without the date come last."
        )
    else:
        order = "Sorted in the order the resources were stored (no date parameter)."
    return f"The patient is required ({' or '.join(spec.patient)}). {order} {paging}"


def _parameter(rtype: str, name: str) -> dict[str, Any]:
    kind = search.kind_of(rtype)
    if name == "_id":
        text = "The resource id; comma-separated ids are ORed."
        if kind == "patient":
            text = "The patient's id (one per search)."
        elif kind == "shared":
            text = "Required: the resource id(s), comma-separated."
        return {"name": name, "type": "token", "documentation": text}
    if name == "identifier":
        return {
            "name": name,
            "type": "token",
            "documentation": (
                f"The CPR number only, as {fhir.CPR_SYSTEM}|<CPR number> (one per search); "
                "any other system is refused. Send it in a POST _search body to keep it out "
                "of URLs."
            ),
        }
    spec = searchparams.SEARCHES[rtype]
    if name in spec.patient:
        return {
            "name": name,
            "type": "reference",
            "documentation": "Required: the patient, as Patient/<id> or <id> (one per search).",
        }
    if name == spec.date:
        paths = ", ".join(fhir.DATE_PATHS.get(rtype, ()))
        return {
            "name": name,
            "type": "date",
            "documentation": (
                f"Searches Indblik's clinical date of the resource: the first present of "
                f"{paths or 'none'}. Prefixes eq (default), ge, gt, le, lt; several are ANDed; "
                "a date or partial date covers its whole range in Danish time. Resources "
                "without the date never match."
            ),
        }
    element = f"{rtype}.{searchparams.token_element(rtype, name)}"
    system = fhir.CODE_CATEGORIES.get(rtype) if name == "category" else None
    if spec.tokens[name] == "status":
        text = STATUS_COLUMN_NOTE
    elif system:
        text = f"its first code only, as {system}|<code>; system|code, code, |code or system|"
    else:
        text = (
            f"its first coding only (of the first {element}, where it repeats); system|code, "
            "code, |code or system|"
        )
    return {
        "name": name,
        "type": "token",
        "documentation": f"Searches {element}: {text}; comma-separated values are ORed.",
    }


def _audit_event() -> dict[str, Any]:
    return {
        "type": "AuditEvent",
        "documentation": (
            "A citizen's audit events for the hospital's patient portal (scope audit-read); "
            "the search is itself audited."
        ),
        "interaction": [{"code": "search-type"}],
        "searchParam": [
            {
                "name": "patient",
                "type": "reference",
                "documentation": f"Required: the citizen, as {fhir.CPR_SYSTEM}|<CPR number>.",
            },
            {
                "name": "date",
                "type": "date",
                "documentation": "When the event happened; prefixes eq, ge, gt, le, lt.",
            },
        ],
    }


def _version() -> str:
    try:
        return metadata.version("indblik")
    except metadata.PackageNotFoundError:
        return "0"
