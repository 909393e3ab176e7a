"""OIOSAML 3 attributes of a verified assertion, and the OIO-BPP privileges inside them.

The functions here see only an assertion whose signature, audience, times and recipient have
already been checked (see :mod:`indblik.identity.acceptance`); they decide what the assertion
*says*: who the person is, for which organisation, at which level of assurance and with which
roles. Anything malformed raises :class:`AttributeProblem` with a short reason code; the ACS
turns it into a refusal page.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET
from django.conf import settings
from saml2.saml import NAME_FORMAT_UNSPECIFIED, NAME_FORMAT_URI

from indblik.identity.acceptance import Refusal

PERSISTENT_ID = "https://data.gov.dk/model/core/eid/professional/uuid/persistent"
FULL_NAME = "https://data.gov.dk/model/core/eid/fullName"
EMAIL = "https://data.gov.dk/model/core/eid/email"
CVR = "https://data.gov.dk/model/core/eid/professional/cvr"
ORGANISATION_NAME = "https://data.gov.dk/model/core/eid/professional/orgName"
LOA = "https://data.gov.dk/concept/core/nsis/loa"
PRIVILEGES = "https://data.gov.dk/model/core/eid/privilegesIntermediate"
CPR = "https://data.gov.dk/model/core/eid/cprNumber"
SPEC_VERSION = "https://data.gov.dk/model/core/specVersion"
DEFAULT_AUTHORISATION = "https://data.gov.dk/model/core/eid/professional/authorisationCode"
ALL_NAMES = (
    PERSISTENT_ID,
    FULL_NAME,
    EMAIL,
    CVR,
    ORGANISATION_NAME,
    LOA,
    PRIVILEGES,
    CPR,
    SPEC_VERSION,
    DEFAULT_AUTHORISATION,
)

LOA_PREFIX = "https://data.gov.dk/concept/core/nsis/loa/"
LOA_ORDER = {"Low": 1, "Substantial": 2, "High": 3}
ACCEPTED_LOA = ("Substantial", "High")

BPP_NAMESPACES = (
    "http://digst.dk/oiosaml/basic_privilege_profile",
    "http://itst.dk/oiosaml/basic_privilege_profile",
)
CVR_SCOPE = "urn:dk:gov:saml:cvrNumberIdentifier:"
PRIVILEGES_MAX_BYTES = 64 * 1024
MAX_PRIVILEGES = 500
MAX_VALUE_LENGTH = 1000

_CVR = re.compile(r"[1-9][0-9]{7}")
_CPR = re.compile(r"[0-9]{10}")
_AUTHORISATION = re.compile(r"[A-Za-z0-9]{1,16}")


class AttributeProblem(Refusal):
    """The assertion's attributes cannot be used; ``reason`` is the audited code."""


@dataclass(frozen=True)
class BrokerIdentity:
    """Who an accepted assertion says the person is (professional or citizen)."""

    kind: str
    persistent_id: str
    name_id: str
    full_name: str
    loa: str
    email: str = ""
    cvr: str = ""
    organisation_name: str = ""
    authorisation_id: str = ""
    cpr: str = ""
    privileges: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))

    def roles_for(self, cvr: str) -> frozenset[str]:
        """Return the privileges asserted in the scope of ``cvr`` (and no other CVR)."""
        return self.privileges.get(cvr, frozenset())


