"""Fixtures of the launch tests: the identity tests' SAML broker, plus care-system keys."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import ECKey

from indblik.audit.actors import Actor
from indblik.identity.tests.conftest import (  # noqa: F401 - fixtures used by the launch tests
    Broker,
    Person,
    _fresh_saml_cache,
    broker,
    idp,
    idp_keys,
    organisations,
    sp_settings,
)
from indblik.organisations import registry
from indblik.organisations.models import Organisation

TEST_ACTOR = Actor(name="test set-up")


@pytest.fixture
def care_system_keys(
    organisations: dict[str, Organisation],  # noqa: F811 - the identity tests' fixture
) -> dict[str, ECKey]:
    """A registered ES256 signing key per test organisation (private half kept here)."""
    found = {}
    for key, org in organisations.items():
        private = ECKey.generate_key("P-256", parameters={"kid": f"eoj-{key}-1"})
        public = private.as_dict(private=False)
        registry.add_keys(org=org, jwks_json=json.dumps({"keys": [public]}), by=TEST_ACTOR)
        found[key] = private
    return found
