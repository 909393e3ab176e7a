"""The shared resources every synthetic record points at.

Organizations (hospital departments, the 98 municipalities, GP practices, the near-clinic,
the hospice, the emergency line), Practitioners with their PractitionerRoles, Locations and
Questionnaires. They do not depend on the seed: the demo organisations keep their ids and
identifiers across runs. SOR codes are invented (15 digits, stable) except where an issue
fixed one; CVR numbers are given only for the organisations whose real CVR the project uses.
"""

# ruff: noqa: RUF001 - Danish clinical text writes the en dash and the multiplication sign

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from indblik.records import fhir
from indblik.records.synth import geography, names
from indblik.records.synth.terminology import (
    ORGANISATION_KIND,
    ORGANIZATION_TYPE,
    QUESTIONNAIRE_BASE,
    Resource,
    synthetic_meta,
)

CVR_SYSTEM = fhir.CVR_SYSTEMS[0]
SOR_SYSTEM = fhir.SOR_SYSTEM


def sor_code(serial: int) -> str:
    """Return an invented, stable 15-digit SOR code shaped like the real ones."""
    return f"{serial:05d}100001600{serial % 10}"


@dataclass(frozen=True)
class Org:
    """A shared organisation, enough to build the Organization and references to it."""

    id: str
    name: str
    kind: str  # the organisation type of the organisations app, or gp/hospital/department
    sor: str
    cvr: str | None = None
    municipality_code: str | None = None
    part_of: str | None = None
    address: tuple[str, str, str] | None = None  # line, postcode, city

    def reference(self) -> dict[str, Any]:
        """Return a Reference to this organisation: literal, with its SOR identifier."""
        return {
            "reference": f"Organization/{self.id}",
            "type": "Organization",
            "identifier": {"system": SOR_SYSTEM, "value": self.sor},
            "display": self.name,
        }


# --- hospitals and departments -------------------------------------------------------------------


@dataclass(frozen=True)
class Hospital:
    """A hospital and the specialties it has departments for."""

    key: str
    name: str
    sor: str
    address: tuple[str, str, str]
    specialties: tuple[str, ...]
    clinic_word: str = "Afdeling"


HOSPITALS: dict[str, Hospital] = {
    h.key: h
    for h in (
        Hospital(
            "rh",
            "Rigshospitalet",
            sor_code(48100),
            ("Blegdamsvej 9", "2100", "København Ø"),
            (
                "kardiologi",
                "onkologi",
                "neurologi",
                "obstetrik",
                "endokrinologi",
                "lunge",
                "biokemi",
                "radiologi",
                "patologi",
            ),
            clinic_word="Klinik",
        ),
        Hospital(
            "bfh",
            "Bispebjerg og Frederiksberg Hospital",
            sor_code(48200),
            ("Bispebjerg Bakke 23", "2400", "København NV"),
            (
                "akut",
                "geriatri",
                "lunge",
                "ortopaedi",
                "kardiologi",
                "neurologi",
                "gastro",
                "endokrinologi",
                "saar",
                "biokemi",
                "radiologi",
                "patologi",
            ),
        ),
        Hospital(
            "hvh",
            "Hvidovre Hospital",
            sor_code(48300),
            ("Kettegård Allé 30", "2650", "Hvidovre"),
            (
                "akut",
                "gastro",
                "infektion",
                "ortopaedi",
                "obstetrik",
                "kardiologi",
                "lunge",
                "geriatri",
                "biokemi",
                "radiologi",
                "patologi",
            ),
        ),
        Hospital(
            "hgh",
            "Herlev og Gentofte Hospital",
            sor_code(48400),
            ("Borgmester Ib Juuls Vej 1", "2730", "Herlev"),
            (
                "akut",
                "kardiologi",
                "lunge",
                "onkologi",
                "endokrinologi",
                "gastro",
                "obstetrik",
                "geriatri",
                "biokemi",
                "radiologi",
                "patologi",
            ),
        ),
    )
}

