"""The admin: every change through the registry (audited), statuses only through actions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from indblik.audit import Action, Actor
from indblik.organisations import registry
from indblik.organisations.models import Organisation, Status
from indblik.organisations.tests.conftest import AGREEMENT, CVR_B, ec_key, jwks, public

pytestmark = pytest.mark.django_db

Events = Callable[..., list[Any]]
CHANGELIST = reverse("admin:organisations_organisation_changelist")


@pytest.fixture
def staff(admin_client: Client) -> Client:
    """A hospital administrator (superuser) signed in to /admin/, reading English."""
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


def change_url(org: Organisation) -> str:
    return reverse("admin:organisations_organisation_change", args=[org.pk])


def form_data(response: Any) -> dict[str, Any]:
    """Return the POST data of an admin change form as the browser would submit it untouched."""
    data: dict[str, Any] = {}

    def put(form: Any) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value

    put(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for form in formset.forms:
            put(form)
    return data


def prefix_of(response: Any, model_name: str, **match: str) -> str:
    """Return the form prefix of the inline row whose instance matches ``match``."""
    for inline in response.context["inline_admin_formsets"]:
        for form in inline.formset.forms:
            if form.instance._meta.model_name == model_name and all(
                getattr(form.instance, key) == value for key, value in match.items()
            ):
                return str(form.prefix)
    raise AssertionError(f"no {model_name} row with {match}")


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def act(client: Client, action: str, *orgs: Organisation, **extra: str) -> Any:
    data = {"action": action, "_selected_action": [org.pk for org in orgs], **extra}
    return client.post(CHANGELIST, data, follow=True)


# --- status actions ---------------------------------------------------------------------------


def test_go_live_from_the_admin_is_refused_with_the_open_steps(
    staff: Client, municipality: Organisation, alice: Actor, events: Events
) -> None:
    registry.set_role(org=municipality, role_uri="http://kombit.dk/roles/jobrole/x/1", by=alice)
    registry.allow_network(org=municipality, cidrs=["10.0.0.0/16"], by=alice)
    response = act(staff, "go_live_selected", municipality)
    assert response.status_code == 200
    (message,) = messages_of(response)
    assert message == (
        "Københavns Kommune: Go-live refused: these onboarding steps are still open: button, "
        "network, ad-group, job-role, whitelist, agreement."
    )
    municipality.refresh_from_db()
    assert municipality.status == Status.ONBOARDING
    refused = events(Action.ORGANISATION_STATUS_CHANGE)[-1]
    assert refused.outcome == "refused"
    assert refused.actor_name == "admin"
    assert refused.client_ip == "127.0.0.1"


def test_go_live_from_the_admin_succeeds_when_every_step_is_done(
    staff: Client, ready: Organisation, events: Events
) -> None:
    response = act(staff, "go_live_selected", ready)
    assert messages_of(response) == ["Københavns Kommune is live."]
    ready.refresh_from_db()
    assert ready.status == Status.LIVE
    assert ready.status_history.last().by_name == "admin"  # type: ignore[union-attr]
    assert events(Action.ORGANISATION_STATUS_CHANGE)[-1].user_id is not None


def test_suspending_from_the_admin_asks_for_a_reason_first(
    staff: Client, live: Organisation
) -> None:
    page = act(staff, "suspend_selected", live)
    assert page.templates[0].name == "admin/organisations/organisation/suspend.html"
    assert b'name="reason"' in page.content
    live.refresh_from_db()
    assert live.status == Status.LIVE

    empty = act(staff, "suspend_selected", live, apply="yes", reason="")
    assert b"This field is required" in empty.content
    live.refresh_from_db()
    assert live.status == Status.LIVE

    done = act(staff, "suspend_selected", live, apply="yes", reason="Agreement lapsed")
    assert messages_of(done) == ["Københavns Kommune is suspended."]
    live.refresh_from_db()
    assert live.status == Status.SUSPENDED
    assert live.status_history.last().reason == "Agreement lapsed"  # type: ignore[union-attr]

    resumed = act(staff, "resume_selected", live)
    assert messages_of(resumed) == ["Københavns Kommune is live again."]


def test_the_admin_cannot_delete_an_organisation(staff: Client, live: Organisation) -> None:
    response = staff.get(reverse("admin:organisations_organisation_delete", args=[live.pk]))
    assert response.status_code == 403
    choices = staff.get(CHANGELIST).context["action_form"].fields["action"].choices
    names = [name for name, _label in choices]
    assert "delete_selected" not in names
    assert {"go_live_selected", "suspend_selected", "resume_selected"} <= set(names)


# --- registering and editing ------------------------------------------------------------------


def test_registering_through_the_admin_goes_through_the_registry(
    staff: Client, events: Events
) -> None:
    add = reverse("admin:organisations_organisation_add")
    data = form_data(staff.get(add))
    data.update(
        cvr=CVR_B,
        name="Frederiksberg Kommune",
        type="municipality",
        municipality_code="0147",
        role_uri="http://kombit.dk/roles/jobrole/indblik-opslag/1",
        add_keys=jwks(public(ec_key("eoj-1"))),
    )
    data["network_ranges-0-cidr"] = "10.30.4.5/16"
    response = staff.post(add, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    org = Organisation.objects.get(cvr=CVR_B)
    assert org.status == Status.ONBOARDING
    assert org.open_steps() == [
        "button",
        "network",
        "ad-group",
        "job-role",
        "whitelist",
        "agreement",
    ]
    assert list(org.network_ranges.values_list("cidr", flat=True)) == ["10.30.0.0/16"]
    assert list(org.keys.values_list("kid", flat=True)) == ["eoj-1"]
    assert org.role_uri.endswith("indblik-opslag/1")
    actions = [event.action for event in events()]
    assert actions == [
        Action.ORGANISATION_CHANGE,
        Action.ORGANISATION_ROLE_CHANGE,
        Action.ORGANISATION_KEY_CHANGE,
        Action.ORGANISATION_NETWORK_CHANGE,
    ]
    assert all(event.actor_name == "admin" for event in events())


def test_the_admin_form_refuses_a_bad_cvr_and_a_private_key(staff: Client) -> None:
    add = reverse("admin:organisations_organisation_add")
    data = form_data(staff.get(add))
    data.update(
        cvr="11259978",
        name="X",
        type="hospice",
        add_keys=json.dumps(ec_key("k").as_dict(private=True)),
    )
    response = staff.post(add, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "check digit" in errors["cvr"][0]
    assert "this is a private key: send only the public part" in errors["add_keys"][0]
    assert not Organisation.objects.exists()


def test_editing_details_is_audited_with_before_and_after(
    staff: Client, municipality: Organisation, events: Events
) -> None:
    url = change_url(municipality)
    data = form_data(staff.get(url))
    data.update(care_system="Cura", security_officer_name="Sif Sikker")
    response = staff.post(url, data)
    assert response.status_code == 302
    event = events(Action.ORGANISATION_CHANGE)[-1]
    assert event.details["before"] == {"care_system": "", "security_officer_name": ""}
    assert event.details["after"] == {"care_system": "Cura", "security_officer_name": "Sif Sikker"}
    assert event.actor_name == "admin"


def test_the_cvr_and_status_cannot_be_edited(staff: Client, municipality: Organisation) -> None:
    url = change_url(municipality)
    data = form_data(staff.get(url))
    data.update(cvr=CVR_B, status="live")
    assert staff.post(url, data).status_code == 302
    municipality.refresh_from_db()
    assert (municipality.cvr, municipality.status) == ("64942212", Status.ONBOARDING)


# --- inlines ----------------------------------------------------------------------------------


def test_a_checklist_step_is_completed_and_reopened_through_the_inline(
    staff: Client, municipality: Organisation, events: Events
) -> None:
    url = change_url(municipality)
    page = staff.get(url)
    agreement = prefix_of(page, "checkliststep", step="agreement")
    data = form_data(page)
    data[f"{agreement}-done"] = "on"
    data[f"{agreement}-evidence"] = "signed"  # no date: refused beside the field
    response = staff.post(url, data)
    assert response.status_code == 200
    assert b"date it was signed" in response.content
    data[f"{agreement}-evidence"] = AGREEMENT
    assert staff.post(url, data).status_code == 302
    assert "agreement" not in municipality.open_steps()
    done = events(Action.ORGANISATION_CHECKLIST_DONE)[-1]
    assert done.details["after"] == {"done": True, "evidence": AGREEMENT}

    data = form_data(staff.get(url))
    del data[f"{agreement}-done"]
    assert staff.post(url, data).status_code == 302
    assert "agreement" in municipality.open_steps()
    assert events(Action.ORGANISATION_CHECKLIST_REOPEN)[-1].details["before"]["evidence"] == (
        AGREEMENT
    )


def test_a_refused_step_is_reported_and_the_rest_is_saved(
    staff: Client, municipality: Organisation
) -> None:
    url = change_url(municipality)
    page = staff.get(url)
    data = form_data(page)
    data[f"{prefix_of(page, 'checkliststep', step='job-role')}-done"] = "on"  # no role yet
    data[f"{prefix_of(page, 'checkliststep', step='button')}-done"] = "on"
    response = staff.post(url, data, follow=True)
    assert any("Set the organisation's role" in text for text in messages_of(response))
    assert municipality.open_steps() == [
        "network",
        "ad-group",
        "job-role",
        "whitelist",
        "agreement",
    ]


def test_network_ranges_are_added_and_removed_through_the_inline(
    staff: Client, municipality: Organisation, alice: Actor, events: Events
) -> None:
    registry.allow_network(org=municipality, cidrs=["10.20.0.0/16"], by=alice)
    url = change_url(municipality)
    page = staff.get(url)
    data = form_data(page)
    existing = prefix_of(page, "networkrange", cidr="10.20.0.0/16")
    data[f"{existing}-DELETE"] = "on"
    data["network_ranges-1-cidr"] = "2001:db8:7::1/48"
    assert staff.post(url, data).status_code == 302
    assert list(municipality.network_ranges.values_list("cidr", flat=True)) == ["2001:db8:7::/48"]
    allow, deny = events(Action.ORGANISATION_NETWORK_CHANGE)[-2:]
    assert allow.details["added"] == ["2001:db8:7::/48"]
    assert deny.details["removed"] == ["10.20.0.0/16"]

    data = form_data(staff.get(url))
    data["network_ranges-1-cidr"] = "0.0.0.0/0"
    response = staff.post(url, data)
    assert response.status_code == 200
    assert b"too wide" in response.content


def test_keys_are_shown_read_only_and_removed_through_the_inline(
    staff: Client, municipality: Organisation, alice: Actor, events: Events
) -> None:
    registry.add_keys(org=municipality, jwks_json=jwks(public(ec_key("eoj-1"))), by=alice)
    url = change_url(municipality)
    page = staff.get(url)
    assert b"eoj-1" in page.content and b"EC P-256 256 bits" in page.content
    assert b'name="keys-0-jwk"' not in page.content  # never editable
    data = form_data(page)
    data[f"{prefix_of(page, 'caresystemkey', kid='eoj-1')}-remove"] = "on"
    data["add_keys"] = jwks(public(ec_key("eoj-2")))
    assert staff.post(url, data).status_code == 302
    active = municipality.keys.filter(removed_at__isnull=True)
    assert list(active.values_list("kid", flat=True)) == ["eoj-2"]
    added, removed = events(Action.ORGANISATION_KEY_CHANGE)[-2:]
    assert (added.details["change"], removed.details["change"]) == ("add", "remove")

    data = form_data(staff.get(url))
    data["add_keys"] = jwks(public(ec_key("eoj-1")))  # a kid used before
    response = staff.post(url, data)
    assert response.status_code == 200
    assert b"already used by this organisation: eoj-1" in response.content


def test_the_status_history_is_shown_and_cannot_be_edited(
    staff: Client, live: Organisation
) -> None:
    page = staff.get(change_url(live))
    assert b"Onboarding" in page.content  # the first history row: registered
    assert b'name="status_history-0-reason"' not in page.content
