"""Registering, editing, the checklist gate, status transitions, and their audit events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from indblik.audit import Action, Actor, Outcome
from indblik.audit.errors import AuditWriteError
from indblik.organisations import registry
from indblik.organisations.errors import GoLiveRefused, RegistryError, TransitionRefused
from indblik.organisations.models import ChecklistStep, Organisation, Status, StatusChange, Step
from indblik.organisations.tests.conftest import (
    AGREEMENT,
    CVR_A,
    CVR_C,
    EVIDENCE,
    ROLE,
    make_ready,
)

pytestmark = pytest.mark.django_db

Events = Callable[..., list[Any]]


# --- registering ------------------------------------------------------------------------------


def test_a_new_organisation_is_onboarding_with_six_open_steps(
    municipality: Organisation, events: Events
) -> None:
    assert municipality.status == Status.ONBOARDING
    assert municipality.open_steps() == Step.values
    assert ChecklistStep.objects.filter(organisation=municipality).count() == 6
    history = list(municipality.status_history.all())
    assert [(h.from_status, h.to_status, h.by_name) for h in history] == [
        ("", "onboarding", "command-line (alice)")
    ]
    (event,) = events(Action.ORGANISATION_CHANGE)
    assert event.actor_name == "command-line (alice)"
    assert event.details["change"] == "add"
    assert event.details["before"] is None
    assert event.details["after"]["cvr"] == CVR_A
    assert event.details["after"]["municipality_code"] == "0101"


def test_it_refuses_a_municipality_without_a_municipality_code(db: None, alice: Actor) -> None:
    with pytest.raises(ValidationError) as error:
        registry.add_organisation(cvr=CVR_A, name="K", type="municipality", by=alice)
    assert "municipality_code" in error.value.message_dict
    assert not Organisation.objects.exists()


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"cvr": "64942213"}, "cvr"),
        ({"type": "hospital"}, "type"),
        ({"municipality_code": "0999"}, "municipality_code"),
        ({"sor_code": "SOR-1"}, "sor_code"),
        ({"name": ""}, "name"),
    ],
)
def test_it_refuses_a_bad_field_and_writes_nothing(
    db: None, alice: Actor, events: Events, fields: dict[str, str], bad: str
) -> None:
    values: dict[str, Any] = {
        "cvr": CVR_A,
        "name": "K",
        "type": "municipality",
        "municipality_code": "0101",
    }
    with pytest.raises(ValidationError) as error:
        registry.add_organisation(**(values | fields), by=alice)
    assert bad in error.value.message_dict
    assert not Organisation.objects.exists()
    assert events() == []


def test_a_cvr_number_is_registered_once(municipality: Organisation, alice: Actor) -> None:
    with pytest.raises(ValidationError) as error:
        registry.add_organisation(cvr=CVR_A, name="Again", type="hospice", by=alice)
    assert "cvr" in error.value.message_dict


def test_other_types_need_no_municipality_code(db: None, alice: Actor) -> None:
    org = registry.add_organisation(
        cvr=CVR_C,
        name="Nærklinik Amager",
        type="near-clinic",
        sor_code="491001000016000",
        care_system="Nexus",
        contacts={"security_officer_email": "sik@example.dk"},
        by=alice,
    )
    assert org.municipality_code == ""
    assert org.security_officer_email == "sik@example.dk"


def test_an_update_records_only_what_changed(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    registry.update_organisation(
        org=municipality,
        changes={
            "name": "Københavns Kommune",
            "care_system": "Cura",
            "technical_contact_name": "Bo It",
        },
        by=alice,
    )
    assert municipality.care_system == "Cura"
    event = events(Action.ORGANISATION_CHANGE)[-1]
    assert event.details["change"] == "update"
    assert event.details["before"] == {"care_system": "", "technical_contact_name": ""}
    assert event.details["after"] == {"care_system": "Cura", "technical_contact_name": "Bo It"}


def test_an_update_that_changes_nothing_writes_nothing(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    before = len(events())
    registry.update_organisation(org=municipality, changes={"name": municipality.name}, by=alice)
    assert len(events()) == before


@pytest.mark.parametrize("field", ["cvr", "status", "role_uri"])
def test_an_update_cannot_change_the_cvr_the_status_or_the_role(
    municipality: Organisation, alice: Actor, field: str
) -> None:
    with pytest.raises(RegistryError):
        registry.update_organisation(org=municipality, changes={field: "x"}, by=alice)


def test_an_update_is_validated(municipality: Organisation, alice: Actor) -> None:
    with pytest.raises(ValidationError):
        registry.update_organisation(
            org=municipality, changes={"security_officer_email": "not an email"}, by=alice
        )
    municipality.refresh_from_db()
    assert municipality.security_officer_email == ""


def test_long_values_are_shortened_in_the_audit_event_not_refused(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    def values(word: str) -> dict[str, str]:
        text = f"{word} " * 40
        return {
            "name": text[:200],
            "care_system": text[:100],
            "security_officer_name": text[:200],
            "technical_contact_name": text[:200],
            "security_officer_email": f"{word}@example.dk",
            "technical_contact_email": f"{word}@example.dk",
        }

    registry.update_organisation(org=municipality, changes=values("first"), by=alice)
    registry.update_organisation(org=municipality, changes=values("second"), by=alice)
    assert municipality.name.startswith("second second")
    event = events(Action.ORGANISATION_CHANGE)[-1]
    assert event.details["shortened"] is True
    assert set(event.details["after"]) == set(values("x"))
    assert event.details["after"]["name"].startswith("second second")


# --- the role ---------------------------------------------------------------------------------


def test_setting_the_role_is_audited_with_before_and_after(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    registry.set_role(org=municipality, role_uri=ROLE, by=alice)
    registry.set_role(org=municipality, role_uri=ROLE, by=alice)  # unchanged: no event
    other = "http://kombit.dk/roles/usersystemrole/indblik/2"
    registry.set_role(org=municipality, role_uri=other, by=alice)
    assert municipality.role_uri == other
    first, second = events(Action.ORGANISATION_ROLE_CHANGE)
    assert (first.details["before"], first.details["after"]) == (
        {"role_uri": ""},
        {"role_uri": ROLE},
    )
    assert (second.details["before"], second.details["after"]) == (
        {"role_uri": ROLE},
        {"role_uri": other},
    )


def test_a_malformed_role_is_refused(municipality: Organisation, alice: Actor) -> None:
    with pytest.raises(ValidationError):
        registry.set_role(org=municipality, role_uri="indblik-opslag", by=alice)


# --- the checklist ----------------------------------------------------------------------------


def test_completing_a_step_records_when_who_and_the_evidence(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    row = registry.complete_step(org=municipality, step="network", evidence="SDN-4711", by=alice)
    assert row.done_at is not None
    assert (row.done_by_name, row.evidence) == ("command-line (alice)", "SDN-4711")
    (event,) = events(Action.ORGANISATION_CHECKLIST_DONE)
    assert event.details["step"] == "network"
    assert event.details["before"] == {"done": False}
    assert event.details["after"] == {"done": True, "evidence": "SDN-4711"}
    assert municipality.open_steps() == ["button", "ad-group", "job-role", "whitelist", "agreement"]


def test_the_agreement_needs_its_date_and_document_reference(
    municipality: Organisation, alice: Actor
) -> None:
    with pytest.raises(ValidationError, match="date it was signed"):
        registry.complete_step(org=municipality, step="agreement", evidence="signed", by=alice)
    registry.complete_step(org=municipality, step="agreement", evidence=AGREEMENT, by=alice)


def test_the_job_role_step_needs_the_role(municipality: Organisation, alice: Actor) -> None:
    with pytest.raises(RegistryError, match="role"):
        registry.complete_step(org=municipality, step="job-role", by=alice)
    registry.set_role(org=municipality, role_uri=ROLE, by=alice)
    registry.complete_step(org=municipality, step="job-role", by=alice)


def test_the_whitelist_step_needs_a_network_range(municipality: Organisation, alice: Actor) -> None:
    with pytest.raises(RegistryError, match="network range"):
        registry.complete_step(org=municipality, step="whitelist", by=alice)
    registry.allow_network(org=municipality, cidrs=["10.0.0.0/16"], by=alice)
    registry.complete_step(org=municipality, step="whitelist", by=alice)


def test_a_done_step_cannot_be_done_again(municipality: Organisation, alice: Actor) -> None:
    registry.complete_step(org=municipality, step="button", by=alice)
    with pytest.raises(RegistryError, match="already done"):
        registry.complete_step(org=municipality, step="button", evidence="other", by=alice)


def test_an_unknown_step_is_refused_with_the_list_of_steps(
    municipality: Organisation, alice: Actor
) -> None:
    with pytest.raises(RegistryError, match="button, network, ad-group"):
        registry.complete_step(org=municipality, step="firewall", by=alice)


def test_reopening_a_step_clears_it_and_audits_the_old_evidence(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    registry.complete_step(org=municipality, step="network", evidence="SDN-4711", by=alice)
    row = registry.reopen_step(org=municipality, step="network", reason="wrong ticket", by=alice)
    assert (row.done_at, row.evidence, row.done_by_name) == (None, "", "")
    (event,) = events(Action.ORGANISATION_CHECKLIST_REOPEN)
    assert event.details["before"]["evidence"] == "SDN-4711"
    assert event.details["after"] == {"done": False}
    assert event.reason == "wrong ticket"


def test_an_open_step_cannot_be_reopened(municipality: Organisation, alice: Actor) -> None:
    with pytest.raises(RegistryError, match="not done"):
        registry.reopen_step(org=municipality, step="network", by=alice)


def test_a_live_organisation_cannot_reopen_a_step(live: Organisation, alice: Actor) -> None:
    with pytest.raises(TransitionRefused, match="suspend"):
        registry.reopen_step(org=live, step="agreement", by=alice)


# --- going live -------------------------------------------------------------------------------


@pytest.mark.parametrize("open_step", Step.values)
def test_go_live_is_refused_while_one_step_is_open(
    municipality: Organisation, alice: Actor, events: Events, open_step: str
) -> None:
    make_ready(municipality, alice, skip=open_step)
    with pytest.raises(GoLiveRefused) as error:
        registry.go_live(org=municipality, by=alice)
    assert error.value.open_steps == [open_step]
    assert error.value.missing == []
    assert open_step in " ".join(error.value.messages)
    municipality.refresh_from_db()
    assert municipality.status == Status.ONBOARDING
    refused = events(Action.ORGANISATION_STATUS_CHANGE)[-1]
    assert refused.outcome == Outcome.REFUSED
    assert refused.details["open_steps"] == [open_step]


def test_go_live_lists_every_open_step_and_missing_setup(
    municipality: Organisation, alice: Actor
) -> None:
    with pytest.raises(GoLiveRefused) as error:
        registry.go_live(org=municipality, by=alice)
    assert error.value.open_steps == Step.values
    assert error.value.missing == ["role", "network allowlist"]


def test_go_live_is_refused_when_the_last_range_was_removed_after_the_whitelist_step(
    ready: Organisation, alice: Actor
) -> None:
    registry.deny_network(org=ready, cidrs=["10.20.0.0/16", "2001:db8:1::/48"], by=alice)
    with pytest.raises(GoLiveRefused) as error:
        registry.go_live(org=ready, by=alice)
    assert (error.value.open_steps, error.value.missing) == ([], ["network allowlist"])


def test_go_live_succeeds_when_every_step_is_done(
    ready: Organisation, alice: Actor, events: Events
) -> None:
    org = registry.go_live(org=ready, by=alice)
    assert org.status == Status.LIVE
    change = org.status_history.last()
    assert change is not None
    assert (change.from_status, change.to_status, change.by_name) == (
        "onboarding",
        "live",
        "command-line (alice)",
    )
    event = events(Action.ORGANISATION_STATUS_CHANGE)[-1]
    assert event.outcome == Outcome.SUCCESS
    assert (event.details["before"], event.details["after"]) == (
        {"status": "onboarding"},
        {"status": "live"},
    )


def test_a_live_organisation_cannot_go_live_again(live: Organisation, alice: Actor) -> None:
    with pytest.raises(TransitionRefused, match="resume"):
        registry.go_live(org=live, by=alice)


# --- suspending and resuming ------------------------------------------------------------------


def test_suspending_needs_a_reason(live: Organisation, alice: Actor) -> None:
    with pytest.raises(RegistryError, match="reason"):
        registry.suspend(org=live, reason="   ", by=alice)
    live.refresh_from_db()
    assert live.status == Status.LIVE


def test_suspend_and_resume_are_kept_in_the_history_with_their_reasons(
    live: Organisation, alice: Actor, events: Events
) -> None:
    registry.suspend(org=live, reason="Agreement lapsed\non 1 May", by=alice)
    assert live.status == Status.SUSPENDED
    registry.resume(org=live, reason="New agreement signed", by=alice)
    assert live.status == Status.LIVE
    history = [
        (h.from_status, h.to_status, h.reason)
        for h in StatusChange.objects.filter(organisation=live).order_by("at", "pk")
    ]
    assert history == [
        ("", "onboarding", "registered"),
        ("onboarding", "live", ""),
        ("live", "suspended", "Agreement lapsed on 1 May"),
        ("suspended", "live", "New agreement signed"),
    ]
    suspended, resumed = events(Action.ORGANISATION_STATUS_CHANGE)[-2:]
    assert suspended.details["after"] == {"status": "suspended"}
    assert suspended.reason == "Agreement lapsed on 1 May"
    assert resumed.details["before"] == {"status": "suspended"}


def test_only_a_live_organisation_can_be_suspended(
    municipality: Organisation, alice: Actor
) -> None:
    with pytest.raises(TransitionRefused):
        registry.suspend(org=municipality, reason="test", by=alice)


def test_only_a_suspended_organisation_can_be_resumed(live: Organisation, alice: Actor) -> None:
    with pytest.raises(TransitionRefused, match="nothing to resume"):
        registry.resume(org=live, by=alice)


def test_resuming_is_refused_while_a_step_reopened_during_the_suspension_is_open(
    live: Organisation, alice: Actor
) -> None:
    registry.suspend(org=live, reason="Agreement lapsed", by=alice)
    registry.reopen_step(org=live, step="agreement", by=alice)
    with pytest.raises(GoLiveRefused) as error:
        registry.resume(org=live, by=alice)
    assert error.value.open_steps == ["agreement"]
    registry.complete_step(org=live, step="agreement", evidence=EVIDENCE["agreement"], by=alice)
    registry.resume(org=live, by=alice)
    assert live.status == Status.LIVE


# --- fail closed ------------------------------------------------------------------------------


def test_a_change_whose_audit_event_cannot_be_written_is_rolled_back(
    municipality: Organisation, alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise AuditWriteError("the audit event could not be written")

    monkeypatch.setattr("indblik.organisations.registry.audit.record", broken)
    with pytest.raises(AuditWriteError):
        registry.complete_step(org=municipality, step="button", by=alice)
    with pytest.raises(AuditWriteError):
        registry.allow_network(org=municipality, cidrs=["10.0.0.0/8"], by=alice)
    assert municipality.open_steps() == Step.values
    assert not municipality.network_ranges.exists()


def test_the_admin_request_lands_in_the_audit_row(
    municipality: Organisation, alice: Actor, events: Events, rf: Any
) -> None:
    request = rf.post("/admin/", REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="Firefox")
    registry.complete_step(org=municipality, step="button", by=alice, request=request)
    event = events(Action.ORGANISATION_CHECKLIST_DONE)[-1]
    assert (event.client_ip, event.user_agent, event.actor_name) == (
        "192.0.2.7",
        "Firefox",
        "command-line (alice)",
    )


def test_get_organisation_names_an_unknown_cvr(db: None) -> None:
    with pytest.raises(RegistryError, match="29190909"):
        registry.get_organisation("29190909")