# Department names as the hospitals write them ("{word}" is Afdeling or Klinik).
_SPECIALTY_NAMES = {
    "akut": "Akutmodtagelsen",
    "kardiologi": "Kardiologisk {word}",
    "lunge": "Lungemedicinsk {word}",
    "geriatri": "Geriatrisk {word}",
    "ortopaedi": "Ortopædkirurgisk {word}",
    "onkologi": "Onkologisk {word}",
    "neurologi": "Neurologisk {word}",
    "endokrinologi": "Endokrinologisk {word}",
    "gastro": "Mave- og Tarmkirurgisk {word}",
    "obstetrik": "Obstetrisk {word}",
    "infektion": "Infektionsmedicinsk {word}",
    "saar": "Videncenter for Sårheling",
    "biokemi": "Klinisk Biokemisk Afdeling",
    "radiologi": "Radiologisk {word}",
    "patologi": "Patologiafdelingen",
}
# Where a specialty is missing at the citizen's own hospital, these take the patient.
_FALLBACK_ORDER = ("rh", "hgh", "bfh", "hvh")
# Departments that see patients (and so have wards, clinics and bedside staff).
BEDSIDE = frozenset(_SPECIALTY_NAMES) - {"biokemi", "radiologi", "patologi"}


@dataclass(frozen=True)
class Department(Org):
    """A hospital department (an Organization that is partOf its hospital)."""

    hospital: str = ""
    specialty: str = ""


def _departments() -> dict[str, Department]:
    found: dict[str, Department] = {}
    serial = 48500
    for hospital in HOSPITALS.values():
        for specialty in hospital.specialties:
            serial += 7
            name = _SPECIALTY_NAMES[specialty].format(word=hospital.clinic_word)
            key = f"{hospital.key}-{specialty}"
            found[key] = Department(
                id=f"afdeling-{key}",
                name=f"{name}, {hospital.name}",
                kind="department",
                sor=sor_code(serial),
                part_of=f"hospital-{hospital.key}",
                address=hospital.address,
                hospital=hospital.key,
                specialty=specialty,
            )
    return found


DEPARTMENTS: dict[str, Department] = _departments()
PSYCHIATRY = Department(
    id="afdeling-psykiatrisk-center-kobenhavn",
    name="Psykiatrisk Center København, Region Hovedstadens Psykiatri",
    kind="department",
    sor=sor_code(48990),
    address=("Edel Sauntes Allé 10", "2100", "København Ø"),
    hospital="psyk",
    specialty="psykiatri",
)


def department(hospital: str, specialty: str) -> Department:
    """Return the department of ``specialty`` at ``hospital``, or at the nearest one that has it."""
    found = DEPARTMENTS.get(f"{hospital}-{specialty}")
    if found is not None:
        return found
    for other in _FALLBACK_ORDER:
        found = DEPARTMENTS.get(f"{other}-{specialty}")
        if found is not None:
            return found
    raise KeyError(specialty)


# --- municipalities, GPs and the other organisation types ----------------------------------------

# Copenhagen's SOR code is the one the access-policy issue fixed; the rest are invented.
_MUNICIPALITY_IDENTIFIERS = {
    "0101": ("279311000016005", "64942212"),
    "0147": (sor_code(47147), "11259979"),
}


def _municipality_orgs() -> dict[str, Org]:
    orgs = {}
    for municipality in geography.MUNICIPALITIES:
        sor, cvr = _MUNICIPALITY_IDENTIFIERS.get(
            municipality.code, (sor_code(47000 + int(municipality.code)), None)
        )
        orgs[municipality.code] = Org(
            id=municipality.organisation_id,
            name=municipality.official_name,
            kind="municipality",
            sor=sor,
            cvr=cvr,
            municipality_code=municipality.code,
            address=("", municipality.postcode, municipality.city),
        )
    return orgs


MUNICIPALITY_ORGS: dict[str, Org] = _municipality_orgs()
NEAR_CLINIC = Org(
    "naerklinik-amager",
    "Nærklinik Amager",
    "near-clinic",
    sor_code(49100),
    "29190909",
    address=("", "2300", "København S"),
)
HOSPICE = Org(
    "hospice-sjaelland",
    "Hospice Sjælland",
    "hospice",
    sor_code(49200),
    "30416031",
    address=("", "4000", "Roskilde"),
)
EMERGENCY_LINE = Org(
    "akuttelefonen-1813", "Akuttelefonen 1813", "emergency-line", sor_code(49300), "29190925"
)

# GP practices: several in the demo municipalities, one in every other.
_GP_COUNT = {"0101": 12, "0147": 4}
_GP_PATTERNS = ("Lægerne {street}", "Lægehuset {city}", "Lægeklinikken {street}", "Læge {name}")


