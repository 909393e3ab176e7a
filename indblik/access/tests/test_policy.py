"""The access policy as a table: organisation types, evidence, blocks and purpose."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from indblik.access import policy
from indblik.access.testing import professional
from indblik.access.tests.factories import citizen
from indblik.organisations.demo import DEMO_ROLE, ensure_demo_organisations
from indblik.organisations.models import Organisation, OrganisationType, Status
from indblik.records.source import LocalStore, patient_record

pytestmark = pytest.mark.django_db

TYPES = [t.value for t in OrganisationType]
EVIDENCE = ["none", "residence", "care-event", "old-care-event"]
BLOCKS = ["none", "all", "this", "other"]
PURPOSES = [("treatment", ""), ("emergency", "Borger ringer med brystsmerter"), ("emergency", "")]


@pytest.fixture
def organisations() -> dict[str, Organisation]:
    ensure_demo_organisations()
    by_type = {
        org.type: org for org in Organisation.objects.filter(municipality_code__in=["", "0101"])
    }
    social = Organisation(
        cvr="29189986",
        name="Socialcenter Test",
        type=OrganisationType.SOCIAL_SERVICES,
        sor_code="494001000016000",
        role_uri=DEMO_ROLE,
    )
    social.status = Status.LIVE
    social.save()
    by_type[OrganisationType.SOCIAL_SERVICES] = social
    assert set(by_type) == set(TYPES)
    return by_type


def expected(org_type: str, evidence: str, block: str, purpose: str, reason: str) -> str:
    """The rules of ARCHITECTURE.md "Access policy", written out plainly: '' = allowed."""
    emergency_line = org_type == OrganisationType.EMERGENCY_LINE
    if emergency_line or purpose == "emergency":
        if not emergency_line:
            return "emergency-not-allowed"
        if not reason:
            return "reason-missing"
        return ""  # a block is overridden (with an alert); no relationship needed
    if block in ("all", "this"):
        return "blocked"
    if org_type == OrganisationType.MUNICIPALITY and evidence == "residence":
        return ""
    if evidence == "care-event":
        return ""
    return "no-treatment-relationship"


def test_the_policy_table(organisations: dict[str, Organisation]) -> None:
    everyone = list(organisations.values())
    store = LocalStore()
    mismatches: list[str] = []
    checked = 0
    for evidence in EVIDENCE:
        for block in BLOCKS:
            patient_by_type: dict[str, Any] = {}
            for org_type, org in organisations.items():
                other = next(o for o in everyone if o.cvr != org.cvr)
                row = citizen(
                    municipality="0101" if evidence == "residence" else "0860",
                    care_event_for=everyone if "care-event" in evidence else None,
                    care_event_age_days=400 if evidence == "old-care-event" else 3,
                    block={"none": "", "all": "all", "this": org.cvr, "other": other.cvr}[block],
                )
                patient_by_type[org_type] = patient_record(row)
            for org_type, org in organisations.items():
                user = professional(org)
                for purpose, reason in PURPOSES:
                    decision = policy.decide(
                        user,
                        org,
                        patient_by_type[org_type],
                        purpose,
                        reason=reason,
                        contextual=True,
                        record_source=store,
                    )
                    want = expected(org_type, evidence, block, purpose, reason)
                    checked += 1
                    if decision.refusal != want or decision.allowed != (want == ""):
                        mismatches.append(
                            f"{org_type}/{evidence}/block={block}/{purpose}/{bool(reason)}: "
                            f"got {decision.refusal or 'allowed'}, want {want or 'allowed'}"
                        )
    assert checked == len(TYPES) * len(EVIDENCE) * len(BLOCKS) * len(PURPOSES)
    assert not mismatches, "\n".join(mismatches)


def test_an_allowing_decision_says_why_and_until_when(
    organisations: dict[str, Organisation],
) -> None:
    kk = organisations[OrganisationType.MUNICIPALITY]
    now = timezone.now()
    decision = policy.decide(
        professional(kk), kk, patient_record(citizen(municipality="0101")), contextual=True, now=now
    )
    assert decision.allowed
    assert decision.reasons == ("type:municipality", "contextual:launch-token", "residence:0101")
    assert decision.expires_at == now + dt.timedelta(minutes=240)
    assert decision.alerts == ()


def test_emergency_line_gets_a_short_grant_and_always_an_alert(
    organisations: dict[str, Organisation],
) -> None:
    line = organisations[OrganisationType.EMERGENCY_LINE]
    now = timezone.now()
    plain = policy.decide(
        professional(line), line, patient_record(citizen()), reason="Akut", contextual=True, now=now
    )
    assert plain.allowed and plain.purpose == "emergency"
    assert plain.alerts == (policy.Alert.EMERGENCY,)
    assert plain.expires_at == now + dt.timedelta(minutes=120)
    assert not plain.emergency_override

    blocked = policy.decide(
        professional(line),
        line,
        patient_record(citizen(block="all")),
        reason="Akut",
        contextual=True,
        now=now,
    )
    assert blocked.allowed and blocked.emergency_override
    assert blocked.alerts == (policy.Alert.EMERGENCY, policy.Alert.BLOCK_OVERRIDE)
    assert "override:emergency" in blocked.reasons


@pytest.mark.parametrize(
    "case, refusal",
    [
        ("unknown", "patient-unknown"),
        ("deceased", "patient-deceased"),
        ("no-context", "no-launch-context"),
        ("no-role", "role-missing"),
        ("inactive", "user-inactive"),
        ("other-organisation", "organisation-mismatch"),
        ("suspended", "organisation-not-live"),
        ("purpose", "purpose-unknown"),
    ],
)
def test_refusals(organisations: dict[str, Organisation], case: str, refusal: str) -> None:
    kk = organisations[OrganisationType.MUNICIPALITY]
    user = professional(kk)
    patient: Any = patient_record(citizen(municipality="0101", deceased=case == "deceased"))
    purpose, contextual = "treatment", True
    if case == "unknown":
        patient = None
    elif case == "no-context":
        contextual = False
    elif case == "no-role":
        user.roles = ["http://demo.indblik.dk/roles/jobrole/something-else/1"]
    elif case == "inactive":
        user.is_active = False
    elif case == "other-organisation":
        user.organisation_cvr = organisations[OrganisationType.HOSPICE].cvr
    elif case == "suspended":
        kk.status = Status.SUSPENDED
    elif case == "purpose":
        purpose = "research"
    decision = policy.decide(user, kk, patient, purpose, contextual=contextual)
    assert not decision.allowed
    assert decision.refusal == refusal
    assert decision.expires_at is None


def test_a_block_that_has_ended_or_is_not_active_does_not_block(
    organisations: dict[str, Organisation],
) -> None:
    kk = organisations[OrganisationType.MUNICIPALITY]
    now = timezone.now()
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "provision": {"type": "deny", "period": {"end": (now - dt.timedelta(days=1)).isoformat()}},
    }
    assert not policy.blocks_organisation(consent, kk, now)
    consent["provision"]["period"] = {"start": (now + dt.timedelta(days=1)).isoformat()}
    assert not policy.blocks_organisation(consent, kk, now)
    consent["provision"]["period"] = {"start": (now - dt.timedelta(days=1)).isoformat()}
    assert policy.blocks_organisation(consent, kk, now)
    assert not policy.blocks_organisation({**consent, "status": "inactive"}, kk, now)
    assert not policy.blocks_organisation({**consent, "provision": {"type": "permit"}}, kk, now)
    by_sor = {
        **consent,
        "provision": {
            "type": "deny",
            "actor": [
                {
                    "reference": {
                        "identifier": {"system": "urn:oid:1.2.208.176.1.1", "value": kk.sor_code}
                    }
                }
            ],
        },
    }
    assert policy.blocks_organisation(by_sor, kk, now)
    for garbage in (None, "x", [1], {"type": "deny", "actor": "nobody"}):
        policy.blocks_organisation({**consent, "provision": garbage}, kk, now)  # never raises


def test_the_policy_is_configurable_and_bad_configuration_is_refused(settings: Any) -> None:
    settings.INDBLIK_ACCESS_POLICY = {"municipality": {"care_event_days": 14, "residence": False}}
    rules = policy.policy_for("municipality")
    assert rules.care_event_days == 14 and rules.residence is False
    from django.core.exceptions import ImproperlyConfigured

    bad: Any
    for bad in (
        {"hospital": {}},
        {"municipality": {"care_event_days": -1}},
        {"municipality": {"care_event_days": "14"}},
        {"municipality": {"residence": 1}},
        {"municipality": {"nonsense": True}},
        {"municipality": []},
    ):
        settings.INDBLIK_ACCESS_POLICY = bad
        with pytest.raises(ImproperlyConfigured):
            policy.policies()


def test_a_bad_policy_setting_stops_start_up() -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "indblik.settings_test",
        "INDBLIK_ACCESS_POLICY": '{"municipality": {"care_event_days": "many"}}',
    }
    completed = subprocess.run(
        [sys.executable, "-m", "indblik", "check"], env=env, capture_output=True, text=True
    )
    assert completed.returncode != 0
    assert "INDBLIK_ACCESS_POLICY" in completed.stderr
