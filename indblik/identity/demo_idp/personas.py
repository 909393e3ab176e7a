"""The people of the demo: who can sign in through the demo identity provider.

Each persona is what a municipality's (or hospital's) identity provider would assert through
the federation broker: OIOSAML 3 attributes with OIO-BPP privileges scoped to one CVR. The
organisations engineer registers the demo organisations with ``DEMO_ROLE`` as their role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from indblik.identity import attributes

DEMO_ROLE = "http://demo.indblik.dk/roles/jobrole/indblik-opslag/1"
OTHER_ROLE = "http://demo.indblik.dk/roles/jobrole/hjemmepleje-planlaegning/1"
_NAMESPACE = uuid.UUID("6f1d8a52-3b8e-4c1e-9a51-1c7d3c2b9e40")

KOBENHAVN = ("64942212", "Københavns Kommune")
FREDERIKSBERG = ("11259979", "Frederiksberg Kommune")
AMAGER = ("29190909", "Nærklinik Amager")
# 30416034 (as first specified) fails the CVR modulus-11 check; the registry uses 30416031.
HOSPICE = ("30416031", "Hospice Sjælland")
LINE_1813 = ("29190925", "Akuttelefonen 1813")
HOSPITAL = ("29190623", "Region Hovedstaden")


@dataclass(frozen=True)
class Persona:
    """One person the demo IdP can sign in as."""

    key: str
    full_name: str
    description: Promise
    organisation: tuple[str, str] = ("", "")
    roles: tuple[str, ...] = ()
    authorisation_id: str = ""
    cpr: str = ""
    loa: str = "Substantial"
    email: str = ""

    @property
    def persistent_id(self) -> str:
        """Return the persona's stable persistent id (the same at every demo start)."""
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, self.key)}"

    @property
    def name_id(self) -> str:
        """Return the persistent NameID the demo IdP sends for the persona."""
        kind = "person" if self.cpr else "professional"
        return f"https://data.gov.dk/model/core/eid/{kind}/uuid/{uuid.uuid5(_NAMESPACE, self.key)}"

    def attribute_values(self) -> dict[str, list[str]]:
        """Return the OIOSAML 3 attributes the IdP asserts for the persona."""
        values: dict[str, list[str]] = {
            attributes.SPEC_VERSION: ["OIOSAML-3.0"],
            attributes.LOA: [self.loa],
            attributes.FULL_NAME: [self.full_name],
        }
        if self.email:
            values[attributes.EMAIL] = [self.email]
        if self.cpr:
            values[attributes.CPR] = [self.cpr]
            return values
        cvr, name = self.organisation
        values[attributes.PERSISTENT_ID] = [self.persistent_id]
        values[attributes.CVR] = [cvr]
        values[attributes.ORGANISATION_NAME] = [name]
        values[attributes.PRIVILEGES] = [attributes.encode_privileges({cvr: self.roles})]
        if self.authorisation_id:
            values[settings.INDBLIK_SAML_AUTHORISATION_ATTRIBUTE] = [self.authorisation_id]
        return values


def _personas() -> tuple[Persona, ...]:
    reviewer = settings.INDBLIK_SAML_REVIEWER_ROLE
    admin = settings.INDBLIK_SAML_ADMIN_ROLE
    return (
        Persona(
            "nurse-kk",
            "Mette Holm",
            _("Home-care nurse, Københavns Kommune (has the Indblik role)"),
            KOBENHAVN,
            (DEMO_ROLE,),
            authorisation_id="5D2K9",
            email="mette.holm@kk.example.dk",
        ),
        Persona(
            "colleague-kk",
            "Jonas Vestergaard",
            _("Social and health care assistant, Københavns Kommune (without the Indblik role)"),
            KOBENHAVN,
            (OTHER_ROLE,),
            email="jonas.vestergaard@kk.example.dk",
        ),
        Persona(
            "therapist-frb",
            "Sara Lund",
            _("Physiotherapist, Frederiksberg Kommune"),
            FREDERIKSBERG,
            (DEMO_ROLE,),
            authorisation_id="7H3T1",
        ),
        Persona(
            "nurse-amager",
            "Lars Bech",
            _("Nurse, Nærklinik Amager (near-clinic)"),
            AMAGER,
            (DEMO_ROLE,),
            authorisation_id="2B8N4",
        ),
        Persona(
            "nurse-hospice",
            "Birgitte Krogh",
            _("Nurse, Hospice Sjælland"),
            HOSPICE,
            (DEMO_ROLE,),
            authorisation_id="9C1R6",
        ),
        Persona(
            "doctor-1813",
            "Peter Dahl",
            _("Doctor, Akuttelefonen 1813 (emergency line)"),
            LINE_1813,
            (DEMO_ROLE,),
            authorisation_id="4F6L0",
        ),
        Persona(
            "reviewer-kk",
            "Anne Friis",
            _("Log reviewer, Københavns Kommune (log follow-up role)"),
            KOBENHAVN,
            (reviewer,) if reviewer else (),
        ),
        Persona(
            "admin-hospital",
            "Henrik Malling",
            _("Hospital administrator, Region Hovedstaden"),
            HOSPITAL,
            (admin,) if admin else (),
        ),
        Persona(
            "citizen",
            "Karen Sørensen",
            _("Citizen (NemLog-in): sees who has looked at her record"),
            cpr="2108624008",
        ),
    )


def all_personas() -> tuple[Persona, ...]:
    """Return every persona, in the order of the persona page."""
    return _personas()


def persona(key: str) -> Persona | None:
    """Return the persona called ``key``, or None."""
    return next((p for p in _personas() if p.key == key), None)
