"""The authentication backend for identities the federation broker has vouched for."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from indblik.identity import users
from indblik.identity.attributes import BrokerIdentity
from indblik.identity.models import User


class BrokerBackend(ModelBackend):
    """Authenticate a person from a verified SAML identity, creating the user just in time.

    It answers only ``authenticate(request, broker_identity=...)``, which the ACS calls after
    every acceptance rule has passed; it never looks at a username or password, so a broker
    user cannot be signed in any other way. ``get_user`` (from ModelBackend) returns nobody
    for an inactive user, so deactivation takes effect on the next request of any session.
    """

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        broker_identity: BrokerIdentity | None = None,
        **credentials: Any,
    ) -> User | None:
        """Return the provisioned user; raise users.LoginRefused when the person may not sign in."""
        if broker_identity is None:
            return None
        return users.provision(broker_identity)
