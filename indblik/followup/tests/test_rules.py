"""Each automatic rule with a case that is flagged and one that is not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone, translation

from indblik.access.models import Grant, ReviewAlert
from indblik.audit import Action, Outcome
from indblik.followup import scan
from indblik.followup.models import Case, Rule
from indblik.followup.tests.conftest import (
    AMAGER,
    FRB,
    KK,
    local,
    log,
    make_patient,
    make_user,
)
from indblik.organisations.models import Organisation

pytestmark = pytest.mark.django_db

DAY = local(2025, 3, 4)  # a Tuesday


def run(org: Organisation, day: dt.datetime = DAY) -> list[Case]:
    scan.scan(org, since=day, until=day + dt.timedelta(hours=20))
    return list(Case.objects.filter(organisation_cvr=org.cvr).order_by("rule", "id"))


def rules_of(cases: list[Case], patient_cpr: str | None = None) -> set[str]:
    return {case.rule for case in cases if patient_cpr is None or case.patient_cpr == patient_cpr}


@pytest.fixture(autouse=True)
def _english() -> Any:
    """The reasons are read in English here (the Danish catalogue has them too)."""
    with translation.override("en"):
        yield


def test_it_flags_a_citizen_with_the_users_surname_and_not_another(orgs: Any) -> None:
    user = make_user(name="Mette Holm Larsen")
    namesake = make_patient(family="Larsen")
    other = make_patient(family="Jensen")
    log(user, namesake.cpr, at=DAY)
    log(user, other.cpr, at=DAY)
    cases = run(orgs[KK])
    assert Rule.SAME_SURNAME in rules_of(cases, namesake.cpr)
    assert Rule.SAME_SURNAME not in rules_of(cases, other.cpr)
    case = next(case for case in cases if case.rule == Rule.SAME_SURNAME)
    assert "Larsen" in case.reason_text()


def test_it_flags_a_citizen_at_the_users_address_when_the_users_cpr_is_known(orgs: Any) -> None:
    home = make_patient(number=1, family="Holm", address="Blågårdsgade 7, 2200 København N")
    user = make_user(name="Mette Holm", cpr=home.cpr)
    neighbour = make_patient(family="Berg", address="blågårdsgade 7,  2200 København N.")
    stranger = make_patient(family="Dahl", address="Amagerbrogade 100, 2300 København S")
    log(user, neighbour.cpr, at=DAY)
    log(user, stranger.cpr, at=DAY)
    cases = run(orgs[KK])
    assert Rule.SAME_ADDRESS in rules_of(cases, neighbour.cpr)
    assert Rule.SAME_ADDRESS not in rules_of(cases, stranger.cpr)


def test_the_address_rule_needs_the_users_cpr(orgs: Any) -> None:
    make_patient(family="Holm", address="Blågårdsgade 7, 2200 København N")
    user = make_user(name="Mette Holm")  # no CPR: the user's address is unknown
    neighbour = make_patient(family="Berg", address="Blågårdsgade 7, 2200 København N")
    log(user, neighbour.cpr, at=DAY)
    assert Rule.SAME_ADDRESS not in rules_of(run(orgs[KK]))


def test_it_flags_a_colleague_by_cpr_but_not_a_user_of_another_organisation(orgs: Any) -> None:
    colleague_record = make_patient(family="Vestergaard", given="Jonas")
    outsider_record = make_patient(family="Lund", given="Sara")
    make_user(KK, name="Jonas Vestergaard", cpr=colleague_record.cpr)
    make_user(FRB, name="Sara Lund", cpr=outsider_record.cpr)
    user = make_user(KK, name="Mette Holm")
    log(user, colleague_record.cpr, at=DAY)
    log(user, outsider_record.cpr, at=DAY)
    cases = run(orgs[KK])
    colleague = [case for case in cases if case.rule == Rule.COLLEAGUE]
    assert [case.patient_cpr for case in colleague] == [colleague_record.cpr]
    assert colleague[0].details == {"colleague": "Jonas Vestergaard", "match": "cpr"}


def test_it_flags_a_colleague_by_name_when_no_cpr_is_known(orgs: Any) -> None:
    make_user(KK, name="Karen Sørensen")
    same_name = make_patient(family="Sørensen", given="Karen")
    other_name = make_patient(family="Sørensen", given="Kirsten")
    user = make_user(KK, name="Mette Holm")
    log(user, same_name.cpr, at=DAY)
    log(user, other_name.cpr, at=DAY)
    cases = [case for case in run(orgs[KK]) if case.rule == Rule.COLLEAGUE]
    assert [case.patient_cpr for case in cases] == [same_name.cpr]
    assert cases[0].details["match"] == "name"
    assert "name only" in cases[0].reason_text()


def test_it_flags_the_users_own_record(orgs: Any) -> None:
    own = make_patient(family="Holm", given="Mette")
    other = make_patient(family="Berg")
    user = make_user(name="Mette Holm", cpr=own.cpr)
    log(user, own.cpr, at=DAY)
    log(user, other.cpr, at=DAY)
    cases = run(orgs[KK])
    assert rules_of(cases, own.cpr) == {Rule.OWN_RECORD}  # not also "same surname" or colleague
    assert Rule.OWN_RECORD not in rules_of(cases, other.cpr)


def test_without_history_it_flags_lookups_outside_six_to_twenty_two(orgs: Any) -> None:
    user = make_user()
    night = make_patient()
    day = make_patient()
    log(user, night.cpr, at=local(2025, 3, 4, 23, 30))
    log(user, day.cpr, at=local(2025, 3, 4, 9, 0))
    log(user, day.cpr, at=local(2025, 3, 4, 21, 59))
    cases = [case for case in run(orgs[KK], local(2025, 3, 4, 0)) if case.rule == Rule.UNUSUAL_HOUR]
    assert [case.patient_cpr for case in cases] == [night.cpr]
    assert cases[0].details == {"hour": 23, "history": 0}
    assert timezone.localtime(cases[0].at).hour == 23


def test_with_history_it_flags_an_hour_with_under_five_percent_of_the_users_lookups(
    orgs: Any,
) -> None:
    user = make_user()
    usual = make_patient()
    # 120 lookups over the previous weeks, all between 08 and 10 (and 3 at 15: 2.5 %).
    for index in range(117):
        log(user, usual.cpr, at=local(2025, 2, 1 + index % 28, 8 + index % 2, 5))
    for day in (3, 10, 17):
        log(user, usual.cpr, at=local(2025, 2, day, 15, 0))
    early = make_patient()
    afternoon = make_patient()
    log(user, early.cpr, at=local(2025, 3, 4, 8, 15))  # usual
    log(user, afternoon.cpr, at=local(2025, 3, 4, 15, 30))  # 2.5 % of the history: unusual
    cases = [case for case in run(orgs[KK], local(2025, 3, 4, 0)) if case.rule == Rule.UNUSUAL_HOUR]
    assert [case.patient_cpr for case in cases] == [afternoon.cpr]
    assert cases[0].details == {"hour": 15, "share": 2.5, "history": 120}


def test_it_flags_unusually_many_citizens_compared_with_peers(orgs: Any) -> None:
    patients = [make_patient() for _ in range(16)]
    busy = make_user(name="Travl Bruger")
    steady = make_user(name="Rolig Bruger")
    peers = [make_user(name=f"Kollega {n}") for n in range(3)]
    for patient in patients[:16]:
        log(busy, patient.cpr, at=DAY)
    for patient in patients[:11]:  # more than 10 but not more than 3 x the median (4)
        log(steady, patient.cpr, at=DAY)
    for peer in peers:
        for patient in patients[:4]:
            log(peer, patient.cpr, at=DAY)
    cases = [case for case in run(orgs[KK]) if case.rule == Rule.MANY_CITIZENS]
    assert [case.user_id for case in cases] == [busy.pk]
    assert cases[0].details == {"count": 16, "median": 4, "peers": 5, "day": "2025-03-04"}
    assert cases[0].patient_cpr == ""


def test_without_peers_many_citizens_means_more_than_thirty(orgs: Any) -> None:
    patients = [make_patient() for _ in range(31)]
    alone = make_user()
    for patient in patients[:30]:
        log(alone, patient.cpr, at=DAY)
    assert Rule.MANY_CITIZENS not in rules_of(run(orgs[KK]))
    log(alone, patients[30].cpr, at=DAY)
    Case.objects.all().delete()
    assert Rule.MANY_CITIZENS in rules_of(run(orgs[KK]))


def test_it_flags_a_citizen_outside_a_municipality_and_not_for_a_near_clinic(
    orgs: Any,
) -> None:
    outside = make_patient(municipality="0147")
    inside = make_patient(municipality="0101")
    kk_user = make_user(KK)
    clinic_user = make_user(AMAGER)
    for user in (kk_user, clinic_user):
        log(user, outside.cpr, at=DAY)
        log(user, inside.cpr, at=DAY)
    kk_cases = run(orgs[KK])
    assert Rule.OUTSIDE_MUNICIPALITY in rules_of(kk_cases, outside.cpr)
    assert Rule.OUTSIDE_MUNICIPALITY not in rules_of(kk_cases, inside.cpr)
    assert Rule.OUTSIDE_MUNICIPALITY not in rules_of(run(orgs[AMAGER]))


def _alert(org: Organisation, user: Any, patient_cpr: str | None, kind: str, reason: str) -> None:
    grant = Grant.objects.create(
        handle=f"h{Grant.objects.count()}-followup-test-handle",
        user=user,
        session_key="s",
        organisation=org,
        patient_cpr=patient_cpr or "",
        patient_key="1",
        purpose="emergency" if reason else "treatment",
        reason=reason,
        expires_at=DAY + dt.timedelta(hours=2),
    )
    if kind:
        ReviewAlert.objects.create(
            kind=kind, grant=grant, organisation=org, user=user, reason=reason, raised_at=DAY
        )


def test_emergency_access_and_block_overrides_are_cases_with_the_reason(orgs: Any) -> None:
    doctor = make_user("29190925", name="Peter Dahl")
    patient = make_patient()
    _alert(orgs["29190925"], doctor, patient.cpr, "emergency", "Borger ringer med brystsmerter")
    _alert(orgs["29190925"], doctor, patient.cpr, "block-override", "Bevidstløs borger")
    cases = run(orgs["29190925"])
    assert rules_of(cases) == {Rule.EMERGENCY, Rule.BLOCK_OVERRIDE}
    emergency = next(case for case in cases if case.rule == Rule.EMERGENCY)
    assert "brystsmerter" in emergency.reason_text()
    assert emergency.patient_cpr == patient.cpr and emergency.alert_id is not None


def test_a_treatment_grant_raises_no_emergency_case(orgs: Any) -> None:
    user = make_user()
    patient = make_patient()
    _alert(orgs[KK], user, patient.cpr, "", "")
    log(user, patient.cpr, at=DAY)
    assert not rules_of(run(orgs[KK])) & {Rule.EMERGENCY, Rule.BLOCK_OVERRIDE}


def test_refused_attempts_are_flagged_but_an_expired_grant_is_not(orgs: Any) -> None:
    user = make_user()
    refused = make_patient()
    expired = make_patient()
    log(
        user,
        refused.cpr,
        at=DAY,
        action=Action.ACCESS_DENIED,
        outcome=Outcome.REFUSED,
        decision_reasons=("type:municipality", "deny:no-treatment-relationship"),
        details={"stage": "decide"},
    )
    log(
        user,
        expired.cpr,
        at=DAY,
        action=Action.ACCESS_DENIED,
        outcome=Outcome.REFUSED,
        decision_reasons=("deny:grant-expired",),
        details={"stage": "chart"},
    )
    cases = [case for case in run(orgs[KK]) if case.rule == Rule.REFUSED]
    assert [case.patient_cpr for case in cases] == [refused.cpr]
    assert "no treatment relationship" in cases[0].reason_text()


def test_it_flags_vip_labelled_citizens(orgs: Any) -> None:
    celebrity = make_patient(
        labels=(("http://terminology.hl7.org/CodeSystem/v3-ActCode", "CELEB"),)
    )
    ordinary = make_patient(labels=(("http://terminology.hl7.org/CodeSystem/v3-ActCode", "EMP"),))
    user = make_user()
    log(user, celebrity.cpr, at=DAY)
    log(user, ordinary.cpr, at=DAY)
    cases = run(orgs[KK])
    assert Rule.VIP in rules_of(cases, celebrity.cpr)
    assert Rule.VIP not in rules_of(cases, ordinary.cpr)


def test_the_vip_labels_are_configurable(orgs: Any, settings: Any) -> None:
    settings.INDBLIK_FOLLOWUP_VIP_LABELS = ["http://terminology.hl7.org/CodeSystem/v3-ActCode|EMP"]
    staff = make_patient(labels=(("http://terminology.hl7.org/CodeSystem/v3-ActCode", "EMP"),))
    log(make_user(), staff.cpr, at=DAY)
    assert Rule.VIP in rules_of(run(orgs[KK]), staff.cpr)


def test_one_lookup_of_many_pages_is_one_case(orgs: Any) -> None:
    user = make_user(name="Mette Holm")
    patient = make_patient(family="Holm")
    for minute, section in enumerate(("snapshot", "notes", "lab", "notes")):
        log(user, patient.cpr, at=DAY + dt.timedelta(minutes=minute), section=section)
    cases = run(orgs[KK])
    assert [case.rule for case in cases] == [Rule.SAME_SURNAME]
    assert cases[0].section == "snapshot"


def test_a_scan_is_idempotent_and_limited_to_the_organisation(orgs: Any) -> None:
    kk_user = make_user(KK, name="Mette Holm")
    frb_user = make_user(FRB, name="Sara Holm")
    patient = make_patient(family="Holm")
    log(kk_user, patient.cpr, at=DAY)
    log(frb_user, patient.cpr, at=DAY)
    first = scan.scan(orgs[KK], since=DAY)
    assert first >= 1
    assert scan.scan(orgs[KK], since=DAY) == 0
    assert set(Case.objects.values_list("organisation_cvr", flat=True)) == {KK}
    assert set(Case.objects.values_list("user_id", flat=True)) == {kk_user.pk}


def test_the_scan_command_scans_every_live_organisation(orgs: Any) -> None:
    patient = make_patient(family="Holm")
    log(make_user(KK, name="Mette Holm"), patient.cpr, at=DAY)
    log(make_user(FRB, name="Sara Holm"), patient.cpr, at=DAY)
    call_command("followup", "scan", "--since", "2025-03-04")
    assert set(Case.objects.values_list("organisation_cvr", flat=True)) == {KK, FRB}
    stored = Case.objects.count()
    call_command("followup", "scan", "--since", "2025-03-04", "--org", KK)
    assert Case.objects.count() == stored


def test_cases_never_name_a_cpr_number_in_their_string(orgs: Any) -> None:
    patient = make_patient(family="Holm")
    log(make_user(name="Mette Holm"), patient.cpr, at=DAY)
    case = run(orgs[KK])[0]
    assert str(patient.cpr) not in str(case)
