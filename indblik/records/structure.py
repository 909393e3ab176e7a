"""The structural check of FHIR R4 JSON, compiled from the fhir.resources model definitions.

fhir.resources validates a resource by building a tree of pydantic models (~320 µs a resource
on the synthetic record). This module reads the same definitions once — each type's elements
and their JSON names, cardinality, required elements, primitive types, choice types
(``value[x]``), primitive extensions (``_status``) and resource-typed elements (``contained``)
— into small lookup tables, and checks a resource's JSON dicts against them directly, building
nothing: about ten times faster, with fhir.resources as the one source of truth.

What it checks, per element (``check`` returns the first problem):

- the resource type exists (``Bundle`` aside, see validation.py), every element name is one of
  the type's JSON element names (``_name`` for a primitive's extensions), contained resources
  by their own type;
- cardinality: a repeating element is a non-empty array, a single one is not an array;
- required elements (a required primitive may be absent when its ``_element`` has an extension);
- at most one element of a choice group (``valueQuantity`` or ``valueString``…), and one when
  the group is required;
- primitive types and formats: string (non-empty), code, id (1-64 characters), uri/url/canonical
  (no whitespace), oid, uuid, markdown, xhtml, base64Binary, boolean, integer/unsignedInt/
  positiveInt (32-bit), decimal, date, dateTime, instant (calendar dates), time.

Where it is *stricter* than fhir.resources it follows FHIR's JSON format
(https://hl7.org/fhir/R4/json.html): ``null`` is not a value (except as a placeholder in a
primitive array beside its ``_element`` array), arrays are never empty, numbers are JSON numbers
(not strings), booleans are not numbers, every id has at most 64 characters, uri/url/canonical
contain no whitespace, base64 is base64 and element names are FHIR's JSON names (fhir.resources
also takes its Python names such as ``status__ext``). Neither checks FHIRPath invariants
(e.g. ``dom-2``: no contained resource inside a contained resource), terminology bindings or
profiles; validation.py adds the bindings the chart depends on.
"""

from __future__ import annotations

import calendar
import contextlib
import gc
import hashlib
import os
import re
import threading
import types as pytypes
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# --- primitives ----------------------------------------------------------------------------------
# FHIR R4's regular expressions (https://hl7.org/fhir/R4/datatypes.html) as fhir_core has them.
_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|"
    r"3[0-1]))?)?"
)
_DATE_TIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|"
    r"3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|([+\-])((0[0-9]|"
    r"1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)
_INSTANT = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|"
    r"3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|([+\-])((0[0-9]|"
    r"1[0-3]):[0-5][0-9]|14:00))"
)
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_STRING = re.compile(r"[ \r\n\t\S]+")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_URI = re.compile(r"\S+")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BASE64 = re.compile(r"(\s*[0-9a-zA-Z+/=]{4}\s*)+")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

FORMAT = "value does not have the format FHIR requires"


class Invalid(Exception):
    """A problem found at ``path`` (element names and indexes, innermost last)."""

    def __init__(self, problem: str, code: str = "value") -> None:
        super().__init__(problem)
        self.problem = problem
        self.code = code
        self.path: list[str | int] = []  # filled in reverse while unwinding


def _days_exist(value: str) -> bool:
    """Return True unless a full date names a day its month does not have (30 February)."""
    if len(value) < 10:
        return True
    day = int(value[8:10])
    return day <= 28 or day <= calendar.monthrange(int(value[0:4]), int(value[5:7]))[1]


def _pattern(regex: re.Pattern[str], wording: str = FORMAT) -> Callable[[Any], None]:
    fullmatch = regex.fullmatch

    def check(value: Any) -> None:
        if type(value) is not str:
            raise Invalid("must be a string")
        if fullmatch(value) is None:
            raise Invalid(wording)

    return check


def _dated(regex: re.Pattern[str], name: str) -> Callable[[Any], None]:
    fullmatch = regex.fullmatch
    wording = f"not a valid FHIR {name}"

    def check(value: Any) -> None:
        if type(value) is not str:
            raise Invalid("must be a string")
        if fullmatch(value) is None or not _days_exist(value):
            raise Invalid(wording)

    return check


def _boolean(value: Any) -> None:
    if type(value) is not bool:
        raise Invalid("must be true or false")


