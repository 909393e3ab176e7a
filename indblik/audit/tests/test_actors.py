"""Who the actor is comes from a pluggable resolver (the identity app knows more than Django)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.checks.registry import registry
from django.http import HttpRequest

from indblik.audit import Action, Actor, record
from indblik.audit.actors import actor_for_request, django_user_actor
from indblik.audit.checks import check_actor_resolver
from indblik.audit.tests.conftest import StandInUser

MakeRequest = Callable[..., HttpRequest]


NOT_CALLABLE = "a string"


def broker_actor(request: HttpRequest) -> Actor | None:
    """A resolver as the identity app would write it."""
    return Actor(
        user_id=99,
        name="Bo Broker",
        authorisation="0C4FG",
        role="http://kombit.dk/roles/jobrole/sundhedsjournal/1",
        organisation_cvr="29189846",
        organisation_name="Københavns Kommune",
    )


def test_the_default_resolver_uses_djangos_user(make_request: MakeRequest) -> None:
    actor = django_user_actor(make_request(StandInUser(5, "nurse-c", "Cecilie Dahl")))
    assert actor == Actor(user_id=5, name="Cecilie Dahl")
    assert django_user_actor(make_request()) is None


def test_a_configured_resolver_is_used(settings: Any, make_request: MakeRequest) -> None:
    settings.INDBLIK_AUDIT_ACTOR_RESOLVER = f"{__name__}.broker_actor"
    assert actor_for_request(make_request()) == broker_actor(make_request())


@pytest.mark.django_db
def test_the_writer_records_what_the_configured_resolver_says(
    settings: Any, make_request: MakeRequest
) -> None:
    settings.INDBLIK_AUDIT_ACTOR_RESOLVER = f"{__name__}.broker_actor"
    event = record(make_request(), Action.PATIENT_READ)
    assert (event.user_id, event.actor_authorisation) == (99, "0C4FG")
    assert (event.organisation_cvr, event.organisation_name) == ("29189846", "Københavns Kommune")


def test_a_resolver_that_cannot_be_imported_fails_the_system_check(settings: Any) -> None:
    assert check_actor_resolver in registry.get_checks()
    settings.INDBLIK_AUDIT_ACTOR_RESOLVER = "indblik.nowhere.resolver"
    assert [message.id for message in check_actor_resolver()] == ["audit.E001"]
    settings.INDBLIK_AUDIT_ACTOR_RESOLVER = f"{__name__}.NOT_CALLABLE"
    assert [message.id for message in check_actor_resolver()] == ["audit.E002"]
    settings.INDBLIK_AUDIT_ACTOR_RESOLVER = f"{__name__}.broker_actor"
    assert check_actor_resolver() == []
