"""Validation of incoming FHIR R4 resources: structure, plus what the record depends on.

The structure (elements, cardinality, required elements, data types and formats, choice types,
contained resources) is checked by :mod:`indblik.records.structure`, compiled from the
fhir.resources R4B models; a resource it refuses also goes through the models themselves, whose
wording of the problems the answer keeps. Neither checks code bindings, the Danish CPR
identifier, or the status codes the chart relies on to tell an active problem from a resolved
one: those checks live here.

Everything in this module is pure (no Django, no database) so that it can run in worker
processes. Problems never quote the offending value: a value may be a CPR number or a name, and
problems end up in logs, in the ``IngestionRun`` table and in HTTP responses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from indblik.records import fhir, structure

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


def is_resource_type(value: Any) -> bool:
    """Return True when ``value`` names a FHIR R4 resource type (no model is imported)."""
    return isinstance(value, str) and structure.resource_table(value) is not None


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


def is_valid_id(value: Any) -> bool:
    """Return True when ``value`` is a FHIR id (1-64 of ``A-Z a-z 0-9 - .``)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def validate_resource(resource: Any, *, structural: bool = True) -> list[Problem]:
    """Return the problems of one resource (empty when it may be stored).

    ``structural`` runs the structural check (~20-45 µs); without it only the cheap checks
    run: resource type, id, CPR identifier and status codes.
    """
    if not isinstance(resource, dict):
        return [Problem("", "must be a FHIR resource (a JSON object)", "structure")]
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return [Problem("resourceType", "field required", "required")]
    if rtype == "Bundle":
        return [Problem("Bundle", "a Bundle cannot be stored as a resource", "not-supported")]
    if structure.resource_table(rtype) is None:
        return [Problem("resourceType", "not a FHIR R4 resource type", "not-supported")]
    problems: list[Problem] = []
    rid = resource.get("id")
    if rid is not None and not is_valid_id(rid):
        problems.append(
            Problem(f"{rtype}.id", "must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'")
        )
    if structural:
        problems.extend(structural_problems(rtype, resource))
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


MODEL_CHECK_MAX_NODES = 5_000  # a refused resource with more values: no model check


def _more_nodes_than(value: Any, limit: int) -> bool:
    """Tell whether ``value`` holds more than ``limit`` JSON values (stops counting there)."""
    pending = [value]
    seen = 1
    while pending:
        item = pending.pop()
        if isinstance(item, dict | list):
            seen += len(item)
            if seen > limit:
                return True
            pending.extend(item.values() if isinstance(item, dict) else item)
    return False


def structural_problems(rtype: str, resource: dict[str, Any]) -> list[Problem]:
    """Return the structural problems of a resource of a known type (empty when it is valid).

    The compiled check (:mod:`indblik.records.structure`, ~25 µs) decides. Only a resource it
    refuses goes through the fhir.resources models as well, for their complete list of
    problems in their wording; where the models accept what the compiled check refuses (it is
    stricter on FHIR's JSON rules), its own problem is the answer.
    """
    problem = structure.check(resource)
    if problem is None:
        return []
    compiled = [Problem(fhir_path(rtype, problem.path), problem.problem, problem.code)]
    # The models build the whole object tree and every error of it: hundreds of times the
    # size of a large refused resource. Beyond MODEL_CHECK_MAX_NODES the compiled check's
    # own problem is the answer.
    if _more_nodes_than(resource, MODEL_CHECK_MAX_NODES):
        return compiled
    model = resource_class(rtype)
    found = _model_problems(model, rtype, resource) if model is not None else []
    return found or compiled


def _model_problems(model: type[Any], rtype: str, resource: dict[str, Any]) -> list[Problem]:
    from pydantic import ValidationError

    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [_problem_from_pydantic(rtype, error) for error in exc.errors()]
    except (ValueError, TypeError, KeyError, RecursionError):
        # fhir.resources raises plain errors for some shapes pydantic would not reach (a
        # contained resource of an unknown type is a KeyError): the compiled check's problem
        # is the answer then.
        return []
    return []


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
            path += f".{_element_name(part)}"
    return path


_ELEMENT_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_]{0,63}")
_DIGITS = re.compile(r"\d{6}")


def _element_name(key: str) -> str:
    """``key`` if it can be an element's name; else a placeholder. An unknown key comes from
    the payload, and a problem's text reaches the feed's answer and the run's record: a CPR
    number sent as a key must not."""
    if _ELEMENT_NAME.fullmatch(key) and not _DIGITS.search(key):
        return key
    return "<unknown element>"


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