def _gp_orgs() -> dict[str, tuple[Org, ...]]:
    rng = random.Random(7)  # fixed: shared resources do not depend on the seed
    practices: dict[str, tuple[Org, ...]] = {}
    serial = 50000
    for municipality in geography.MUNICIPALITIES:
        found = []
        for n in range(_GP_COUNT.get(municipality.code, 1)):
            serial += 3
            address = geography.pick_address(rng, municipality)
            street = address.line.split(",")[0].rstrip("0123456789 ")
            given, family = names.full_name(rng, female=rng.random() < 0.5)
            pattern = _GP_PATTERNS[n % len(_GP_PATTERNS)] if n else _GP_PATTERNS[1]
            name = pattern.format(street=street, city=address.city, name=f"{given} {family}")
            found.append(
                Org(
                    id=f"laege-{municipality.code}-{n + 1}",
                    name=name,
                    kind="gp",
                    sor=sor_code(serial),
                    address=(address.line, address.postcode, address.city),
                )
            )
        practices[municipality.code] = tuple(found)
    return practices


GP_PRACTICES: dict[str, tuple[Org, ...]] = _gp_orgs()


# --- staff ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    """A practitioner working in one department."""

    id: str
    name: str
    title: str  # "Overlæge", "Sygeplejerske"…
    department: Department

    def reference(self) -> dict[str, Any]:
        """Return a Reference to this practitioner."""
        return {"reference": f"Practitioner/{self.id}", "display": f"{self.name}, {self.title}"}

    @property
    def signature(self) -> str:
        return f"{self.name}, {self.title.lower()}"


DOCTOR_TITLES = ("Overlæge", "Afdelingslæge", "Reservelæge", "Læge i introduktionsstilling")
_THERAPIST_TITLES = ("Fysioterapeut", "Ergoterapeut")
_ROLE_CODES = {"doctor": ("doctor", "Doctor"), "nurse": ("nurse", "Nurse")}
_PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"


def _staff() -> dict[str, dict[str, tuple[Staff, ...]]]:
    rng = random.Random(11)
    by_department: dict[str, dict[str, tuple[Staff, ...]]] = {}
    for dept in (*DEPARTMENTS.values(), PSYCHIATRY):
        bedside = dept.specialty in BEDSIDE or dept is PSYCHIATRY
        plan: list[tuple[str, str]] = [("doctor", DOCTOR_TITLES[0]), ("doctor", DOCTOR_TITLES[1])]
        if bedside:
            plan += [("doctor", DOCTOR_TITLES[2]), ("doctor", DOCTOR_TITLES[3])]
            nurse = "Jordemoder" if dept.specialty == "obstetrik" else "Sygeplejerske"
            plan += [("nurse", nurse)] * 4
            plan += [("therapist", title) for title in _THERAPIST_TITLES]
        groups: dict[str, list[Staff]] = {}
        for n, (role, title) in enumerate(plan, start=1):
            female = rng.random() < (0.85 if role != "doctor" else 0.55)
            given, family = names.full_name(rng, female=female, birth_year=rng.randint(1960, 1995))
            key = dept.id.removeprefix("afdeling-")
            member = Staff(f"{key}-{n}", f"{given} {family}", title, dept)
            groups.setdefault(role, []).append(member)
        by_department[dept.id] = {role: tuple(members) for role, members in groups.items()}
    return by_department


STAFF = _staff()


def staff(dept: Department, role: str) -> tuple[Staff, ...]:
    """Return the practitioners of ``role`` (doctor, nurse, therapist) in a department."""
    return STAFF[dept.id].get(role) or STAFF[dept.id]["doctor"]


# --- questionnaires ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One item of a questionnaire."""

    link_id: str
    text: str
    options: tuple[str, ...] = ()  # answer options, scored 1…n; none → an integer answer
    low: int = 0
    high: int = 10


@dataclass(frozen=True)
class QuestionnaireSpec:
    """A patient-reported questionnaire of the portal."""

    id: str
    title: str
    description: str
    questions: tuple[Question, ...]

    @property
    def url(self) -> str:
        return f"{QUESTIONNAIRE_BASE}/{self.id}"


