"""Fixtures of the usage tests: the demo organisations, their people, their log."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from indblik import audit
from indblik.access.testing import professional
from indblik.identity.audit_actor import actor_for_user
from indblik.identity.models import User
from indblik.organisations.demo import ensure_demo_organisations
from indblik.organisations.models import Organisation

KK = "64942212"  # Københavns Kommune
FRB = "11259979"  # Frederiksberg Kommune


@pytest.fixture
def orgs(db: None) -> dict[str, Organisation]:
    """The demo organisations (live, allowlisting loopback), by CVR."""
    return {org.cvr: org for org in ensure_demo_organisations()}


def signed_in(user: User, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.fixture
def nurse(orgs: dict[str, Organisation]) -> User:
    return professional(orgs[KK], full_name="Mette Holm", profession="Sygeplejerske")


@pytest.fixture
def reviewer(orgs: dict[str, Organisation]) -> User:
    return professional(
        orgs[KK], full_name="Anne Friis", roles=[settings.INDBLIK_SAML_REVIEWER_ROLE]
    )


@pytest.fixture
def other_reviewer(orgs: dict[str, Organisation]) -> User:
    return professional(
        orgs[FRB], full_name="Frida Frb", roles=[settings.INDBLIK_SAML_REVIEWER_ROLE]
    )


@pytest.fixture
def other_nurse(orgs: dict[str, Organisation]) -> User:
    return professional(orgs[FRB], full_name="Sara Lund")


@pytest.fixture
def staff(db: None) -> Client:
    """A hospital administrator (staff, not superuser)."""
    user = User.objects.create_user("henrik", password="not-used", is_staff=True)
    return signed_in(user)


def lookup(user: User, *, sections: tuple[str, ...] = ("snapshot",)) -> None:
    """Write what one lookup leaves in the log: the decision, then the pages read."""
    actor = actor_for_user(user)
    cvr, name = user.organisation_cvr, user.organisation_name
    audit.record(
        None,
        audit.Action.ACCESS_ALLOWED,
        actor=actor,
        organisation_cvr=cvr,
        organisation_name=name,
        patient_cpr="0102601234",
    )
    for section in sections:
        audit.record(
            None,
            audit.Action.PATIENT_READ,
            actor=actor,
            organisation_cvr=cvr,
            organisation_name=name,
            patient_cpr="0102601234",
            section=section,
        )