def attribute_values(assertion: Any) -> dict[str, list[str]]:
    """Return ``{attribute name: [values]}`` from the assertion's attribute statements.

    Read from the verified assertion object itself, not from pysaml2's converted "ava", so
    no attribute map can rename or merge anything. An attribute in another name format, or
    one that appears twice, makes the assertion ambiguous and is refused.
    """
    values: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        if statement.encrypted_attribute:
            raise AttributeProblem("attributes", "encrypted attributes are not supported")
        for attribute in statement.attribute or []:
            name = attribute.name or ""
            if attribute.name_format not in (None, NAME_FORMAT_URI, NAME_FORMAT_UNSPECIFIED):
                raise AttributeProblem("attributes", f"unexpected NameFormat for {name[:80]}")
            if name in values:
                raise AttributeProblem("attributes", f"attribute {name[:80]} appears twice")
            texts = []
            for value in attribute.attribute_value or []:
                text = (value.text or "").strip()
                if len(text) > PRIVILEGES_MAX_BYTES * 2:
                    raise AttributeProblem("attributes", f"value of {name[:80]} is too long")
                texts.append(text)
            values[name] = texts
    return values


def identity_from(values: Mapping[str, list[str]], *, name_id: str) -> BrokerIdentity:
    """Return the person described by the attribute values, or raise AttributeProblem.

    The level of assurance is checked first: nothing else about a weakly authenticated
    person matters. A professional is recognised by the CVR attribute, a citizen by the CPR
    attribute (only when citizen sign-in is enabled).
    """
    loa = _level_of_assurance(values)
    full_name = _single(values, FULL_NAME, required=True, max_length=200)
    if CVR in values:
        cvr = _single(values, CVR, required=True)
        if not _CVR.fullmatch(cvr):
            raise AttributeProblem("attributes", "the CVR attribute is not a CVR number")
        persistent_id = _single(values, PERSISTENT_ID, required=True, max_length=255)
        authorisation = _single(
            values, settings.INDBLIK_SAML_AUTHORISATION_ATTRIBUTE, required=False
        )
        if authorisation and not _AUTHORISATION.fullmatch(authorisation):
            raise AttributeProblem("attributes", "the authorisation id is not 1-16 letters/digits")
        privileges_value = _single(values, PRIVILEGES, required=False, max_length=None)
        privileges = parse_privileges(privileges_value) if privileges_value else {}
        return BrokerIdentity(
            kind="professional",
            persistent_id=persistent_id,
            name_id=name_id,
            full_name=full_name,
            loa=loa,
            email=_email(values),
            cvr=cvr,
            organisation_name=_single(values, ORGANISATION_NAME, required=False, max_length=200),
            authorisation_id=authorisation,
            privileges=MappingProxyType(privileges),
        )
    if CPR in values and settings.INDBLIK_SAML_CITIZEN_LOGIN:
        cpr = _single(values, CPR, required=True)
        if not _CPR.fullmatch(cpr):
            raise AttributeProblem("attributes", "the CPR attribute is not ten digits")
        if not name_id or len(name_id) > 255:
            raise AttributeProblem("name-id", "a citizen needs a persistent NameID")
        return BrokerIdentity(
            kind="citizen",
            persistent_id=name_id,
            name_id=name_id,
            full_name=full_name,
            loa=loa,
            email=_email(values),
            cpr=cpr,
        )
    raise AttributeProblem("attributes", "neither a professional CVR nor a citizen CPR")


