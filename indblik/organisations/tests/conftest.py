"""Fixtures of the organisation tests: organisations at each stage, keys made at test time."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import translation
from joserfc.jwk import ECKey, RSAKey

from indblik.audit import Actor
from indblik.audit.models import AuditEvent
from indblik.organisations import registry
from indblik.organisations.models import Organisation, Step

# Valid CVR numbers (modulus 11) for organisations the tests invent.
CVR_A = "64942212"  # Københavns Kommune
CVR_B = "11259979"  # Frederiksberg Kommune
CVR_C = "29190909"  # a near-clinic
ROLE = "http://kombit.dk/roles/jobrole/indblik-opslag/1"
AGREEMENT = "2025-03-14, journal no. 2025-0042"
EVIDENCE = {step: f"ticket {step}" for step in Step.values} | {"agreement": AGREEMENT}
NETWORKS = ["10.20.0.0/16", "2001:db8:1::/48"]


@pytest.fixture(autouse=True)
def english() -> Any:
    """Read messages in English (the msgids); the Danish catalogue is tested on its own."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def default_actor_resolver(settings: Any) -> None:
    """Derive audit actors from Django's user, whatever the identity app configures."""
    from indblik.audit.actors import DEFAULT_RESOLVER

    settings.INDBLIK_AUDIT_ACTOR_RESOLVER = DEFAULT_RESOLVER


@pytest.fixture
def alice() -> Actor:
    """A hospital administrator acting from the command line."""
    return Actor(name="command-line (alice)")


@pytest.fixture
def municipality(db: None, alice: Actor) -> Organisation:
    """Københavns Kommune, just registered: onboarding, every step open."""
    return registry.add_organisation(
        cvr=CVR_A,
        name="Københavns Kommune",
        type="municipality",
        municipality_code="0101",
        by=alice,
    )


def make_ready(org: Organisation, by: Actor, *, skip: str | None = None) -> Organisation:
    """Set role and networks and complete every step (but ``skip``)."""
    registry.set_role(org=org, role_uri=ROLE, by=by)
    registry.allow_network(org=org, cidrs=NETWORKS, by=by)
    for step in Step.values:
        if step != skip:
            registry.complete_step(org=org, step=step, evidence=EVIDENCE[step], by=by)
    return org


@pytest.fixture
def ready(municipality: Organisation, alice: Actor) -> Organisation:
    """The municipality with every step done, still onboarding."""
    return make_ready(municipality, alice)


@pytest.fixture
def live(ready: Organisation, alice: Actor) -> Organisation:
    """The municipality, live."""
    return registry.go_live(org=ready, by=alice)


@pytest.fixture
def events() -> Callable[..., list[AuditEvent]]:
    """Return ``events(action)``: the audit rows of that action, oldest first."""

    def find(action: str | None = None) -> list[AuditEvent]:
        rows = AuditEvent.objects.order_by("id")
        return list(rows.filter(action=action) if action else rows)

    return find


# --- keys, generated at test time (never committed) -------------------------------------------


def ec_key(kid: str, curve: str = "P-256") -> ECKey:
    return ECKey.generate_key(curve, parameters={"kid": kid}, private=True)


def rsa_key(kid: str, bits: int = 2048) -> RSAKey:
    with warnings.catch_warnings():
        # joserfc warns about short keys; making one is the point of some tests.
        warnings.simplefilter("ignore")
        return RSAKey.generate_key(bits, parameters={"kid": kid}, private=True)


def public(key: ECKey | RSAKey) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def jwks(*keys: dict[str, Any]) -> str:
    return json.dumps({"keys": list(keys)})


@pytest.fixture(scope="session")
def rsa_2048() -> RSAKey:
    """One RSA 2048 key for the session: generating them is slow."""
    return rsa_key("rsa-1")
