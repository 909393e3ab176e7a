"""Who a synthetic citizen is: name, CPR number, address, GP, next of kin."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from indblik.records import fhir
from indblik.records.synth import geography, names, organisations
from indblik.records.synth.chart import Chart, stamp
from indblik.records.synth.geography import Address
from indblik.records.synth.organisations import Org
from indblik.records.synth.terminology import ROLE_CODE, Resource, synthetic_meta

MIN_AGE = 18


@dataclass
class Person:
    """The demographic facts of one citizen that the clinical story builds on."""

    index: int
    cpr: str
    given: list[str]
    family: str
    female: bool
    birth: dt.date
    age: int
    address: Address
    gp: Org
    phone: str | None
    home_care: bool

    @property
    def name(self) -> str:
        return f"{' '.join(self.given)} {self.family}"

    @property
    def municipality(self) -> Org:
        return organisations.MUNICIPALITY_ORGS[self.address.municipality.code]

    @property
    def sex_word(self) -> str:
        return "kvinde" if self.female else "mand"


def _draw_age(rng: random.Random) -> int:
    # Home care is mostly for the old: two thirds are 65 or more, peaking in the early eighties.
    draw = rng.random()
    if draw < 0.68:
        return min(103, max(65, int(rng.gauss(81, 8))))
    if draw < 0.95:
        return rng.randint(30, 64)
    return rng.randint(MIN_AGE, 29)


def make_person(rng: random.Random, index: int, *, today: dt.date) -> Person:
    """Draw a citizen: age and sex, a unique CPR number, a name, an address and a GP."""
    age = _draw_age(rng)
    female = rng.random() < (0.5 if age < 65 else 0.58 if age < 85 else 0.66)
    drawn = today - dt.timedelta(days=age * 365 + rng.randrange(365))
    latest = today - dt.timedelta(days=MIN_AGE * 366)
    birth = names.cpr_birth_date(drawn, index, latest=latest)
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    municipality = geography.pick_municipality(rng)
    address = geography.pick_address(rng, municipality)
    city = municipality.code in ("0101", "0147")
    family = names.family_name(rng, city=city)
    return Person(
        index=index,
        cpr=names.cpr_number(birth, male=not female, index=index),
        given=names.given_names(rng, female=female, birth_year=birth.year),
        family=family,
        female=female,
        birth=birth,
        age=age,
        address=address,
        gp=rng.choice(organisations.GP_PRACTICES[municipality.code]),
        phone=names.phone_number(rng) if rng.random() < 0.85 else None,
        home_care=rng.random() < (0.85 if age >= 65 else 0.45),
    )


_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"


def patient_resource(person: Person, rng: random.Random) -> Resource:
    """Return the Patient resource (DK-core shaped: CPR identifier, municipality extension)."""
    address = person.address
    married = rng.random() < (0.45 if person.age >= 80 else 0.55)
    widowed = not married and person.age >= 75 and rng.random() < 0.6
    marital = (
        ("M", "Married", "Gift")
        if married
        else (("W", "Widowed", "Enke/enkemand") if widowed else ("U", "unmarried", "Ugift"))
    )
    resource: Resource = {
        "resourceType": "Patient",
        "id": f"synth-{person.index}",
        "meta": synthetic_meta(),
        "identifier": [{"system": fhir.CPR_SYSTEM, "value": person.cpr}],
        "active": True,
        "name": [{"use": "official", "family": person.family, "given": list(person.given)}],
        "gender": "female" if person.female else "male",
        "birthDate": person.birth.isoformat(),
        "address": [
            {
                "extension": [organisations.municipality_extension(address.municipality.code)],
                "use": "home",
                "type": "physical",
                "line": [address.line],
                "city": address.city,
                "postalCode": address.postcode,
                "country": "DK",
            }
        ],
        "maritalStatus": {
            "coding": [{"system": _MARITAL, "code": marital[0], "display": marital[1]}],
            "text": marital[2],
        },
        "communication": [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": "da", "display": "Dansk"}]
                },
                "preferred": True,
            }
        ],
        "generalPractitioner": [person.gp.reference()],
    }
    if person.phone:
        resource["telecom"] = [{"system": "phone", "value": person.phone, "use": "mobile"}]
    return resource


def mark_deceased(patient: Resource, when: dt.datetime) -> None:
    """Record the citizen's death on the Patient resource."""
    patient["deceasedDateTime"] = stamp(when)
    patient["active"] = False


_RELATIONS = (
    ("SPS", "spouse", "Ægtefælle"),
    ("SON", "natural son", "Søn"),
    ("DAU", "natural daughter", "Datter"),
    ("SIS", "sister", "Søster"),
    ("NBOR", "neighbor", "Nabo"),
)
_NEXT_OF_KIN = "http://terminology.hl7.org/CodeSystem/v2-0131"


def related_person(chart: Chart, person: Person) -> Resource:
    """Add the citizen's next of kin (spouse, child, sibling or neighbour) with a phone number."""
    rng = chart.rng
    code, display, text = rng.choices(_RELATIONS, weights=(3, 3, 4, 1, 0.5))[0]
    female = (
        code in ("DAU", "SIS")
        or (code == "SPS" and not person.female)
        or (code == "NBOR" and rng.random() < 0.5)
    )
    year = person.birth.year + (28 if code in ("SON", "DAU") else rng.randint(-4, 4))
    given, family = names.full_name(rng, female=female, birth_year=year)
    if code in ("SON", "DAU", "SPS") and rng.random() < 0.6:
        family = person.family
    return chart.new(
        "RelatedPerson",
        active=True,
        patient=chart.subject(),
        relationship=[
            {"coding": [{"system": ROLE_CODE, "code": code, "display": display}], "text": text},
            {"coding": [{"system": _NEXT_OF_KIN, "code": "N", "display": "Next-of-Kin"}]},
        ],
        name=[{"family": family, "given": given.split(" ")}],
        telecom=[{"system": "phone", "value": names.phone_number(rng), "use": "mobile"}],
        gender="female" if female else "male",
    )
