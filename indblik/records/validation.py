"""Validation of incoming FHIR R4 resources: the fhir.resources models plus what they miss.

fhir.resources (R4B models, structurally R4) checks cardinality, data types and formats; it
does not check code bindings, FHIR's 64-character id limit, the Danish CPR identifier, or the
status codes the chart relies on to tell an active problem from a resolved one. Those checks
live here too.

Everything in this module is pure (no Django, no database) so that it can run in worker
processes. Problems never quote the offending value: a value may be a CPR number or a name, and
problems end up in logs, in the ``IngestionRun`` table and in HTTP responses.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from indblik.records import fhir

# FHIR R4 "id" datatype: https://hl7.org/fhir/R4/datatypes.html#id
ID_PATTERN = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_RESOURCE_TYPE_PATTERN = re.compile(r"[A-Z][A-Za-z]{1,63}")
_SPEC_REGEX = re.compile(r"(\w+) value string does not match spec regex")
MAX_PROBLEMS_PER_RESOURCE = 20

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"

_EVENT_STATUS = frozenset(
    {
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
    }
)
_REQUEST_STATUS = frozenset(
    {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
)

# The code-valued status elements the chart filters or labels by, with their R4 required
# bindings (fhir.resources checks that a code is present where FHIR demands one, not which).
STATUS_CODES: dict[tuple[str, str], frozenset[str]] = {
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("DiagnosticReport", "status"): frozenset(
        {
            "registered",
            "partial",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "appended",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Encounter", "status"): frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Procedure", "status"): _EVENT_STATUS,
    ("Communication", "status"): _EVENT_STATUS,
    ("Media", "status"): _EVENT_STATUS,
    ("ServiceRequest", "status"): _REQUEST_STATUS,
    ("CarePlan", "status"): _REQUEST_STATUS,
    ("ServiceRequest", "intent"): frozenset(
        {
            "proposal",
            "plan",
            "directive",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    ("DocumentReference", "status"): frozenset({"current", "superseded", "entered-in-error"}),
    ("DocumentReference", "docStatus"): frozenset(
        {"preliminary", "final", "amended", "entered-in-error"}
    ),
    ("Composition", "status"): frozenset({"preliminary", "final", "amended", "entered-in-error"}),
    ("Appointment", "status"): frozenset(
        {
            "proposed",
            "pending",
            "booked",
            "arrived",
            "fulfilled",
            "cancelled",
            "noshow",
            "entered-in-error",
            "checked-in",
            "waitlist",
        }
    ),
    ("EpisodeOfCare", "status"): frozenset(
        {"planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error"}
    ),
    ("Flag", "status"): frozenset({"active", "inactive", "entered-in-error"}),
    ("QuestionnaireResponse", "status"): frozenset(
        {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
    ),
    ("Goal", "lifecycleStatus"): frozenset(
        {
            "proposed",
            "planned",
            "accepted",
            "active",
            "on-hold",
            "completed",
            "cancelled",
            "entered-in-error",
            "rejected",
        }
    ),
    ("DeviceUseStatement", "status"): frozenset(
        {"active", "completed", "entered-in-error", "intended", "stopped", "on-hold"}
    ),
    ("Consent", "status"): frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
    ("ImagingStudy", "status"): frozenset(
        {"registered", "available", "cancelled", "entered-in-error", "unknown"}
    ),
    ("Device", "status"): frozenset({"active", "inactive", "entered-in-error", "unknown"}),
}

# CodeableConcept statuses the snapshot depends on (active problems, allergies): required
# unless the record was entered in error (FHIR invariants con-5 and ait-1 allow that).
CLINICAL_STATUS: dict[str, tuple[str, frozenset[str], str]] = {
    "Condition": (
        CONDITION_CLINICAL,
        frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"}),
        CONDITION_VERIFICATION,
    ),
    "AllergyIntolerance": (
        ALLERGY_CLINICAL,
        frozenset({"active", "inactive", "resolved"}),
        ALLERGY_VERIFICATION,
    ),
}

# Plain-English wording for the pydantic/fhir.resources error types seen in practice.
_PROBLEM_WORDING = {
    "missing": "field required",
    "model_field_validation.missing": "field required",
    "extra_forbidden": "unknown element (not part of this resource type in FHIR R4)",
    "string_pattern_mismatch": "value does not have the format FHIR requires",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "decimal_type": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "json_invalid": "must be an object",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "fhir-validation-wrong-resource-type": "resource type does not match",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a resource: where (a FHIR path) and what, never the value."""

    path: str
    problem: str
    code: str = "invalid"  # an OperationOutcome issue type: invalid, required, value, …