_LEVELS = (
    "Ingen problemer",
    "Lette problemer",
    "Moderate problemer",
    "Svære problemer",
    "Ude af stand til",
)
QUESTIONNAIRES: dict[str, QuestionnaireSpec] = {
    q.id: q
    for q in (
        QuestionnaireSpec(
            "livskvalitet",
            "Helbred og livskvalitet i dag",
            "Fem spørgsmål om dit helbred i dag og en skala fra 0 til 100 (patientrapporteret, "
            "besvares i Min SP før besøget).",
            (
                Question("bevaegelighed", "Bevægelighed: dit gangbesvær i dag", _LEVELS),
                Question("personlig-pleje", "Personlig pleje: at vaske og klæde dig på", _LEVELS),
                Question(
                    "aktiviteter", "Sædvanlige aktiviteter (arbejde, husholdning, fritid)", _LEVELS
                ),
                Question("smerter", "Smerter eller ubehag", _LEVELS),
                Question("angst", "Angst eller nedtrykthed", _LEVELS),
                Question(
                    "vas",
                    "Hvor godt er dit helbred i dag (0 = værst tænkelige, 100 = bedst)?",
                    low=0,
                    high=100,
                ),
            ),
        ),
        QuestionnaireSpec(
            "kol-symptomer",
            "KOL-symptomer",
            "Otte spørgsmål om hoste, slim, åndenød og energi, hver scoret 0–5 "
            "(patientrapporteret).",
            tuple(
                Question(link_id, text, low=0, high=5)
                for link_id, text in (
                    ("hoste", "Jeg hoster (0 = aldrig, 5 = hele tiden)"),
                    ("slim", "Jeg har slim i brystet"),
                    ("trykken", "Jeg har trykken for brystet"),
                    ("trapper", "Jeg bliver forpustet, når jeg går op ad en trappe"),
                    ("hjemme", "Jeg er begrænset i mine aktiviteter i hjemmet"),
                    ("ude", "Jeg føler mig utryg ved at gå ud"),
                    ("sovn", "Jeg sover dårligt på grund af mine lunger"),
                    ("energi", "Jeg har ingen energi"),
                )
            ),
        ),
        QuestionnaireSpec(
            "smerte-og-funktion",
            "Smerter og funktion",
            "Smerteintensitet (0–10) og funktion i hverdagen (patientrapporteret).",
            (
                Question("smerte-hvile", "Smerter i hvile (0 = ingen, 10 = værst tænkelige)"),
                Question("smerte-aktivitet", "Smerter ved aktivitet (0–10)"),
                Question(
                    "gang",
                    "Hvor langt kan du gå?",
                    ("Over 1 km", "500 m–1 km", "100–500 m", "Under 100 m", "Kun indendørs"),
                ),
                Question(
                    "hjaelp",
                    "Får du hjælp fra hjemmeplejen?",
                    ("Nej", "Ja, praktisk hjælp", "Ja, personlig pleje"),
                ),
            ),
        ),
    )
}


# --- the FHIR resources ---------------------------------------------------------------------------


def _organization(org: Org) -> Resource:
    identifiers = [{"system": SOR_SYSTEM, "value": org.sor}]
    if org.cvr:
        identifiers.append({"system": CVR_SYSTEM, "value": org.cvr})
    standard = {
        "municipality": ("govt", "Government"),
        "hospital": ("prov", "Healthcare Provider"),
        "department": ("dept", "Hospital Department"),
    }.get(org.kind, ("prov", "Healthcare Provider"))
    resource: Resource = {
        "resourceType": "Organization",
        "id": org.id,
        "meta": synthetic_meta(),
        "identifier": identifiers,
        "active": True,
        "type": [
            {
                "coding": [
                    {"system": ORGANIZATION_TYPE, "code": standard[0], "display": standard[1]},
                    {"system": ORGANISATION_KIND, "code": org.kind},
                ]
            }
        ],
        "name": org.name,
    }
    if org.address:
        line, postcode, city = org.address
        address: dict[str, Any] = {"postalCode": postcode, "city": city, "country": "DK"}
        if line:
            address["line"] = [line]
        if org.municipality_code:
            address["extension"] = [municipality_extension(org.municipality_code)]
        resource["address"] = [address]
    if org is EMERGENCY_LINE:
        resource["telecom"] = [{"system": "phone", "value": "1813", "use": "work"}]
    if org.part_of:
        resource["partOf"] = {"reference": f"Organization/{org.part_of}"}
    return resource


