"""Min log: the citizen sees exactly their own lookups, grouped, in Danish time, audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import translation

from indblik.audit import Action, Outcome
from indblik.audit.models import AuditEvent
from indblik.followup import citizen
from indblik.followup.tests.conftest import (
    FRB,
    KK,
    LINE_1813,
    local,
    log,
    make_citizen,
    make_patient,
    make_user,
    signed_in,
)

pytestmark = pytest.mark.django_db

URL = "/min-log/"


@pytest.fixture
def karen(orgs: Any) -> Any:
    return make_patient(family="Sørensen", given="Karen")


def test_a_citizen_sees_exactly_their_own_lookups(karen: Any) -> None:
    other = make_patient(family="Berg", given="Ole")
    mette = make_user(KK, name="Mette Holm")
    sara = make_user(FRB, name="Sara Lund", profession="Fysioterapeut")
    mine = [log(mette, karen.cpr, at=local(2025, 3, 3, 9, 30))]
    mine.append(log(sara, karen.cpr, at=local(2025, 3, 5, 14, 0), section="lab"))
    log(make_user(KK, name="Ukendt Kollega"), other.cpr, at=local(2025, 3, 4, 11, 0))

    page = citizen.citizen_log(karen.cpr)
    assert [visit.last_id for visit in page.visits] == [mine[1].pk, mine[0].pk]

    response = signed_in(make_citizen(karen.cpr)).get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Mette Holm" in text and "Sara Lund" in text and "Fysioterapeut" in text
    assert "Ukendt Kollega" not in text
    assert str(other.cpr) not in text and str(karen.cpr) not in text


def test_reading_the_log_is_audited_and_not_shown_as_a_lookup(karen: Any) -> None:
    person = make_citizen(karen.cpr)
    client = signed_in(person)
    client.get(URL)
    event = AuditEvent.objects.get(action=Action.CITIZEN_LOG_READ)
    assert event.patient_cpr == karen.cpr and event.user_id == person.pk
    assert citizen.citizen_log(karen.cpr).visits == []
    assert "Nobody has looked at your record" in client.get(URL).content.decode()


def test_pages_read_in_one_sitting_are_one_row_with_the_sections_in_order(karen: Any) -> None:
    mette = make_user(KK, name="Mette Holm")
    start = local(2025, 3, 3, 9, 30)
    for minute, (action, section) in enumerate(
        [
            (Action.ACCESS_ALLOWED, ""),
            (Action.PATIENT_READ, "snapshot"),
            (Action.PATIENT_READ, "notes"),
            (Action.PATIENT_READ, "lab"),
            (Action.PAGE_PRINT, "lab"),
            (Action.DOCUMENT_DOWNLOAD, "documents"),
        ]
    ):
        log(
            mette,
            karen.cpr,
            at=start + dt.timedelta(minutes=minute),
            action=action,
            section=section,
        )
    log(mette, karen.cpr, at=local(2025, 3, 4, 8, 0), section="notes")  # the next day: a new row
    visits = citizen.citizen_log(karen.cpr).visits
    assert len(visits) == 2
    first = visits[1]
    assert first.sections == ["snapshot", "notes", "lab", "documents"]
    with translation.override("en"):
        assert first.section_titles[:2] == ["Snapshot", "Notes"]
    assert first.printed and first.downloaded and first.lookups == 5
    assert first.start.hour == 9 and first.start.minute == 30 and first.end.minute == 35


def test_times_are_shown_in_danish_local_time(karen: Any) -> None:
    # 08:30 UTC on 3 March 2025 is 09:30 in Copenhagen (CET); 1 July 06:00 UTC is 08:00 (CEST).
    mette = make_user(KK, name="Mette Holm")
    log(mette, karen.cpr, at=dt.datetime(2025, 3, 3, 8, 30, tzinfo=dt.UTC))
    log(mette, karen.cpr, at=dt.datetime(2025, 7, 1, 6, 0, tzinfo=dt.UTC))
    client = signed_in(make_citizen(karen.cpr), language="da")
    text = client.get(URL).content.decode()
    assert "mandag 3. marts 2025" in text and "09:30" in text
    assert "tirsdag 1. juli 2025" in text and "08:00" in text


def test_emergency_access_is_marked_with_the_reason(karen: Any) -> None:
    doctor = make_user(LINE_1813, name="Peter Dahl", profession="Læge")
    at = local(2025, 3, 3, 22, 10)
    log(
        doctor,
        karen.cpr,
        at=at,
        action=Action.ACCESS_ALLOWED,
        purpose="emergency",
        reason="Borger ringer med brystsmerter",
    )
    log(doctor, karen.cpr, at=at + dt.timedelta(minutes=1), purpose="emergency")
    visit = citizen.citizen_log(karen.cpr).visits[0]
    assert visit.emergency and visit.reason == "Borger ringer med brystsmerter"
    text = signed_in(make_citizen(karen.cpr)).get(URL).content.decode()
    assert "Emergency access" in text and "Borger ringer med brystsmerter" in text


def test_refused_attempts_are_shown_and_the_end_of_a_grant_is_not(karen: Any) -> None:
    mette = make_user(KK, name="Mette Holm")
    log(
        mette,
        karen.cpr,
        at=local(2025, 3, 3, 9, 0),
        action=Action.ACCESS_DENIED,
        outcome=Outcome.REFUSED,
        decision_reasons=("deny:blocked",),
        details={"stage": "decide"},
    )
    log(
        mette,
        karen.cpr,
        at=local(2025, 3, 3, 16, 0),
        action=Action.ACCESS_DENIED,
        outcome=Outcome.REFUSED,
        decision_reasons=("deny:grant-expired",),
        details={"stage": "chart"},
    )
    visits = citizen.citizen_log(karen.cpr).visits
    assert [visit.refusal for visit in visits] == ["blocked"]
    text = signed_in(make_citizen(karen.cpr)).get(URL).content.decode()
    assert "you have blocked the organisation" in text


def test_older_pages_show_every_visit_once(karen: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(citizen, "PAGE_SIZE", 3)
    monkeypatch.setattr(citizen, "BATCH", 5)
    users = [make_user(KK, name=f"Bruger {n}") for n in range(4)]
    for day in range(1, 9):
        user = users[day % 4]
        for minute in range(day % 3 + 1):  # visits of 1-3 pages
            log(user, karen.cpr, at=local(2025, 3, day, 10, minute))
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        page = citizen.citizen_log(karen.cpr, cursor=cursor)
        seen += [visit.last_id for visit in page.visits]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    starts = [
        AuditEvent.objects.filter(patient_cpr=karen.cpr, at__date=f"2025-03-{day:02d}")
        .order_by("at")
        .values_list("pk", flat=True)
        .first()
        for day in range(8, 0, -1)
    ]
    assert seen == starts
    response = signed_in(make_citizen(karen.cpr)).get(URL)
    assert "?before=" in response.content.decode()


def test_the_log_query_reads_the_patient_index(karen: Any) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the plan is checked on SQLite")
    query = AuditEvent.objects.filter(
        patient_cpr=karen.cpr, action__in=citizen.CITIZEN_ACTIONS
    ).order_by("-at", "-id")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "audit_event_patient_at" in plan and "SCAN audit_auditevent" not in plan


def test_anonymous_visitors_are_sent_to_sign_in(orgs: Any) -> None:
    response = Client().get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/saml2/login/")


def test_professionals_are_refused(karen: Any) -> None:
    response = signed_in(make_user(KK)).get(URL)
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=Action.CITIZEN_LOG_READ).exists()


def test_the_page_is_never_cached(karen: Any) -> None:
    response = signed_in(make_citizen(karen.cpr)).get(URL)
    assert "no-store" in response["Cache-Control"]


def test_a_page_of_events_that_make_no_visit_does_not_hide_older_lookups(
    karen: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(citizen, "BATCH", 5)
    mette = make_user(KK, name="Mette Holm")
    log(mette, karen.cpr, at=local(2025, 3, 1, 9, 0), section="notes")
    for minute in range(12):  # grants ending: not attempts, not shown
        log(
            mette,
            karen.cpr,
            at=local(2025, 3, 3, 9, minute),
            action=Action.ACCESS_DENIED,
            outcome=Outcome.REFUSED,
            decision_reasons=("deny:grant-expired",),
            details={"stage": "chart"},
        )
    # Batches without a visit are read on until one has one.
    assert [visit.actor_name for visit in citizen.citizen_log(karen.cpr).visits] == ["Mette Holm"]

    # At most MAX_BATCHES of them: then the page has no visits but a way on, and says so.
    monkeypatch.setattr(citizen, "MAX_BATCHES", 1)
    page = citizen.citizen_log(karen.cpr)
    assert page.visits == [] and page.next_cursor is not None
    client = signed_in(make_citizen(karen.cpr))
    text = client.get(URL).content.decode()
    assert "There are no lookups to show among these entries" in text
    assert "Nobody has looked at your record" not in text
    assert f"?before={page.next_cursor}" in text
    seen: list[str] = []
    cursor: int | None = page.next_cursor
    while cursor is not None and len(seen) < 10:
        step = citizen.citizen_log(karen.cpr, cursor=cursor)
        seen += [visit.actor_name for visit in step.visits]
        cursor = step.next_cursor
    assert seen == ["Mette Holm"]
