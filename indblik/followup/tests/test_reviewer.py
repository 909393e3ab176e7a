"""Log follow-up: only the organisation's reviewer, only its own events; decisions audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from indblik.access.models import Grant, ReviewAlert
from indblik.audit import Action
from indblik.audit.models import AuditEvent
from indblik.followup import scan
from indblik.followup.models import Case, Rule, Status
from indblik.followup.search import safe_cell
from indblik.followup.tests.conftest import (
    FRB,
    KK,
    local,
    log,
    make_citizen,
    make_patient,
    make_user,
    signed_in,
)
from indblik.organisations.models import Organisation

pytestmark = pytest.mark.django_db

DAY = local(2025, 3, 4)


@pytest.fixture
def log_of_two_organisations(orgs: Any) -> dict[str, Any]:
    """A KK nurse and an FRB therapist both look up the same two citizens."""
    nurse = make_user(KK, name="Mette Holm")
    therapist = make_user(FRB, name="Sara Lund")
    holm = make_patient(family="Holm", given="Inger")
    other = make_patient(family="Berg", given="Ole")
    for user in (nurse, therapist):
        log(user, holm.cpr, at=DAY, section="notes")
        log(user, other.cpr, at=DAY, section="lab")
    return {"nurse": nurse, "therapist": therapist, "holm": holm, "other": other}


def search(client: Client, **fields: Any) -> Any:
    response = client.post("/follow-up/search/", {"kind": "lookups", **fields})
    assert response.status_code == 302, response.content
    return response


def test_a_search_by_cpr_is_posted_and_the_cpr_never_reaches_a_url(
    reviewer_client: Client, log_of_two_organisations: dict[str, Any]
) -> None:
    holm = log_of_two_organisations["holm"]
    response = search(reviewer_client, citizen=f"{holm.cpr[:6]}-{holm.cpr[6:]}", since="2025-03-01")
    location = response["Location"]
    assert holm.cpr not in location and holm.cpr[:6] not in location
    assert urlsplit(location).path == "/follow-up/search/"
    page = reviewer_client.get(location)
    text = page.content.decode()
    assert "Mette Holm" in text and "Inger Holm" in text
    assert "Sara Lund" not in text and "Ole Berg" not in text
    links = re.findall(r'(?:href|action)="([^"]*)"', text)
    assert links and not any(holm.cpr in link for link in links)
    event = AuditEvent.objects.filter(action=Action.FOLLOWUP_SEARCH).latest("id")
    assert event.patient_cpr == holm.cpr and event.details["citizen"] is True


def test_a_reviewer_never_sees_another_organisations_events(
    reviewer_client: Client, log_of_two_organisations: dict[str, Any]
) -> None:
    therapist = log_of_two_organisations["therapist"]
    response = search(reviewer_client, since="2025-03-01", kind="all")
    text = reviewer_client.get(response["Location"]).content.decode()
    assert "Mette Holm" in text and "Sara Lund" not in text
    # Not even by asking for the other organisation's user.
    response = reviewer_client.post(
        "/follow-up/search/", {"user": therapist.pk, "since": "2025-03-01", "kind": "all"}
    )
    assert response.status_code == 200  # the form refuses a user outside the organisation
    assert "Sara Lund" not in response.content.decode()


def test_the_csv_export_holds_only_the_organisations_events_and_is_audited(
    reviewer_client: Client, log_of_two_organisations: dict[str, Any]
) -> None:
    response = search(reviewer_client, since="2025-03-01", kind="all")
    filter_id = response["Location"].split("f=")[1]
    export = reviewer_client.get(f"/follow-up/search/export/?f={filter_id}")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    body = b"".join(export.streaming_content).decode("utf-8")  # type: ignore[attr-defined]
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["time", "action", "outcome"]
    assert {row[6] for row in rows[1:]} == {KK}
    assert "Sara Lund" not in body and len(rows) == 3
    event = AuditEvent.objects.get(action=Action.FOLLOWUP_EXPORT)
    assert event.organisation_cvr == KK and event.details["rows"] == 2


def test_the_csv_export_defuses_formulas(
    reviewer_client: Client, log_of_two_organisations: dict[str, Any]
) -> None:
    attacker = make_user(KK, name='=HYPERLINK("http://evil.example","klik")')
    log(attacker, log_of_two_organisations["holm"].cpr, at=DAY)
    response = search(reviewer_client, since="2025-03-01")
    filter_id = response["Location"].split("f=")[1]
    body = b"".join(
        reviewer_client.get(f"/follow-up/search/export/?f={filter_id}").streaming_content  # type: ignore[attr-defined]
    ).decode()
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    names = [row[4] for row in rows[1:]]
    assert '\'=HYPERLINK("http://evil.example","klik")' in names
    assert not any(name.startswith(("=", "+", "-", "@")) for name in names)
    assert safe_cell("+1") == "'+1" and safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("a\nb") == "a b" and safe_cell(None) == ""


def test_a_saved_filter_of_another_session_is_not_found(
    reviewer_client: Client, log_of_two_organisations: dict[str, Any], reviewer: Any
) -> None:
    response = search(reviewer_client, since="2025-03-01")
    filter_id = response["Location"].split("f=")[1]
    stranger = signed_in(reviewer)  # the same reviewer, another session
    assert stranger.get(f"/follow-up/search/export/?f={filter_id}").status_code == 404


def test_the_overview_scans_lazily_and_lists_only_own_cases(
    reviewer: Any, log_of_two_organisations: dict[str, Any], orgs: Any
) -> None:
    scan.scan(orgs[FRB], since=DAY)
    assert Case.objects.filter(organisation_cvr=FRB).exists()
    with time_machine.travel(DAY + dt.timedelta(days=1), tick=False):
        client = signed_in(reviewer)
        response = client.get("/follow-up/")
        assert response.status_code == 200
        own = Case.objects.filter(organisation_cvr=KK)
        assert own.filter(rule=Rule.SAME_SURNAME).exists()  # Mette Holm looked up Inger Holm
        text = response.content.decode()
        assert "Mette Holm" in text and "Sara Lund" not in text
        foreign = Case.objects.filter(organisation_cvr=FRB).first()
        assert foreign is not None
        assert client.get(f"/follow-up/cases/{foreign.pk}/").status_code == 404
        assert (
            client.post(
                f"/follow-up/cases/{foreign.pk}/", {"decision": "justified", "note": "x"}
            ).status_code
            == 404
        )


def test_a_review_decision_is_saved_and_audited(
    reviewer_client: Client, log_of_two_organisations: dict[str, Any], orgs: Any, reviewer: Any
) -> None:
    scan.scan(orgs[KK], since=DAY)
    case = Case.objects.get(organisation_cvr=KK, rule=Rule.SAME_SURNAME)
    page = reviewer_client.get(f"/follow-up/cases/{case.pk}/")
    assert page.status_code == 200
    assert log_of_two_organisations["holm"].cpr[:6] in page.content.decode()
    assert AuditEvent.objects.filter(action=Action.FOLLOWUP_CASE_READ).exists()

    missing_note = reviewer_client.post(f"/follow-up/cases/{case.pk}/", {"decision": "justified"})
    assert missing_note.status_code == 200
    case.refresh_from_db()
    assert case.status == Status.OPEN

    response = reviewer_client.post(
        f"/follow-up/cases/{case.pk}/",
        {"decision": "not-justified", "note": "Borgeren er nabo; ingen plejeopgave."},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.NOT_JUSTIFIED and case.reviewed_by_id == reviewer.pk
    assert case.note == "Borgeren er nabo; ingen plejeopgave."
    event = AuditEvent.objects.get(action=Action.FOLLOWUP_REVIEW)
    assert event.user_id == reviewer.pk and event.organisation_cvr == KK
    assert event.details["decision"] == "not-justified" and event.details["case"] == case.pk
    assert event.patient_cpr == case.patient_cpr
    assert event.reason == "Borgeren er nabo; ingen plejeopgave."


def test_deciding_an_alert_case_reviews_the_access_alert(
    reviewer_client: Client, orgs: Any
) -> None:
    user = make_user(KK)
    patient = make_patient()
    grant = Grant.objects.create(
        handle="followup-alert-test-handle-1",
        user=user,
        session_key="s",
        organisation=orgs[KK],
        patient_cpr=patient.cpr or "",
        patient_key="1",
        expires_at=DAY,
    )
    alert = ReviewAlert.objects.create(
        kind="emergency", grant=grant, organisation=orgs[KK], user=user, reason="Akut"
    )
    reviewer_client.get("/follow-up/")  # scans lazily
    case = Case.objects.get(alert_id=alert.pk)
    reviewer_client.post(f"/follow-up/cases/{case.pk}/", {"decision": "justified", "note": "OK"})
    alert.refresh_from_db()
    assert alert.reviewed_at is not None and alert.review_note == "OK"


@pytest.mark.parametrize("who", ["nurse", "citizen", "reviewer-of-suspended"])
def test_others_are_refused(orgs: Any, who: str) -> None:
    if who == "nurse":
        user = make_user(KK)
    elif who == "citizen":
        user = make_citizen("0101601234")
    else:
        user = make_user(FRB, name="Reviewer FRB", reviewer=True)
        # The organisation middleware answers 403 and ends the session of a suspended one.
        Organisation.objects.filter(cvr=FRB).update(status="suspended")
    for url in ("/follow-up/", "/follow-up/search/", "/follow-up/search/export/?f=x"):
        assert signed_in(user).get(url).status_code == 403, url
        assert signed_in(user).post(url, {"kind": "all"}).status_code in (403, 405), url
    assert not AuditEvent.objects.filter(action=Action.FOLLOWUP_CASE_READ).exists()
    assert not AuditEvent.objects.filter(action=Action.FOLLOWUP_SEARCH).exists()


def test_anonymous_visitors_are_sent_to_sign_in(orgs: Any) -> None:
    response = Client().get("/follow-up/")
    assert response.status_code == 302 and response["Location"].startswith("/saml2/login/")
