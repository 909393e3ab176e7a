"""`indblik org …`: every subcommand's happy path, and clear errors that change nothing."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from indblik.audit import Action, Actor
from indblik.organisations import registry
from indblik.organisations.models import Organisation, Status
from indblik.organisations.tests.conftest import (
    AGREEMENT,
    CVR_A,
    CVR_B,
    ROLE,
    ec_key,
    jwks,
    make_ready,
    public,
)

pytestmark = pytest.mark.django_db

Events = Callable[..., list[Any]]


def org(*args: str) -> str:
    """Run ``indblik org ARGS…`` and return what it printed."""
    out = io.StringIO()
    call_command("org", *args, stdout=out, stderr=out)
    return out.getvalue()


def fails(*args: str, match: str) -> None:
    with pytest.raises(CommandError, match=match):
        org(*args)


def test_add_registers_an_organisation_audited_as_the_operator(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    output = org(
        "add",
        "--cvr",
        CVR_B,
        "--name",
        "Frederiksberg Kommune",
        "--type",
        "municipality",
        "--municipality-code",
        "0147",
        "--sor",
        "471471000016007",
        "--care-system",
        "Nexus",
        "--security-officer",
        "Sif Sikker",
        "--security-officer-email",
        "sif@frb.dk",
    )
    assert "Registered Frederiksberg Kommune (11259979)" in output
    created = Organisation.objects.get(cvr=CVR_B)
    assert (created.municipality_code, created.sor_code, created.care_system) == (
        "0147",
        "471471000016007",
        "Nexus",
    )
    assert created.security_officer_email == "sif@frb.dk"
    (event,) = events(Action.ORGANISATION_CHANGE)
    assert event.actor_name == "command-line (alice)"
    assert event.user_id is None


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--cvr", "11259978", "--type", "hospice"], "check digit"),
        (["--cvr", "1125997", "--type", "hospice"], "exactly 8 digits"),
        (["--cvr", CVR_B, "--type", "municipality"], "municipality needs its municipality code"),
        (
            ["--cvr", CVR_B, "--type", "municipality", "--municipality-code", "0999"],
            "not a Danish municipality code",
        ),
        (["--cvr", CVR_B, "--type", "hospital"], "invalid choice"),
        (["--cvr", CVR_B, "--type", "hospice", "--sor", "SOR1"], "SOR code is digits only"),
    ],
)
def test_add_refuses_bad_input_and_writes_nothing(
    events: Events, args: list[str], match: str
) -> None:
    fails("add", "--name", "X", *args, match=match)
    assert not Organisation.objects.exists()
    assert events() == []


def test_add_refuses_a_cvr_already_registered(municipality: Organisation) -> None:
    fails("add", "--cvr", CVR_A, "--name", "X", "--type", "hospice", match="already exists")


def test_update_changes_details(municipality: Organisation) -> None:
    output = org("update", CVR_A, "--care-system", "Cura", "--technical-contact", "Bo It")
    assert "care_system, technical_contact_name" in output
    municipality.refresh_from_db()
    assert (municipality.care_system, municipality.technical_contact_name) == ("Cura", "Bo It")
    fails("update", CVR_A, match="nothing to change")
    fails("update", CVR_A, "--technical-contact-email", "nope", match="valid email")


def test_show_prints_status_checklist_networks_keys_role_contacts_and_history(
    ready: Organisation, alice: Actor
) -> None:
    registry.update_organisation(
        org=ready,
        changes={"security_officer_name": "Sif", "security_officer_email": "s@kk.dk"},
        by=alice,
    )
    registry.add_keys(org=ready, jwks_json=jwks(public(ec_key("eoj-1"))), by=alice)
    registry.add_keys(org=ready, jwks_json=jwks(public(ec_key("eoj-0"))), by=alice)
    registry.remove_key(org=ready, kid="eoj-0", by=alice)
    output = org("show", CVR_A)
    assert "Københavns Kommune (CVR 64942212)" in output
    assert "municipality (0101 Københavns Kommune)" in output
    assert "status             onboarding" in output
    assert f"role               {ROLE}" in output
    assert "security officer   Sif <s@kk.dk>" in output
    assert "Checklist (6/6 done)" in output
    assert "agreement  " in output and AGREEMENT in output
    assert "10.20.0.0/16" in output and "2001:db8:1::/48" in output
    assert "Care-system keys (1 active)" in output
    assert "eoj-1  EC P-256 256 bits" in output
    assert "eoj-0" in output and "removed" in output
    assert "- -> onboarding  by command-line (alice)  (registered)" in output


def test_show_refuses_an_unknown_cvr() -> None:
    fails("show", CVR_B, match="No organisation with CVR number 11259979")


def test_list_shows_every_organisation_with_status_and_progress(
    live: Organisation, alice: Actor
) -> None:
    registry.add_organisation(
        cvr=CVR_B,
        name="Frederiksberg Kommune",
        type="municipality",
        municipality_code="0147",
        by=alice,
    )
    lines = org("list").splitlines()
    assert lines[0].split() == ["CVR", "TYPE", "STATUS", "STEPS", "NAME"]
    assert lines[1].split() == [
        CVR_B,
        "municipality",
        "onboarding",
        "0/6",
        "Frederiksberg",
        "Kommune",
    ]
    assert lines[2].split() == [CVR_A, "municipality", "live", "6/6", "Københavns", "Kommune"]
    assert len(org("list", "--status", "live").splitlines()) == 2
    assert org("list", "--status", "suspended").strip() == "No suspended organisations."


def test_checklist_marks_steps_done_and_reopens_them(municipality: Organisation) -> None:
    output = org("checklist", CVR_A, "--done", "network", "--evidence", "SDN ticket 4711")
    assert "step network done" in output
    assert "[x] network" in output and "SDN ticket 4711" in output
    assert "[ ] agreement" in output
    output = org("checklist", CVR_A, "--reopen", "network", "--reason", "wrong ticket")
    assert "[ ] network" in output
    assert "Checklist (0/6 done)" in org("checklist", CVR_A)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--done", "firewall"], "invalid choice"),
        (["--done", "agreement", "--evidence", "signed"], "date it was signed"),
        (["--done", "job-role"], "Set the organisation's role"),
        (["--reopen", "network"], "not done"),
        (["--evidence", "x"], "--evidence needs --done"),
        (["--done", "network", "--reopen", "button"], "not allowed with argument"),
        (["--reopen", "button", "--evidence", "x"], "--evidence goes with --done"),
    ],
)
def test_checklist_refuses_bad_input(
    municipality: Organisation, args: list[str], match: str
) -> None:
    fails("checklist", CVR_A, *args, match=match)
    assert municipality.open_steps() == [
        "button",
        "network",
        "ad-group",
        "job-role",
        "whitelist",
        "agreement",
    ]


def test_allow_and_deny_network(municipality: Organisation) -> None:
    assert "allowed 10.20.0.0/16, 2001:db8::/48" in org(
        "allow-network", CVR_A, "10.20.3.4/16", "2001:db8::/48"
    )
    assert "already allowed" in org("allow-network", CVR_A, "10.20.0.0/16")
    assert "removed 10.20.0.0/16" in org("deny-network", CVR_A, "10.20.0.0/16")
    output = org("deny-network", CVR_A, "2001:db8::/48")
    assert "no network range left" in output
    assert not municipality.network_ranges.exists()


@pytest.mark.parametrize(
    ("command", "cidrs", "match"),
    [
        ("allow-network", ["0.0.0.0/0"], "too wide"),
        ("allow-network", ["10.0.0.0/16", "::/8"], "too wide"),
        ("allow-network", ["10.0.0.300/16"], "not a network address"),
        ("deny-network", ["10.9.0.0/16"], "Not in the allowlist"),
    ],
)
def test_network_commands_refuse_bad_ranges_and_change_nothing(
    municipality: Organisation, command: str, cidrs: list[str], match: str
) -> None:
    fails(command, CVR_A, *cidrs, match=match)
    assert not municipality.network_ranges.exists()


def test_add_key_reads_a_jwks_file_and_remove_key_removes_one(
    municipality: Organisation, tmp_path: Path
) -> None:
    path = tmp_path / "eoj.jwks.json"
    path.write_text(jwks(public(ec_key("eoj-2025")), public(ec_key("eoj-2026"))))
    output = org("add-key", CVR_A, str(path))
    assert "added key eoj-2025 (EC P-256 256 bits, thumbprint" in output
    assert "added key eoj-2026" in output
    assert "key eoj-2025 removed" in org("remove-key", CVR_A, "eoj-2025")
    assert [key.kid for key in municipality.keys.filter(removed_at__isnull=True)] == ["eoj-2026"]


def test_add_key_reads_standard_input(
    municipality: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = json.dumps(public(ec_key("from-stdin"))).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert "added key from-stdin" in org("add-key", CVR_A, "-")


def test_add_key_refuses_a_private_key_and_a_missing_file(
    municipality: Organisation, tmp_path: Path
) -> None:
    path = tmp_path / "leaked.json"
    path.write_text(json.dumps(ec_key("k").as_dict(private=True)))
    fails("add-key", CVR_A, str(path), match="this is a private key: send only the public part")
    fails("add-key", CVR_A, str(tmp_path / "missing.json"), match="cannot read")
    fails("remove-key", CVR_A, "k", match="no key with kid 'k'")
    assert not municipality.keys.exists()


def test_role_sets_the_role_and_refuses_a_malformed_one(municipality: Organisation) -> None:
    assert ROLE in org("role", CVR_A, ROLE)
    fails("role", CVR_A, "indblik-opslag", match="must look like")
    municipality.refresh_from_db()
    assert municipality.role_uri == ROLE


def test_go_live_is_refused_with_the_open_steps_then_succeeds(
    municipality: Organisation, alice: Actor
) -> None:
    make_ready(municipality, alice, skip="agreement")
    fails("go-live", CVR_A, match="still open: agreement")
    org("checklist", CVR_A, "--done", "agreement", "--evidence", AGREEMENT)
    assert "is live" in org("go-live", CVR_A)
    municipality.refresh_from_db()
    assert municipality.status == Status.LIVE
    fails("go-live", CVR_A, match="not onboarding")


def test_suspend_needs_a_reason_and_resume_lifts_it(live: Organisation) -> None:
    fails("suspend", CVR_A, match="--reason")
    fails("suspend", CVR_A, "--reason", " ", match="Give a reason")
    assert "is suspended" in org("suspend", CVR_A, "--reason", "Agreement lapsed")
    fails("suspend", CVR_A, "--reason", "again", match="Only a live organisation")
    assert "live again" in org("resume", CVR_A, "--reason", "New agreement 2025-06-01")
    live.refresh_from_db()
    assert live.status == Status.LIVE
    assert live.status_history.last().reason == "New agreement 2025-06-01"  # type: ignore[union-attr]
    fails("resume", CVR_A, match="nothing to resume")


def test_a_failed_audit_write_is_reported_and_changes_nothing(
    municipality: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indblik.audit.errors import AuditWriteError

    def broken(*args: Any, **kwargs: Any) -> None:
        raise AuditWriteError("the audit event could not be written")

    monkeypatch.setattr("indblik.organisations.registry.audit.record", broken)
    fails("role", CVR_A, ROLE, match="nothing was changed")
    municipality.refresh_from_db()
    assert municipality.role_uri == ""


def test_a_subcommand_is_required() -> None:
    with pytest.raises(CommandError, match="required"):
        call_command("org")