@cache
def resource_class(resource_type: str) -> type[Any] | None:
    """Return the fhir.resources R4B model of a resource type, or None if it is not one."""
    if not _RESOURCE_TYPE_PATTERN.fullmatch(resource_type):
        return None
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    # get_fhir_model_class also returns datatypes (Coding, Period…): those are not resources.
    if not issubclass(model, Resource):
        return None
    return model


def is_resource_type(value: Any) -> bool:
    """Return True when ``value`` names a FHIR R4 resource type."""
    return isinstance(value, str) and resource_class(value) is not None


def is_valid_id(value: Any) -> bool:
    """Return True when ``value`` is a FHIR id (1-64 of ``A-Z a-z 0-9 - .``)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def validate_resource(resource: Any, *, structural: bool = True) -> list[Problem]:
    """Return the problems of one resource (empty when it may be stored).

    ``structural`` runs the fhir.resources model (~150-300 µs); without it only the cheap
    checks run: resource type, id, CPR identifier and status codes.
    """
    if not isinstance(resource, dict):
        return [Problem("", "must be a FHIR resource (a JSON object)", "structure")]
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return [Problem("resourceType", "field required", "required")]
    if rtype == "Bundle":
        return [Problem("Bundle", "a Bundle cannot be stored as a resource", "not-supported")]
    model = resource_class(rtype)
    if model is None:
        return [Problem("resourceType", "not a FHIR R4 resource type", "not-supported")]
    problems: list[Problem] = []
    rid = resource.get("id")
    if rid is not None and not is_valid_id(rid):
        problems.append(
            Problem(f"{rtype}.id", "must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'")
        )
    if structural:
        problems.extend(_model_problems(model, rtype, resource))
    if rtype == "Patient":
        problems.extend(_cpr_problems(resource))
        # The id travels in URLs, references and access logs: it must never be the CPR number.
        cpr = patient_cpr(resource)
        if cpr and isinstance(rid, str) and fhir.normalise_cpr(rid) == cpr:
            problems.append(
                Problem("Patient.id", "must not be the CPR number (ids appear in URLs)")
            )
    problems.extend(_status_problems(rtype, resource))
    return _unique(problems)[:MAX_PROBLEMS_PER_RESOURCE]


def validate_serialised(payloads: list[bytes], structural: bool) -> list[list[Problem]]:
    """Validate resources given as JSON bytes (the unit of work of a worker process)."""
    return [validate_resource(orjson.loads(payload), structural=structural) for payload in payloads]


def patient_cpr(resource: dict[str, Any]) -> str | None:
    """Return the normalised CPR number of a Patient resource, or None."""
    for identifier in resource.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("system") == fhir.CPR_SYSTEM:
            value = identifier.get("value")
            if isinstance(value, str):
                cpr = fhir.normalise_cpr(value)
                if cpr:
                    return cpr
    return None


def _cpr_problems(resource: dict[str, Any]) -> list[Problem]:
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        identifiers = []
    found = False
    for index, identifier in enumerate(identifiers):
        if isinstance(identifier, dict) and identifier.get("system") == fhir.CPR_SYSTEM:
            found = True
            value = identifier.get("value")
            if not isinstance(value, str) or fhir.normalise_cpr(value) is None:
                return [
                    Problem(
                        f"Patient.identifier[{index}].value",
                        "not a valid CPR number (10 digits, DDMMYY-NNNN)",
                        "value",
                    )
                ]
    if not found:
        return [
            Problem(
                "Patient.identifier",
                f"a CPR identifier (system {fhir.CPR_SYSTEM}) is required",
                "required",
            )
        ]
    return []


def _status_problems(rtype: str, resource: dict[str, Any]) -> list[Problem]:
    problems = []
    for (owner, element), allowed in STATUS_CODES.items():
        if owner != rtype:
            continue
        value = resource.get(element)
        # Absent required elements are fhir.resources' to report; only the code is ours.
        if value is not None and (not isinstance(value, str) or value not in allowed):
            problems.append(
                Problem(f"{rtype}.{element}", "not a code of the FHIR R4 value set", "code-invalid")
            )
    if rtype in CLINICAL_STATUS:
        system, allowed, verification_system = CLINICAL_STATUS[rtype]
        if (verification_system, "entered-in-error") in fhir.codings(
            resource.get("verificationStatus")
        ):
            return problems
        codes = {
            code for sys, code in fhir.codings(resource.get("clinicalStatus")) if sys == system
        }
        if "clinicalStatus" not in resource:
            problems.append(
                Problem(
                    f"{rtype}.clinicalStatus",
                    "field required (the chart lists active and resolved entries by it)",
                    "required",
                )
            )
        elif not codes & allowed:
            problems.append(
                Problem(
                    f"{rtype}.clinicalStatus",
                    f"needs a coding in {system} with a code of the FHIR R4 value set",
                    "code-invalid",
                )
            )
    return problems


def _model_problems(model: type[Any], rtype: str, resource: dict[str, Any]) -> list[Problem]:
    from pydantic import ValidationError

    try:
        model.model_validate(_with_known_elements(model, resource))
    except ValidationError as exc:
        return [_problem_from_pydantic(rtype, error) for error in exc.errors()]
    except (ValueError, TypeError, RecursionError):
        # fhir.resources raises plain errors for some shapes pydantic would not reach.
        return [Problem(rtype, "not a valid FHIR R4 resource", "structure")]
    return []


# --- memoised elements -------------------------------------------------------------------------
# Validating a resource validates each complex element (CodeableConcept, Reference, Quantity…)
# as a model of its own, and most of them repeat: the same lab code, category, patient
# reference, performer and reference range appear in thousands of resources. A valid element
# is validated once per process and then passed to the resource's model as the instance it
# became, which pydantic accepts without validating it again. Invalid elements are never
# memoised: they stay dicts, so errors keep their full path. On the synthetic record this
# takes ~380 µs a resource down to ~150-240 µs.
_MEMO_LIMIT = 10_000  # ~25 MB at most: keys of a few hundred bytes, models of a few KB
_memo: dict[tuple[type[Any], bytes], Any] = {}
_NOT_MEMOISED = frozenset({"contained"})  # Resource-typed: the model depends on resourceType


_ELEMENTS: dict[type[Any], dict[str, tuple[type[Any], bool]]] = {}


def _element_models(model: type[Any]) -> dict[str, tuple[type[Any], bool]]:
    """Return, per JSON element name of a model, its element model and whether it repeats."""
    known = _ELEMENTS.get(model)
    if known is not None:
        return known
    elements: dict[str, tuple[type[Any], bool]] = {}
    for name, info in model.model_fields.items():
        element_type, repeats = _unwrap(info.annotation)
        alias = info.alias or name
        if alias not in _NOT_MEMOISED and hasattr(element_type, "get_model_klass"):
            elements[alias] = (element_type.get_model_klass(), repeats)
    _ELEMENTS[model] = elements
    return elements


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
        return None, False
    if origin is list:
        element_type, _ = _unwrap(typing.get_args(annotation)[0])
        return element_type, True
    return annotation, False


def _with_known_elements(model: type[Any], resource: dict[str, Any]) -> dict[str, Any]:
    """Return the resource with its already-validated elements replaced by their models."""
    elements = _element_models(model)
    prepared = dict(resource)
    for name, value in resource.items():
        spec = elements.get(name)
        if spec is None:
            continue
        element_model, repeats = spec
        if repeats and isinstance(value, list):
            prepared[name] = [_known(element_model, item) for item in value]
        elif not repeats and isinstance(value, dict):
            prepared[name] = _known(element_model, value)
    return prepared


def _known(element_model: type[Any], value: Any) -> Any:
    from pydantic import ValidationError

    if not isinstance(value, dict):
        return value
    try:
        key = (element_model, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    except (orjson.JSONEncodeError, TypeError):
        return value
    instance = _memo.get(key)
    if instance is None:
        try:
            instance = element_model.model_validate(value)
        except (ValidationError, ValueError, TypeError, RecursionError):
            return value  # validated again in place, where its error gets its full path
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[key] = instance
    return instance


def _problem_from_pydantic(rtype: str, error: Any) -> Problem:
    path = fhir_path(rtype, error.get("loc", ()))
    kind = str(error.get("type", ""))
    if kind in _PROBLEM_WORDING:
        wording = _PROBLEM_WORDING[kind]
    else:
        wording = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        wording = _without_value(wording, error.get("input"))
        spec = _SPEC_REGEX.match(wording)
        if spec:
            wording = f"not a valid FHIR {spec.group(1)[0].lower()}{spec.group(1)[1:]}"
    if kind.endswith("missing"):
        code = "required"
    elif kind == "extra_forbidden":
        code = "structure"
    else:
        code = "value"
    return Problem(path, wording.rstrip("."), code)


def fhir_path(rtype: str, loc: Any) -> str:
    """Return a FHIRPath-like location (``Observation.code.coding[0].code``) for a loc tuple."""
    path = rtype
    for part in loc or ():
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part and part != "resource_type":
            # pydantic names wrapped validators ('function-after[…]'); they are not elements.
            if "[" in part or " " in part:
                continue
            path += f".{part}"
    return path


def _without_value(message: str, value: Any) -> str:
    # fhir.resources' messages name fields, not values, but never trust a message to stay so.
    message = message.replace("\n", " ")
    if isinstance(value, str) and len(value) >= 3:
        message = message.replace(value, "…")
    return " ".join(message.split())[:200]


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    out = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out
