"""The demo's organisations: registered, onboarded and live, so the demo works out of the box.

``indblik demo`` is to call :func:`ensure_demo_organisations`. The CVR numbers, names and SOR
codes match the synthetic record generator (``indblik/records/synth/organisations.py``), whose
Organization resources the access policy matches these organisations against.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from indblik.audit import Actor
from indblik.organisations import registry
from indblik.organisations.models import Organisation, OrganisationType, Step

DEMO_ROLE = "http://demo.indblik.dk/roles/jobrole/indblik-opslag/1"
# The demo runs on loopback only (INDBLIK_MODE=demo refuses anything else).
DEMO_NETWORKS = ("127.0.0.0/8", "::1/128")
DEMO_ACTOR = Actor(name="demo set-up")
_EVIDENCE = {
    Step.BUTTON: "Demo: the care-system simulator's Indblik button",
    Step.NETWORK: "Demo: loopback, no health data network connection",
    Step.AD_GROUP: "Demo: group INDBLIK-OPSLAG at the demo identity provider",
    Step.JOB_ROLE: f"Demo: {DEMO_ROLE} given to the group",
    Step.WHITELIST: "Demo: " + ", ".join(DEMO_NETWORKS),
}


@dataclass(frozen=True)
class DemoOrganisation:
    """What the demo registers for one organisation."""

    cvr: str
    name: str
    type: str
    sor_code: str
    municipality_code: str = ""


DEMO_ORGANISATIONS = (
    DemoOrganisation(
        "64942212", "Københavns Kommune", OrganisationType.MUNICIPALITY, "279311000016005", "0101"
    ),
    DemoOrganisation(
        "11259979",
        "Frederiksberg Kommune",
        OrganisationType.MUNICIPALITY,
        "471471000016007",
        "0147",
    ),
    DemoOrganisation(
        "29190909", "Nærklinik Amager", OrganisationType.NEAR_CLINIC, "491001000016000"
    ),
    DemoOrganisation("30416031", "Hospice Sjælland", OrganisationType.HOSPICE, "492001000016000"),
    DemoOrganisation(
        "29190925", "Akuttelefonen 1813", OrganisationType.EMERGENCY_LINE, "493001000016000"
    ),
)


def ensure_demo_organisations() -> list[Organisation]:
    """Register the demo organisations and bring them live; leave existing ones alone.

    Idempotent: an organisation already registered (by CVR) is not touched, so running the
    demo again never resumes one that was suspended while trying the demo out. Goes through
    the registry, so every step is in the audit log like a real onboarding.
    """
    found = []
    for spec in DEMO_ORGANISATIONS:
        existing = Organisation.objects.filter(cvr=spec.cvr).first()
        found.append(existing if existing is not None else _onboard(spec))
    return found


@transaction.atomic
def _onboard(spec: DemoOrganisation) -> Organisation:
    org = registry.add_organisation(
        cvr=spec.cvr,
        name=spec.name,
        type=spec.type,
        municipality_code=spec.municipality_code,
        sor_code=spec.sor_code,
        care_system="Demo care system (simulator)",
        contacts={
            "security_officer_name": f"Sikkerhedsansvarlig, {spec.name}",
            "security_officer_email": f"sikkerhed@{spec.cvr}.demo.indblik.dk",
            "technical_contact_name": f"Teknisk kontakt, {spec.name}",
            "technical_contact_email": f"it@{spec.cvr}.demo.indblik.dk",
        },
        by=DEMO_ACTOR,
    )
    registry.set_role(org=org, role_uri=DEMO_ROLE, by=DEMO_ACTOR)
    registry.allow_network(org=org, cidrs=DEMO_NETWORKS, by=DEMO_ACTOR)
    for step in Step:
        evidence = _EVIDENCE.get(step, f"2025-01-02, demo framework agreement DEMO-{spec.cvr}")
        registry.complete_step(org=org, step=step, evidence=evidence, by=DEMO_ACTOR)
    return registry.go_live(org=org, by=DEMO_ACTOR)
