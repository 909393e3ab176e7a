"""The FHIR search parameters Indblik uses, in one place: its own read API answers them and its
live FHIR source asks them.

For every resource type the chart reads: how a search names the patient, which date parameter
orders and bounds it (the resource's clinically relevant date, :data:`fhir.DATE_PATHS`), which
token parameters narrow it, and which ``_include`` s are worth asking for. Indblik's API maps
every date parameter to the stored clinical date and every token parameter to a stored column
(the *first* category, the *first* code or type, the status), and says so in its
CapabilityStatement. Every token parameter is one FHIR R4 defines for the type, and its column
is derived from the element R4's definition reads (:func:`token_element`; the status column's
element is :data:`fhir.STATUS_PATHS`). A live source always re-checks locally what it asked the
server to filter, so a server that knows a parameter slightly differently cannot put a wrong
resource on a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from indblik.records import fhir

Column = Literal["category", "code", "status"]


@dataclass(frozen=True)
class TypeSearch:
    """The search parameters of one resource type."""

    patient: tuple[str, ...] = ("patient", "subject")  # reference parameters naming the patient
    date: str | None = "date"  # the parameter for the clinical date (``_sort`` and bounds)
    tokens: MappingProxyType[str, Column] = field(
        default_factory=lambda: MappingProxyType({"status": "status"})
    )
    includes: tuple[str, ...] = ()  # ``Type:param`` values of ``_include``

    @property
    def sort_values(self) -> tuple[str, ...]:
        return (self.date, f"-{self.date}") if self.date else ()


def _tokens(**columns: Column) -> MappingProxyType[str, Column]:
    return MappingProxyType({name.replace("_", "-"): column for name, column in columns.items()})


_STATUS = _tokens(status="status")
_CATEGORISED = _tokens(status="status", category="category", code="code")

SEARCHES: MappingProxyType[str, TypeSearch] = MappingProxyType(
    {
        "Encounter": TypeSearch(tokens=_tokens(status="status", type="code")),
        "Observation": TypeSearch(tokens=_CATEGORISED),
        "DiagnosticReport": TypeSearch(tokens=_CATEGORISED, includes=("DiagnosticReport:result",)),
        "Procedure": TypeSearch(tokens=_CATEGORISED),
        "ServiceRequest": TypeSearch(date="authored", tokens=_CATEGORISED),
        "Condition": TypeSearch(
            date="onset-date",
            tokens=_tokens(clinical_status="status", category="category", code="code"),
        ),
        "DocumentReference": TypeSearch(
            tokens=_tokens(status="status", category="category", type="code")
        ),
        "Composition": TypeSearch(
            tokens=_tokens(status="status", category="category", type="code")
        ),
        "Appointment": TypeSearch(patient=("patient",)),
        "CarePlan": TypeSearch(tokens=_tokens(status="status", category="category")),
        "Goal": TypeSearch(date="start-date", tokens=_tokens(lifecycle_status="status")),
        "EpisodeOfCare": TypeSearch(
            patient=("patient",), tokens=_tokens(status="status", type="code")
        ),
        "DeviceUseStatement": TypeSearch(
            date=None, tokens=MappingProxyType({}), includes=("DeviceUseStatement:device",)
        ),
        "Device": TypeSearch(patient=("patient",), date=None, tokens=_STATUS),
        "Communication": TypeSearch(
            date="sent", tokens=_tokens(status="status", category="category")
        ),
        "QuestionnaireResponse": TypeSearch(date="authored", tokens=_STATUS),
        "Flag": TypeSearch(tokens=_STATUS),
        "AllergyIntolerance": TypeSearch(
            patient=("patient",),
            tokens=_tokens(clinical_status="status", category="category", code="code"),
        ),
        "Consent": TypeSearch(
            patient=("patient",), tokens=_tokens(status="status", category="category")
        ),
        "FamilyMemberHistory": TypeSearch(patient=("patient",), tokens=_STATUS),
        # R4 Media has no category element (nor a category parameter): it is classified by type.
        "Media": TypeSearch(date="created", tokens=_tokens(status="status", type="code")),
        "ImagingStudy": TypeSearch(date="started", tokens=_STATUS),
        "RelatedPerson": TypeSearch(patient=("patient",), date=None, tokens=MappingProxyType({})),
    }
)


def token_element(resource_type: str, name: str) -> str:
    """Return the element a token parameter of a type searches (its first value, if repeated).

    A ``category``, ``code`` or ``type`` parameter searches the element of its name (the
    ``code`` column holds a type's ``type`` where it has no ``code``); a status parameter the
    element :data:`fhir.STATUS_PATHS` names for the type, else ``status``.
    """
    column = SEARCHES[resource_type].tokens[name]
    if column == "status":
        return fhir.STATUS_PATHS.get(resource_type, "status")
    return name


# Types without a patient: read by id, searched by ``_id`` only (the store's own list).
SHARED_TYPES: tuple[str, ...] = tuple(sorted(fhir.NON_PATIENT_TYPES))

# Where an ``_include`` points: ``Type:param`` → the JSON element holding the reference(s).
INCLUDE_PATHS: MappingProxyType[str, str] = MappingProxyType(
    {
        "DiagnosticReport:result": "result",
        "DeviceUseStatement:device": "device",
    }
)

# The type each ``_include`` / ``_revinclude`` brings: a client may ask only for what its token
# may read (the API refuses the rest rather than leave it out unsaid).
INCLUDED_TYPES: MappingProxyType[str, str] = MappingProxyType(
    {
        "DiagnosticReport:result": "Observation",
        "DeviceUseStatement:device": "Device",
        "Consent:patient": "Consent",
    }
)

# What a Patient search may ``_revinclude``: the citizen's consents come with the citizen, so
# the access policy's check of blocks costs no round trip of its own.
PATIENT_REVINCLUDES: tuple[str, ...] = ("Consent:patient",)

# Parameters every search of a patient-linked type accepts, besides those above.
COMMON = ("_id", "_count", "_sort", "_include")
MAX_COUNT = 200  # the largest page a search returns
DEFAULT_COUNT = 50
CPR_IDENTIFIER = "urn:oid:1.2.208.176.1.2"  # Patient?identifier=<this>|<CPR>
