"""The admin shows the log read-only, with the CPR number masked."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from indblik.audit import Action, record
from indblik.audit.admin import AuditCheckpointAdmin, AuditEventAdmin
from indblik.audit.models import AuditCheckpoint, AuditEvent

pytestmark = pytest.mark.django_db


def test_nobody_can_add_change_or_delete_through_the_admin(rf: RequestFactory) -> None:
    request = rf.get("/admin/")
    for model, model_admin in (
        (AuditEvent, AuditEventAdmin),
        (AuditCheckpoint, AuditCheckpointAdmin),
    ):
        registered = admin.site._registry[model]
        assert isinstance(registered, model_admin)
        assert not registered.has_add_permission(request)
        assert not registered.has_change_permission(request)
        assert not registered.has_delete_permission(request)
        assert registered.get_actions(request) == {}


def test_the_cpr_number_is_masked_and_not_searchable() -> None:
    event = record(None, Action.PATIENT_READ, patient_cpr="0101701234")
    assert event.masked_cpr == "010170-xxxx"
    assert not AuditEventAdmin.search_fields
    assert "patient_cpr" in AuditEventAdmin.exclude


def test_an_administrator_sees_the_list_and_the_row_without_the_full_cpr(
    admin_client: Client, settings: Any
) -> None:
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    event = record(None, Action.PATIENT_READ, patient_cpr="0101701234", section="snapshot")
    listing = admin_client.get(reverse("admin:audit_auditevent_changelist"))
    detail = admin_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    for response in (listing, detail):
        assert response.status_code == 200
        body = response.content.decode()
        assert "010170-xxxx" in body
        assert "0101701234" not in body
    assert b'name="_save"' not in detail.content  # read-only: no save button


def test_the_list_filters_by_action_without_scanning_the_log(
    admin_client: Client, settings: Any
) -> None:
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    record(None, Action.PATIENT_READ)
    login = record(None, Action.LOGIN)
    url = reverse("admin:audit_auditevent_changelist")
    response = admin_client.get(url, {"action": "identity:session:login"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [login]
