"""Demographics: who the citizen is, how to reach them, next of kin and GP (full CPR here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from indblik.chart.presenters import Filters, PageInput, common
from indblik.records import fhir
from indblik.records.sections import Section
from indblik.records.source import SectionQuery

LIMIT = 20
GENDERS = {
    "male": gettext_lazy("man"),
    "female": gettext_lazy("woman"),
    "other": gettext_lazy("other"),
    "unknown": gettext_lazy("unknown"),
}
TELECOM_SYSTEMS = {
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("Email"),
    "sms": gettext_lazy("SMS"),
    "fax": gettext_lazy("Fax"),
}
TELECOM_USES = {
    "home": gettext_lazy("home"),
    "work": gettext_lazy("work"),
    "mobile": gettext_lazy("mobile"),
    "temp": gettext_lazy("temporary"),
}


@dataclass(frozen=True)
class Contact:
    """A way to reach someone."""

    label: str
    value: str
    href: str


@dataclass(frozen=True)
class Relative:
    """A next of kin or other contact person."""

    name: str
    relationship: str
    contacts: list[Contact]
    address: str


@dataclass(frozen=True)
class Person:
    """The citizen's demographics."""

    name: str
    other_names: list[str]
    cpr: str
    birth_date: str
    age: int | None
    gender: str
    deceased: str
    addresses: list[str]
    municipality: str
    contacts: list[Contact]
    marital_status: str
    languages: list[str]
    interpreter: bool
    gp: str


def queries(filters: Filters) -> list[SectionQuery]:
    return [SectionQuery(Section.DEMOGRAPHICS, limit=LIMIT)]


def present(page: PageInput) -> dict[str, Any]:
    result = page.results.get(Section.DEMOGRAPHICS)
    resources = list(result.resources) if result else []
    patient_resource = next(
        (r for r in resources if r.get("resourceType") == "Patient"), page.patient.resource
    )
    today = page.now.astimezone(common.COPENHAGEN).date()
    person = person_of(patient_resource, page.patient.cpr, today=today)
    relatives = [
        relative_of(resource)
        for resource in common.visible(resources)
        if resource.get("resourceType") == "RelatedPerson" and resource.get("active") is not False
    ]
    relatives.extend(
        relative_of(contact)
        for contact in patient_resource.get("contact") or ()
        if isinstance(contact, Mapping)
    )
    ids = [f"Patient/{patient_resource.get('id', '')}"] + [
        f"RelatedPerson/{resource.get('id', '')}"
        for resource in common.visible(resources)
        if resource.get("resourceType") == "RelatedPerson"
    ]
    return {"person": person, "relatives": relatives, "empty": False, "resource_ids": ids}


def person_of(resource: Mapping[str, Any], cpr: str, *, today: Any) -> Person:
    names = [name_text(name) for name in resource.get("name") or () if isinstance(name, Mapping)]
    names = [name for name in names if name]
    official = next(
        (
            name_text(name)
            for name in resource.get("name") or ()
            if isinstance(name, Mapping) and name.get("use") == "official"
        ),
        names[0] if names else "",
    )
    birth = resource.get("birthDate")
    birth_moment = common.local(birth) if isinstance(birth, str) else None
    deceased = ""
    if resource.get("deceasedBoolean") is True:
        deceased = _("Deceased")
    elif resource.get("deceasedDateTime"):
        deceased = _("Deceased %(date)s") % {
            "date": common.date_text(resource.get("deceasedDateTime"))
        }
    addresses = [
        address_text(address)
        for address in resource.get("address") or ()
        if isinstance(address, Mapping) and address.get("use") != "old"
    ]
    municipality = municipality_text(resource.get("address"))
    languages = []
    interpreter = False
    for item in resource.get("communication") or ():
        if not isinstance(item, Mapping):
            continue
        language = common.concept_text(item.get("language"))
        if language:
            languages.append(language + (f" ({_('preferred')})" if item.get("preferred") else ""))
    for extension in resource.get("extension") or ():
        if (
            isinstance(extension, Mapping)
            and str(extension.get("url", "")).endswith("patient-interpreterRequired")
            and extension.get("valueBoolean") is True
        ):
            interpreter = True
    gender = resource.get("gender")
    return Person(
        name=official,
        other_names=[name for name in names if name != official],
        cpr=f"{cpr[:6]}-{cpr[6:]}" if len(cpr) == 10 else cpr,
        birth_date=common.date_text(birth),
        age=common.age(birth_moment.date() if birth_moment else None, today),
        gender=str(GENDERS.get(gender, gender or "")) if isinstance(gender, str) else "",
        deceased=deceased,
        addresses=[text for text in addresses if text],
        municipality=municipality,
        contacts=contacts_of(resource.get("telecom")),
        marital_status=common.concept_text(resource.get("maritalStatus")),
        languages=languages,
        interpreter=interpreter,
        gp=common.reference_text(resource.get("generalPractitioner")),
    )