def _integer(minimum: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if type(value) is not int:
            # 2.0 is the integer 2 in JSON; booleans and strings are not integers.
            if type(value) is float and value.is_integer():
                value = int(value)
            else:
                raise Invalid("must be an integer")
        if not minimum <= value <= _INT_MAX:
            raise Invalid(f"must be an integer from {minimum} to {_INT_MAX}")

    return check


def _decimal(value: Any) -> None:
    kind = type(value)
    if kind is not int and kind is not float:
        raise Invalid("must be a number")
    if kind is float and _DECIMAL.fullmatch(repr(value)) is None:
        raise Invalid("not a valid FHIR decimal")


def _xhtml(value: Any) -> None:
    if type(value) is not str:
        raise Invalid("must be a string")
    if not value:
        raise Invalid("must not be empty")


PRIMITIVES: dict[str, Callable[[Any], None]] = {
    "boolean": _boolean,
    "string": _pattern(_STRING, "must not be empty"),
    "markdown": _pattern(_STRING, "must not be empty"),
    "xhtml": _xhtml,
    "code": _pattern(_CODE),
    "id": _pattern(_ID, "must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'"),
    "uri": _pattern(_URI, "must be a URI without whitespace"),
    "url": _pattern(_URI, "must be a URL without whitespace"),
    "canonical": _pattern(_URI, "must be a URI without whitespace"),
    "oid": _pattern(_OID, "not a valid FHIR oid"),
    "uuid": _pattern(_UUID, "not a valid FHIR uuid"),
    "base64Binary": _pattern(_BASE64, "not valid base64"),
    "decimal": _decimal,
    "integer": _integer(_INT_MIN),
    "unsignedInt": _integer(0),
    "positiveInt": _integer(1),
    "date": _dated(_DATE, "date"),
    "dateTime": _dated(_DATE_TIME, "dateTime"),
    "instant": _dated(_INSTANT, "instant"),
    "time": _pattern(_TIME, "not a valid FHIR time"),
}
_PRIMITIVE_NAMES = {name.lower(): name for name in PRIMITIVES}


def _fhir_comments(value: Any) -> None:
    # fhir.resources takes this non-standard element (comments of the old JSON format).
    if type(value) is str:
        return
    if type(value) is list and value and all(type(item) is str for item in value):
        return
    raise Invalid("must be a string or an array of strings")


# --- the tables ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Element:
    kind: str  # a primitive's name, "type", "resource" (of any type) or "fhir_comments"
    type: _Type | None  # a complex element's type
    repeats: bool
    nullable: bool  # items may be null (primitive arrays and their _element arrays)
    group: int  # choice group (0: none)
    check: Callable[[Any], None] | None = None  # a primitive's check


@dataclass(slots=True)
class _Type:
    name: str
    elements: dict[str, _Element] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    required_primitives: tuple[str, ...] = ()  # the value, or _name with an extension
    required_groups: tuple[tuple[int, tuple[str, ...]], ...] = ()
    primitive_extension: bool = False  # FHIRPrimitiveExtension: needs id or extension
    resource_type: str | None = None


_lock = threading.Lock()
_tables: dict[str, _Type] | None = None  # resource type -> table


def resource_table(resource_type: str) -> _Type | None:
    """Return the table of a resource type, or None when FHIR R4 has no such resource."""
    tables = _tables if _tables is not None else load()
    return tables.get(resource_type)


def resource_types() -> frozenset[str]:
    """Return the names of the FHIR R4 resource types (as fhir.resources R4B has them)."""
    tables = _tables if _tables is not None else load()
    return frozenset(tables)


def load() -> dict[str, _Type]:
    """Load the tables: from the cache file, else from the models (and write the cache).

    Reading the models means importing every fhir.resources model (~3 s); the cache file
    (~200 KB of JSON, keyed by the fhir.resources version and this module's source) takes a
    few milliseconds, so processes that never see an invalid resource never import a model.
    """
    global _tables
    with _lock:
        if _tables is None:
            path = cache_path()
            data = None
            if path is not None and path.exists():
                with contextlib.suppress(OSError, ValueError):
                    data = orjson.loads(path.read_bytes())
            if data is None:
                data = generate()
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.parent.mkdir(parents=True, exist_ok=True)
                        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                        temporary.write_bytes(orjson.dumps(data))
                        temporary.replace(path)  # atomic: a concurrent reader never sees half
                        for stale in path.parent.glob("fhir-r4b-structure-*.json"):
                            if stale != path:  # another fhir.resources version or checker
                                stale.unlink(missing_ok=True)
            _tables = _build(data)
        return _tables


def start_worker() -> None:
    """Load the tables in a validation worker process, before its first task.

    The worker imports nothing else of the project (no Django): this function lives here.
    """
    load()
    # The tables are permanent: cyclic garbage collections need not scan them again.
    gc.freeze()


def cache_path() -> Path | None:
    """Return the cache file of the tables ($XDG_CACHE_HOME/indblik or ~/.cache/indblik)."""
    from fhir.resources import __version__ as fhir_resources_version

    base = os.environ.get("XDG_CACHE_HOME")
    try:
        directory = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:  # no home directory
        return None
    key = hashlib.sha256(Path(__file__).read_bytes() + fhir_resources_version.encode())
    return directory / "indblik" / f"fhir-r4b-structure-{key.hexdigest()[:16]}.json"


def generate() -> dict[str, Any]:
    """Read the tables of every resource type from the fhir.resources R4B models (as data)."""
    from fhir.resources.R4B import fhirtypes, get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    models: dict[str, type[Any]] = {}
    for name in dir(fhirtypes):
        if not name.endswith("Type") or not hasattr(getattr(fhirtypes, name), "get_model_klass"):
            continue
        try:
            model = get_fhir_model_class(name[: -len("Type")])
        except (ValueError, ImportError):
            continue
        if isinstance(model, type) and issubclass(model, Resource):
            models[name[: -len("Type")]] = model
    types: dict[str, dict[str, Any]] = {}
    for model in models.values():
        _describe(model, types)
    return {"resources": {name: model.__name__ for name, model in models.items()}, "types": types}


def _describe(model: type[Any], types: dict[str, dict[str, Any]]) -> str:
    """Describe a model (and, recursively, its element types) into ``types``; return its key."""
    from fhir_core.types import FhirElementOrResourceBase

    key = model.__name__
    if key in types:
        return key
    described: dict[str, Any] = {"elements": {}, "required": [], "required_primitives": []}
    types[key] = described  # before the fields: Extension and Identifier refer to themselves
    groups: dict[str, int] = {}
    required_groups: dict[int, list[str]] = {}
    if model.has_resource_base():
        described["resource_type"] = model.get_resource_type()
    for field_name, info in model.model_fields.items():
        alias = info.alias or field_name
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if alias == "fhir_comments":
            described["elements"][alias] = ["fhir_comments", None, False, False, 0]
            continue
        annotation, repeats, nullable = _unwrap(info.annotation)
        group = 0
        if extra.get("one_of_many"):
            group = groups.setdefault(extra["one_of_many"], len(groups) + 1)
            if extra.get("one_of_many_required") is True:
                required_groups.setdefault(group, []).append(alias)
        primitive = _primitive(annotation)
        if primitive is not None:
            element = [primitive, None, repeats, repeats and nullable, group]
        elif isinstance(annotation, type) and issubclass(annotation, FhirElementOrResourceBase):
            element = ["resource", None, repeats, False, group]
        elif hasattr(annotation, "get_model_klass"):
            inner = annotation.get_model_klass()
            # _element arrays line up with their primitive array: null keeps a place.
            nullable = repeats and nullable and inner.__name__ == "FHIRPrimitiveExtension"
            element = ["type", _describe(inner, types), repeats, nullable, group]
        else:
            raise TypeError(f"{model.__name__}.{alias}: unsupported annotation {annotation!r}")
        described["elements"][alias] = element
        if info.is_required():
            described["required"].append(alias)
        if extra.get("element_required"):
            described["required_primitives"].append(alias)
    described["required_groups"] = sorted(required_groups.items())
    return key


def _build(data: dict[str, Any]) -> dict[str, _Type]:
    types = {key: _Type(key) for key in data["types"]}
    for key, described in data["types"].items():
        table = types[key]
        table.resource_type = described.get("resource_type")
        table.required = tuple(described["required"])
        table.required_primitives = tuple(described["required_primitives"])
        table.required_groups = tuple(
            (group, tuple(names)) for group, names in described["required_groups"]
        )
        table.primitive_extension = key == "FHIRPrimitiveExtension"
        for alias, (kind, type_key, repeats, nullable, group) in described["elements"].items():
            table.elements[alias] = _Element(
                kind,
                types[type_key] if type_key else None,
                repeats,
                nullable,
                group,
                PRIMITIVES.get(kind) or (_fhir_comments if kind == "fhir_comments" else None),
            )
    return {name: types[key] for name, key in data["resources"].items()}


def _unwrap(annotation: Any) -> tuple[Any, bool, bool]:
    """Return (element annotation, repeats, items nullable) of a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is pytypes.UnionType:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
        return members, False, False
    if origin is list:
        item = typing.get_args(annotation)[0]
        nullable = type(None) in typing.get_args(item)
        inner, _, _ = _unwrap(item)
        return inner, True, nullable
    return annotation, False, False


def _primitive(annotation: Any) -> str | None:
    if annotation is bool:
        return "boolean"
    if typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        if args[0] is uuid.UUID:
            return "uuid"
        for meta in args[1:]:
            name = getattr(meta, "__visit_name__", None) or type(meta).__name__
            found = _PRIMITIVE_NAMES.get(str(name).lower())
            if found:
                return found
    return None


# --- checking ------------------------------------------------------------------------------------


def check(resource: dict[str, Any]) -> Invalid | None:
    """Return the first structural problem of a resource (its ``path`` from the resource down).

    The resource type must already be known to exist (``resource_table`` is not None).
    """
    table = resource_table(resource["resourceType"])
    assert table is not None
    try:
        _object(table, resource)
    except Invalid as problem:
        problem.path.reverse()
        return problem
    except RecursionError:
        # Nesting is limited long before this (INDBLIK_INGEST_MAX_DEPTH); never crash on it.
        return Invalid("nested too deeply", "structure")
    return None


def _object(table: _Type, value: Any) -> None:
    if type(value) is not dict:
        raise Invalid("must be an object")
    elements = table.elements
    seen = 0  # bit set of the choice groups met
    for key, item in value.items():
        element = elements.get(key)
        if element is None:
            if key == "resourceType" and table.resource_type is not None:
                if item != table.resource_type:
                    raise _at(key, Invalid("resource type does not match"))
                continue
            raise _at(
                key,
                Invalid("unknown element (not part of this resource type in FHIR R4)", "structure"),
            )
        if element.group:
            bit = 1 << element.group
            if seen & bit:
                raise _at(key, Invalid("only one element of a choice ([x]) may be given"))
            seen |= bit
        try:
            if element.repeats:
                if type(item) is not list:
                    raise Invalid("must be an array")
                if not item:
                    raise Invalid("must not be empty")
                for index, each in enumerate(item):
                    try:
                        _value(element, each)
                    except Invalid as problem:
                        problem.path.append(index)
                        raise
            else:
                _value(element, item)
        except Invalid as problem:
            problem.path.append(key)
            raise
    for name in table.required:
        if name not in value:
            raise _at(name, Invalid("field required", "required"))
    for name in table.required_primitives:
        if name not in value:
            extension = value.get(f"_{name}")
            if not (type(extension) is dict and extension.get("extension")):
                raise _at(name, Invalid("field required", "required"))
    for group, names in table.required_groups:
        if not seen & (1 << group):
            raise _at(names[0], Invalid("field required (one of its [x] types)", "required"))
    if table.primitive_extension and "id" not in value and "extension" not in value:
        raise Invalid("needs an id or an extension", "required")


def _value(element: _Element, value: Any) -> None:
    if value is None:
        if element.nullable:
            return
        raise Invalid("must not be null")
    if element.check is not None:
        element.check(value)
    elif element.type is not None:
        _object(element.type, value)
    else:
        _resource(value)


def _resource(value: Any) -> None:
    if type(value) is not dict:
        raise Invalid("must be a FHIR resource (a JSON object)")
    rtype = value.get("resourceType")
    table = resource_table(rtype) if type(rtype) is str else None
    if table is None:
        raise _at("resourceType", Invalid("not a FHIR R4 resource type", "not-supported"))
    _object(table, value)


def _at(key: str | int, problem: Invalid) -> Invalid:
    problem.path.append(key)
    return problem
