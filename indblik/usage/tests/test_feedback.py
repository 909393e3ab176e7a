"""The chart's feedback prompt: shown when due, answered elsewhere, at most once a week."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from indblik.access.testing import Granted, grant_client
from indblik.chart.tests.conftest import load_citizens
from indblik.identity.models import User
from indblik.records.models import Patient
from indblik.usage import feedback
from indblik.usage.models import Feedback

pytestmark = pytest.mark.django_db
ANSWER = reverse("usage:feedback")
QUESTION = "How useful was this lookup?"


@pytest.fixture
def granted(db: Any) -> Granted:
    load_citizens(1)
    granted = grant_client(Patient.objects.get())
    granted.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return granted


def test_the_prompt_is_on_chart_pages_and_posts_to_the_feedback_url(granted: Granted) -> None:
    body = granted.client.get(granted.url()).content.decode()
    assert QUESTION in body
    assert f'action="{ANSWER}"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert f'name="next" value="{granted.url()}"' in body
    # The form carries nothing about the citizen.
    form = body[body.index('class="usage-feedback"') :].split("</form>")[0]
    assert granted.handle not in form.replace(f'value="{granted.url()}"', "")


def test_an_answer_is_stored_without_patient_data_and_the_chart_says_thank_you(
    granted: Granted,
) -> None:
    response = granted.client.post(
        ANSWER,
        {"score": "4", "comment": "Useful for 010260-1234 and 0102601234", "next": granted.url()},
    )
    assert response.status_code == 302 and response["Location"] == granted.url()
    answer = Feedback.objects.get()
    assert answer.user == granted.user and answer.organisation == granted.organisation
    assert answer.score == 4
    assert answer.comment == "Useful for […] and […]"
    page = granted.client.get(granted.url()).content.decode()
    assert "Thank you for your answer." in page and QUESTION not in page
    again = granted.client.get(granted.url()).content.decode()
    assert "Thank you" not in again and QUESTION not in again


def test_at_most_one_answer_per_user_per_week(granted: Granted) -> None:
    start = timezone.now()
    assert granted.client.post(ANSWER, {"decline": "1", "next": granted.url()}).status_code == 302
    granted.client.post(ANSWER, {"score": "5", "next": granted.url()})  # a second tab
    assert list(Feedback.objects.values_list("score", flat=True)) == [None]
    with time_machine.travel(start + dt.timedelta(days=6, hours=23), tick=False):
        assert not feedback.is_due(granted.user)
        assert feedback.submit(granted.user, score=3) is None
    with time_machine.travel(start + dt.timedelta(days=7, minutes=1), tick=False):
        assert feedback.is_due(granted.user)
        assert feedback.submit(granted.user, score=3) is not None
    assert Feedback.objects.count() == 2


def test_a_post_without_a_choice_stores_nothing_and_a_foreign_next_is_ignored(
    granted: Granted,
) -> None:
    response = granted.client.post(ANSWER, {"score": "9", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert not Feedback.objects.exists()
    response = granted.client.post(ANSWER, {"score": "3", "next": "/admin/"})
    assert response["Location"] == "/"  # only back to a chart page


def test_the_feedback_url_answers_post_only_and_needs_csrf(granted: Granted) -> None:
    assert granted.client.get(ANSWER).status_code == 405
    client = Client(enforce_csrf_checks=True)
    client.force_login(granted.user)
    assert client.post(ANSWER, {"score": "5"}).status_code == 403
    assert not Feedback.objects.exists()


def test_anonymous_visitors_and_staff_cannot_answer(client: Client, db: Any) -> None:
    assert client.post(ANSWER, {"score": "5"}).status_code == 404
    staff = User.objects.create_user("henrik", password="x", is_staff=True)
    client.force_login(staff)
    client.post(ANSWER, {"score": "5"})
    assert not Feedback.objects.exists()
    assert not feedback.is_due(staff)


def test_the_prompt_can_be_switched_off(granted: Granted, settings: Any) -> None:
    settings.INDBLIK_FEEDBACK_PROMPT = False
    assert QUESTION not in granted.client.get(granted.url()).content.decode()
    granted.client.post(ANSWER, {"score": "5", "next": granted.url()})
    assert not Feedback.objects.exists()


def test_the_print_view_has_no_prompt(granted: Granted) -> None:
    body = granted.client.get(granted.url("snapshot") + "print/").content.decode()
    assert QUESTION not in body


def _feedback_queries(granted: Granted) -> tuple[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        body = granted.client.get(granted.url()).content.decode()
    return body, sum("usage_feedback" in query["sql"] for query in captured.captured_queries)


def test_whether_the_prompt_is_due_is_asked_once_a_day_per_session(granted: Granted) -> None:
    body, queries = _feedback_queries(granted)
    assert QUESTION in body and queries == 1
    body, queries = _feedback_queries(granted)
    assert QUESTION in body and queries == 0  # remembered in the session for today


def test_an_answer_is_remembered_and_a_memo_of_another_day_is_checked_again(
    granted: Granted,
) -> None:
    granted.client.post(ANSWER, {"decline": "1", "next": granted.url()})
    body, queries = _feedback_queries(granted)
    assert QUESTION not in body and queries == 0
    # Yesterday's memo (due) is not believed today: the database says it was answered.
    session = granted.client.session
    session[feedback.DUE_SESSION_KEY] = [granted.user.pk, "2000-01-01", True]
    session.save()
    body, queries = _feedback_queries(granted)
    assert QUESTION not in body and queries == 1
    # Nor is another user's.
    session = granted.client.session
    today = timezone.localdate().isoformat()
    session[feedback.DUE_SESSION_KEY] = [granted.user.pk + 1, today, True]
    session.save()
    body, queries = _feedback_queries(granted)
    assert QUESTION not in body and queries == 1
