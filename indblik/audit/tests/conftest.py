"""Fixtures of the audit tests: people, requests, a clock, and a quick way to write rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.test import RequestFactory

from indblik.audit import Action, record
from indblik.audit.models import AuditEvent
from indblik.audit.testing import pytest_runtest_teardown  # noqa: F401 - see testing.py

# A fixed past moment: the app's clock stays behind PostgreSQL's real one, as in production.
T0 = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def audit_default_actor_resolver(settings: Any) -> None:
    """Derive actors with the audit app's own resolver: these tests are about the audit app."""
    from indblik.audit.actors import DEFAULT_RESOLVER

    settings.INDBLIK_AUDIT_ACTOR_RESOLVER = DEFAULT_RESOLVER


class StandInUser:
    """A signed-in user as the default resolver sees one: pk, full name, user name.

    Not a database row: the audit app's tests do not depend on the identity app's user model.
    """

    is_authenticated = True

    def __init__(self, pk: int, username: str, full_name: str) -> None:
        self.pk = pk
        self._username = username
        self._full_name = full_name

    def get_full_name(self) -> str:
        return self._full_name

    def get_username(self) -> str:
        return self._username


@pytest.fixture
def nurse() -> StandInUser:
    """A municipal nurse in municipality A."""
    return StandInUser(41, "nurse-a", "Anne Holm")


@pytest.fixture
def make_request(rf: RequestFactory) -> Callable[..., HttpRequest]:
    """Build a GET request from a given peer, with a user (anonymous by default)."""

    def make(user: Any = None, remote_addr: str = "192.0.2.10", **headers: Any) -> HttpRequest:
        request = rf.get("/chart/x/", REMOTE_ADDR=remote_addr, **headers)
        request.user = user if user is not None else AnonymousUser()
        return request

    return make


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Stop the app's clock at T0 (move it with ``clock.shift(seconds)``)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def write_events(db: None) -> Callable[..., list[AuditEvent]]:
    """Write ``n`` ordinary events through the real writer and return them."""

    def write(n: int, **kwargs: Any) -> list[AuditEvent]:
        kwargs.setdefault("patient_cpr", "0101701234")
        kwargs.setdefault("section", "snapshot")
        return [record(None, Action.PATIENT_READ, **kwargs) for _ in range(n)]

    return write
