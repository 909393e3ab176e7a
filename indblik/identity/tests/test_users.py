"""User lifecycle outside sign-in: expiry, deactivation from the admin, the replay cache."""

from __future__ import annotations

import datetime
from io import StringIO
from typing import Any

import pytest
from django.contrib.admin.sites import AdminSite
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, RequestFactory
from django.utils import timezone

from indblik import audit
from indblik.identity import replay, users
from indblik.identity.admin import IndblikUserAdmin
from indblik.identity.audit_actor import actor_for_request
from indblik.identity.models import SeenAssertion, User, UserSession
from indblik.identity.tests.conftest import NURSE, Broker

pytestmark = pytest.mark.django_db


def broker_user(key: str, *, days_ago: int) -> User:
    when = timezone.now() - datetime.timedelta(days=days_ago)
    return User.objects.create(
        username=f"saml:{key}",
        persistent_id=key,
        kind="professional",
        last_login=when,
        date_joined=when,
    )


def test_expire_deactivates_broker_users_inactive_for_the_given_days() -> None:
    stale = broker_user("urn:uuid:stale", days_ago=100)
    recent = broker_user("urn:uuid:recent", days_ago=10)
    never = User.objects.create(
        username="saml:never",
        persistent_id="urn:uuid:never",
        kind="professional",
        date_joined=timezone.now() - datetime.timedelta(days=91),
    )
    local = User.objects.create(
        username="admin", last_login=timezone.now() - datetime.timedelta(days=400)
    )
    out = StringIO()
    call_command("users", "expire", "--days", "90", stdout=out)
    assert "2 user(s) inactive for 90 days deactivated." in out.getvalue()
    for user in (stale, recent, never, local):
        user.refresh_from_db()
    assert (stale.is_active, never.is_active) == (False, False)
    assert stale.deactivation_reason == "inactive"
    assert recent.is_active and local.is_active
    assert audit.AuditEvent.objects.filter(action=audit.Action.USER_DEACTIVATED).count() == 2


def test_expire_dry_run_changes_nothing() -> None:
    stale = broker_user("urn:uuid:stale", days_ago=100)
    out = StringIO()
    call_command("users", "expire", "--days", "90", "--dry-run", stdout=out)
    assert "1 user(s) inactive for 90 days would be deactivated." in out.getvalue()
    stale.refresh_from_db()
    assert stale.is_active


@pytest.mark.parametrize("days", ["0", "-5", "99999"])
def test_expire_refuses_a_silly_limit(days: str) -> None:
    with pytest.raises(CommandError):
        call_command("users", "expire", "--days", days)


def test_expiring_a_signed_in_user_ends_the_session(broker: Broker, client: Client) -> None:
    broker.login()
    User.objects.update(last_login=timezone.now() - datetime.timedelta(days=120))
    call_command("users", "expire", "--days", "90", stdout=StringIO())
    assert client.get("/saml2/session/").status_code == 302
    assert not UserSession.objects.exists()


def test_deactivating_in_the_admin_ends_all_sessions(
    broker: Broker, client: Client, rf: RequestFactory
) -> None:
    broker.login()
    user = User.objects.get(persistent_id=NURSE.persistent_id)
    admin = IndblikUserAdmin(User, AdminSite())
    request = rf.post("/admin/")
    request.user = User.objects.create(username="hospital-admin", is_staff=True)
    admin.deactivate_users(request, User.objects.filter(pk=user.pk))
    user.refresh_from_db()
    assert not user.is_active and user.deactivation_reason == "admin"
    assert client.get("/saml2/session/").status_code == 302


def test_deleting_in_the_admin_ends_the_sessions_and_is_audited(
    broker: Broker, client: Client, rf: RequestFactory
) -> None:
    broker.login()
    user = User.objects.get(persistent_id=NURSE.persistent_id)
    other = broker_user("urn:uuid:z", days_ago=1)
    admin = IndblikUserAdmin(User, AdminSite())
    request = rf.post("/admin/")
    request.user = User.objects.create(username="hospital-admin", is_staff=True, is_superuser=True)
    # Django's own "delete selected" would skip all this: it is not offered.
    assert "delete_selected" not in admin.get_actions(request)
    ids = [user.pk, other.pk]
    admin.delete_model(request, user)
    admin.delete_queryset(request, User.objects.filter(pk=other.pk))
    assert not User.objects.filter(pk__in=ids).exists()
    assert client.get("/saml2/session/").status_code == 302  # signed out at once
    events = audit.AuditEvent.objects.filter(action=audit.Action.USER_DELETED).order_by("pk")
    assert [event.details for event in events] == [
        {"user_id": ids[0], "reason": "admin", "sessions_ended": 1},
        {"user_id": ids[1], "reason": "admin", "sessions_ended": 0},
    ]


def test_broker_fields_are_read_only_in_the_admin(rf: RequestFactory) -> None:
    user = broker_user("urn:uuid:x", days_ago=1)
    admin = IndblikUserAdmin(User, AdminSite())
    fields = admin.get_readonly_fields(rf.get("/"), user)
    assert {"persistent_id", "roles", "organisation_cvr", "username", "email"} <= set(fields)


def test_the_audit_actor_carries_the_broker_facts(
    broker: Broker, client: Client, rf: RequestFactory
) -> None:
    broker.login()
    request = rf.get("/")
    request.user = User.objects.get()
    actor = actor_for_request(request)
    assert actor is not None
    assert (actor.name, actor.authorisation, actor.organisation_cvr) == (
        "Mette Holm",
        "5D2K9",
        "64942212",
    )
    assert actor.role == "http://demo.indblik.dk/roles/jobrole/indblik-opslag/1"
    request.user = type("Anonymous", (), {"is_authenticated": False})()
    assert actor_for_request(request) is None


def test_the_replay_cache_refuses_a_second_insert_and_is_pruned() -> None:
    now = timezone.now()
    assert replay.remember("id-1", now + datetime.timedelta(minutes=5))
    assert not replay.remember("id-1", now + datetime.timedelta(minutes=5))
    assert replay.remember("id-old", now - datetime.timedelta(minutes=1))
    out = StringIO()
    call_command("saml", "prune", stdout=out)
    assert "1 expired assertion id(s) removed." in out.getvalue()
    assert list(SeenAssertion.objects.values_list("id", flat=True)) == ["id-1"]


def test_the_saml_command_prints_metadata_and_checks(sp_settings: Any) -> None:
    out = StringIO()
    call_command("saml", "metadata", stdout=out)
    assert out.getvalue().startswith("<ns0:EntityDescriptor")
    out = StringIO()
    call_command("saml", "check", stdout=out)
    assert "identity provider https://broker.test.example/idp" in out.getvalue()
    assert "SHA-256" in out.getvalue()


def test_deactivation_is_audited_even_without_sessions() -> None:
    user = broker_user("urn:uuid:y", days_ago=1)
    assert users.deactivate(user, reason="scim") == 0
    event = audit.AuditEvent.objects.get(action=audit.Action.USER_DEACTIVATED)
    assert event.details == {"user_id": user.pk, "reason": "scim", "sessions_ended": 0}