def municipality_extension(code: str) -> dict[str, Any]:
    """Return DK-core's municipality-code extension for an Address."""
    municipality = geography.BY_CODE[code]
    return {
        "url": fhir.MUNICIPALITY_EXTENSION,
        "valueCodeableConcept": {
            "coding": [
                {"system": fhir.MUNICIPALITY_SYSTEM, "code": code, "display": municipality.name}
            ]
        },
    }


def _practitioner(member: Staff) -> Iterator[Resource]:
    given, _, family = member.name.rpartition(" ")
    role = "nurse" if member.title in ("Sygeplejerske", "Jordemoder") else "doctor"
    yield {
        "resourceType": "Practitioner",
        "id": member.id,
        "meta": synthetic_meta(),
        "active": True,
        "name": [{"use": "official", "family": family, "given": given.split(" ")}],
        "qualification": [{"code": {"text": member.title}}],
    }
    code = _ROLE_CODES.get(role, ("doctor", "Doctor"))
    yield {
        "resourceType": "PractitionerRole",
        "id": f"rolle-{member.id}",
        "meta": synthetic_meta(),
        "active": True,
        "practitioner": {"reference": f"Practitioner/{member.id}", "display": member.name},
        "organization": {
            "reference": f"Organization/{member.department.id}",
            "display": member.department.name,
        },
        "code": [
            {
                "coding": [{"system": _PRACTITIONER_ROLE, "code": code[0], "display": code[1]}],
                "text": member.title,
            }
        ],
    }


def _location(dept: Department) -> Resource:
    line, postcode, city = dept.address or ("", "", "")
    return {
        "resourceType": "Location",
        "id": location_id(dept),
        "meta": synthetic_meta(),
        "status": "active",
        "name": f"Ambulatorium, {dept.name}",
        "address": {"line": [line], "postalCode": postcode, "city": city, "country": "DK"},
        "managingOrganization": {"reference": f"Organization/{dept.id}", "display": dept.name},
    }


def location_id(dept: Department) -> str:
    """Return the id of a department's outpatient clinic Location."""
    return f"ambulatorium-{dept.id.removeprefix('afdeling-')}"


def _questionnaire(spec: QuestionnaireSpec) -> Resource:
    items = []
    for question in spec.questions:
        item: dict[str, Any] = {"linkId": question.link_id, "text": question.text, "required": True}
        if question.options:
            item["type"] = "choice"
            item["answerOption"] = [
                {"valueCoding": {"system": f"{spec.url}/svar", "code": str(n), "display": text}}
                for n, text in enumerate(question.options, start=1)
            ]
        else:
            item["type"] = "integer"
        items.append(item)
    return {
        "resourceType": "Questionnaire",
        "id": spec.id,
        "meta": synthetic_meta(),
        "url": spec.url,
        "version": "1.0",
        "name": spec.id.replace("-", "_").capitalize(),
        "title": spec.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": spec.description,
        "item": items,
    }


@cache
def _shared() -> tuple[Resource, ...]:
    resources: list[Resource] = []
    for hospital in HOSPITALS.values():
        resources.append(
            _organization(
                Org(
                    f"hospital-{hospital.key}",
                    hospital.name,
                    "hospital",
                    hospital.sor,
                    address=hospital.address,
                )
            )
        )
    resources.extend(_organization(dept) for dept in (*DEPARTMENTS.values(), PSYCHIATRY))
    resources.extend(_organization(org) for org in MUNICIPALITY_ORGS.values())
    resources.extend(_organization(org) for org in (NEAR_CLINIC, HOSPICE, EMERGENCY_LINE))
    for practices in GP_PRACTICES.values():
        resources.extend(_organization(org) for org in practices)
    for groups in STAFF.values():
        for members in groups.values():
            for member in members:
                resources.extend(_practitioner(member))
    resources.extend(
        _location(dept)
        for dept in (*DEPARTMENTS.values(), PSYCHIATRY)
        if dept.specialty in BEDSIDE or dept is PSYCHIATRY
    )
    resources.extend(_questionnaire(spec) for spec in QUESTIONNAIRES.values())
    return tuple(resources)


def shared_resources() -> list[Resource]:
    """Return the shared Organizations, Practitioners, roles, Locations, Questionnaires (copies)."""
    return copy.deepcopy(list(_shared()))