def relative_of(resource: Mapping[str, Any]) -> Relative:
    """A RelatedPerson or a Patient.contact as a contact person."""
    names = resource.get("name")
    name = ""
    for item in names if isinstance(names, list) else [names]:
        if isinstance(item, Mapping):
            name = name_text(item)
            if name:
                break
    relationships = [
        common.concept_text(concept)
        for concept in resource.get("relationship") or ()
        if isinstance(concept, Mapping)
    ]
    address = resource.get("address")
    if isinstance(address, list):
        address = address[0] if address else None
    return Relative(
        name=name or _("Name not recorded"),
        relationship=", ".join(dict.fromkeys(text for text in relationships if text)),
        contacts=contacts_of(resource.get("telecom")),
        address=address_text(address) if isinstance(address, Mapping) else "",
    )


def name_text(name: Mapping[str, Any]) -> str:
    """``Given Middle Family`` of a HumanName (or its ``text``)."""
    text = name.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    given = [part for part in name.get("given") or () if isinstance(part, str)]
    family = name.get("family")
    family = family if isinstance(family, str) else ""
    return " ".join([*given, family]).strip()


def address_text(address: Mapping[str, Any]) -> str:
    """``Østerbrogade 62, 4. mf., 2100 København Ø``."""
    text = address.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    lines = [line for line in address.get("line") or () if isinstance(line, str)]
    town = " ".join(
        part
        for part in (str(address.get("postalCode") or ""), str(address.get("city") or ""))
        if part
    )
    country = address.get("country")
    parts = [*lines, town]
    if isinstance(country, str) and country not in ("DK", "DNK", "Danmark", "Denmark"):
        parts.append(country)
    return ", ".join(part for part in parts if part)


def contacts_of(telecom: Any) -> list[Contact]:
    """Phone numbers and email addresses (``tel:``/``mailto:`` links, no other schemes)."""
    found = []
    for item in telecom if isinstance(telecom, list) else ():
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
            continue
        value = item["value"].strip()
        system = str(item.get("system") or "")
        use = str(item.get("use") or "")
        label = str(TELECOM_SYSTEMS.get(system, system or _("Contact")))
        if use in TELECOM_USES:
            label = f"{label} ({TELECOM_USES[use]})"
        href = ""
        if system in ("phone", "sms") and all(c.isdigit() or c in "+ -()" for c in value):
            href = "tel:" + "".join(c for c in value if c.isdigit() or c == "+")
        elif system == "email" and "@" in value and " " not in value and ":" not in value:
            href = "mailto:" + value
        found.append(Contact(label, value, href))
    return found


def municipality_text(addresses: Any) -> str:
    """``København (0101)`` from the DK-core municipality extension of the addresses."""
    for address in addresses if isinstance(addresses, list) else ():
        if not isinstance(address, Mapping):
            continue
        for extension in address.get("extension") or ():
            if not isinstance(extension, Mapping):
                continue
            if extension.get("url") != fhir.MUNICIPALITY_EXTENSION:
                continue
            concept = extension.get("valueCodeableConcept")
            codings = concept.get("coding") if isinstance(concept, Mapping) else None
            for coding in codings if isinstance(codings, list) else ():
                if isinstance(coding, Mapping) and coding.get("code"):
                    display = str(coding.get("display") or "").strip()
                    code = str(coding["code"])
                    return f"{display} ({code})" if display else code
    return ""
