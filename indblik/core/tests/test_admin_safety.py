"""Nothing in the admin can change or delete audit events, clinical data or access records.

A meta-test walks every registered model admin (as a superuser sees it), so a model admin
added later is checked without anyone remembering to: only the registry, users and groups may
be written through the admin, and no inline smuggles in a protected model.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse

from indblik import audit
from indblik.core.admin import offered_filters
from indblik.identity.models import User
from indblik.organisations.models import Organisation
from indblik.records.models import Patient, Resource

pytestmark = pytest.mark.django_db

# What an administrator may write through the admin, and nothing else.
WRITABLE = {"organisations.organisation", "identity.user", "auth.group"}
# Apps whose rows the admin must never write: the audit log, the clinical record, grants and
# review decisions (made, audited, in their own views), feedback answers.
PROTECTED_APPS = {"audit", "records", "access", "followup", "chart", "usage"}


@pytest.fixture
def superuser_request(rf: RequestFactory) -> Any:
    request = rf.get("/admin/")
    request.user = User.objects.create_superuser("root", password="not-used")
    return request


def test_only_the_registry_users_and_groups_are_writable_in_the_admin(
    superuser_request: Any,
) -> None:
    writable = set()
    for model, model_admin in admin.site._registry.items():
        if (
            model_admin.has_add_permission(superuser_request)
            or model_admin.has_change_permission(superuser_request)
            or model_admin.has_delete_permission(superuser_request)
        ):
            writable.add(model._meta.label_lower)
    assert writable == WRITABLE


def test_protected_models_have_no_actions_and_no_writable_inlines(superuser_request: Any) -> None:
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in PROTECTED_APPS:
            checked += 1
            assert model_admin.get_actions(superuser_request) == {}, model
        if model._meta.label_lower not in WRITABLE:
            continue  # its change page refuses every POST, inlines included (403)
        for inline in model_admin.get_inline_instances(superuser_request):
            if inline.model._meta.app_label in PROTECTED_APPS:
                assert not inline.has_add_permission(superuser_request, None), inline
                assert not inline.has_change_permission(superuser_request), inline
                assert not inline.has_delete_permission(superuser_request), inline
    assert checked >= 8  # audit 2, records 4, access 2, followup, usage


def test_organisations_cannot_be_deleted_in_the_admin(superuser_request: Any) -> None:
    model_admin = admin.site._registry[Organisation]
    assert not model_admin.has_delete_permission(superuser_request)
    assert "delete_selected" not in model_admin.get_actions(superuser_request)


def test_posting_to_the_audit_log_admin_changes_and_deletes_nothing(client: Client) -> None:
    event = audit.record(None, audit.Action.LOGIN, details={"kind": "professional"})
    client.force_login(User.objects.create_superuser("root", password="not-used"))
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    changelist = reverse("admin:audit_auditevent_changelist")
    assert client.post(change, {"action": "x", "details": "{}"}).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    client.post(changelist, {"action": "delete_selected", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.action == audit.Action.LOGIN and event.details == {"kind": "professional"}


def test_posting_to_the_record_admin_changes_and_deletes_nothing(client: Client) -> None:
    from indblik.chart.tests.conftest import load_citizens

    load_citizens(1)
    patient = Patient.objects.get()
    resource = Resource.objects.filter(patient=patient).first()
    assert resource is not None
    before = (Patient.objects.count(), Resource.objects.count(), patient.body, resource.body)
    client.force_login(User.objects.create_superuser("root", password="not-used"))
    for name, pk in (("patient", patient.pk), ("resource", resource.pk)):
        change = reverse(f"admin:records_{name}_change", args=[pk])
        delete = reverse(f"admin:records_{name}_delete", args=[pk])
        assert client.post(change, {"deceased": "on"}).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        changelist = reverse(f"admin:records_{name}_changelist")
        client.post(changelist, {"action": "delete_selected", "_selected_action": [pk]})
    patient.refresh_from_db()
    resource.refresh_from_db()
    assert before == (
        Patient.objects.count(),
        Resource.objects.count(),
        patient.body,
        resource.body,
    )


def test_no_protected_admin_lets_the_url_filter_by_a_column_it_does_not_offer(
    superuser_request: Any,
) -> None:
    # Django accepts a filter on any column in the changelist URL, shown or not; these pages
    # hide CPR numbers, names and the record's text, so their URLs must not search them.
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in PROTECTED_APPS:
            continue
        offered = offered_filters(model_admin)
        for field in model._meta.concrete_fields:
            if field.name in offered:
                continue
            for lookup in (field.name, f"{field.name}__contains", f"{field.name}__exact"):
                allowed = model_admin.lookup_allowed(lookup, "x", superuser_request)
                assert not allowed, f"{model._meta.label}: ?{lookup}= is allowed"
                checked += 1
    assert checked > 100


def test_looking_a_citizen_up_through_admin_urls_is_refused(client: Client) -> None:
    from indblik.chart.tests.conftest import load_citizens

    load_citizens(2)
    target = Patient.objects.order_by("pk").first()
    assert target is not None and target.cpr
    client.force_login(User.objects.create_superuser("root", password="not-used"))
    patients = reverse("admin:records_patient_changelist")
    resources = reverse("admin:records_resource_changelist")
    events = reverse("admin:audit_auditevent_changelist")
    queries: list[tuple[str, dict[str, str]]] = [
        (patients, {"cpr": target.cpr}),
        (patients, {"family": target.family}),
        (resources, {"patient__exact": str(target.pk), "section": "diagnoses"}),
        (resources, {"body__contains": "J18"}),
        (events, {"patient_cpr": target.cpr}),
    ]
    for url, query in queries:
        assert client.get(url, query).status_code == 400, (url, query)
    # The filters the pages offer still work.
    assert client.get(resources, {"section": "diagnoses"}).status_code == 200
    assert client.get(patients, {"deceased__exact": "0"}).status_code == 200
    resource = Resource.objects.filter(patient=target).exclude(code="").first()
    assert resource is not None
    change = client.get(reverse("admin:records_resource_change", args=[resource.pk]))
    assert change.status_code == 200 and resource.code not in change.content.decode()