def parse_privileges(encoded: str) -> dict[str, frozenset[str]]:
    """Return ``{CVR: {privilege, …}}`` from a base64 OIO-BPP ``PrivilegeList``.

    Parsed with defusedxml (no DTD, no entities). Both the digst.dk and the older itst.dk
    namespaces are accepted, with the children unqualified (as the profile's examples write
    them) or in the same namespace. Groups scoped to anything but a CVR number (production
    units, SE numbers) are ignored; a group without a scope, an empty privilege or anything
    unparsable raises AttributeProblem("privileges").
    """
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        raise AttributeProblem("privileges", "not base64") from None
    if len(raw) > PRIVILEGES_MAX_BYTES:
        raise AttributeProblem("privileges", "too large")
    try:
        root = DefusedET.fromstring(raw, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise AttributeProblem("privileges", "not well-formed XML") from None
    namespace = _namespace(root)
    if namespace not in BPP_NAMESPACES or _local(root) != "PrivilegeList":
        raise AttributeProblem("privileges", "not an OIO-BPP PrivilegeList")
    result: dict[str, set[str]] = {}
    count = 0
    for group in root:
        if _local(group) != "PrivilegeGroup" or _namespace(group) not in ("", namespace):
            raise AttributeProblem("privileges", "unexpected element in PrivilegeList")
        scope = (group.get("Scope") or "").strip()
        if not scope:
            raise AttributeProblem("privileges", "a PrivilegeGroup has no Scope")
        privileges = list(_privileges(group, namespace))
        count += len(privileges)
        if count > MAX_PRIVILEGES:
            raise AttributeProblem("privileges", "too many privileges")
        if not scope.startswith(CVR_SCOPE):
            continue
        cvr = scope[len(CVR_SCOPE) :]
        if not _CVR.fullmatch(cvr):
            raise AttributeProblem("privileges", "a CVR scope is not a CVR number")
        result.setdefault(cvr, set()).update(privileges)
    return {cvr: frozenset(values) for cvr, values in result.items()}


def _privileges(group: Element, namespace: str) -> Iterable[str]:
    for child in group:
        if _namespace(child) not in ("", namespace):
            raise AttributeProblem("privileges", "unexpected element in PrivilegeGroup")
        if _local(child) == "Constraint":
            # Data constraints (e.g. KLE areas) narrow a privilege; Indblik uses none.
            continue
        if _local(child) != "Privilege":
            raise AttributeProblem("privileges", "unexpected element in PrivilegeGroup")
        text = (child.text or "").strip()
        if not text or len(text) > MAX_VALUE_LENGTH or len(child):
            raise AttributeProblem("privileges", "an empty or malformed Privilege")
        yield text


def encode_privileges(
    scoped: Mapping[str, Iterable[str]],
    *,
    namespace: str = BPP_NAMESPACES[0],
) -> str:
    """Return the base64 OIO-BPP attribute value for ``{CVR: privileges}`` (demo IdP, tests)."""
    groups = []
    for cvr, privileges in scoped.items():
        items = "".join(f"<Privilege>{_escape(p)}</Privilege>" for p in privileges)
        groups.append(f'<PrivilegeGroup Scope="{CVR_SCOPE}{_escape(cvr)}">{items}</PrivilegeGroup>')
    xml = f'<bpp:PrivilegeList xmlns:bpp="{namespace}">{"".join(groups)}</bpp:PrivilegeList>'
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


def _level_of_assurance(values: Mapping[str, list[str]]) -> str:
    value = _single(values, LOA, required=False)
    if not value:
        raise AttributeProblem("loa", "no level of assurance")
    level = value.removeprefix(LOA_PREFIX)
    if level not in LOA_ORDER:
        raise AttributeProblem("loa", "unknown level of assurance")
    if level not in ACCEPTED_LOA:
        raise AttributeProblem("loa", f"level of assurance {level} is too low")
    return level


def _single(
    values: Mapping[str, list[str]], name: str, *, required: bool, max_length: int | None = 255
) -> str:
    found = values.get(name)
    if not found:
        if required:
            raise AttributeProblem("attributes", f"missing {name}")
        return ""
    if len(found) != 1:
        raise AttributeProblem("attributes", f"{name} must have exactly one value")
    value = found[0]
    if required and not value:
        raise AttributeProblem("attributes", f"{name} is empty")
    if max_length is not None and len(value) > max_length:
        raise AttributeProblem("attributes", f"{name} is too long")
    if not value.isprintable():
        raise AttributeProblem("attributes", f"{name} holds control characters")
    return value


def _email(values: Mapping[str, list[str]]) -> str:
    value = _single(values, EMAIL, required=False, max_length=254)
    # Informational only (nothing is sent to it): a malformed address is dropped, not refused.
    return value if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) else ""


def _namespace(element: Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _local(element: Element) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
