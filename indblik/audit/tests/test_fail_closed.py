"""No audit row, no data: a page whose audit write fails answers 503 and shows nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client

from indblik.audit.errors import AuditWriteError
from indblik.audit.middleware import AuditFailureMiddleware
from indblik.audit.models import AuditEvent
from indblik.audit.tests import urls as chart

pytestmark = [pytest.mark.django_db, pytest.mark.urls("indblik.audit.tests.urls")]


@pytest.fixture(autouse=True)
def site(settings: Any) -> Iterator[None]:
    """Just enough middleware for a page: sessions, language, users and the failure page."""
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "indblik.audit.middleware.AuditFailureMiddleware",
    ]
    chart.reads.clear()
    yield
    chart.reads.clear()


def refuse_audit_inserts(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """Make the database refuse the audit INSERT, as a full disk or a lost primary would."""
    if sql.lstrip().upper().startswith("INSERT") and "audit_auditevent" in sql:
        raise OperationalError("could not extend file: No space left on device")
    return execute(sql, params, many, context)


def assert_no_data_shown(response: Any) -> None:
    body = response.content.decode()
    assert response.status_code == 503
    assert chart.CLINICAL_DATA not in body
    assert chart.PATIENT_CPR not in body and chart.PATIENT_CPR[:6] not in body
    assert "no-store" in response["Cache-Control"]
    assert response["Retry-After"] == "30"
    assert chart.reads == []  # the record was never even read
    assert not AuditEvent.objects.exists()


def test_a_page_works_and_is_audited_when_the_write_succeeds(client: Client) -> None:
    response = client.get("/chart/snapshot/")
    assert response.status_code == 200
    assert chart.CLINICAL_DATA in response.content.decode()
    assert AuditEvent.objects.count() == 1


def test_a_page_whose_audit_insert_is_refused_shows_no_data(client: Client) -> None:
    with connection.execute_wrapper(refuse_audit_inserts):
        response = client.get("/chart/snapshot/", HTTP_ACCEPT_LANGUAGE="en")
    assert_no_data_shown(response)
    assert "could not be logged" in response.content.decode()


def test_a_page_whose_audit_table_is_gone_shows_no_data_and_operators_hear_of_it(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # A real database failure, not an injected one: the table is not there.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent RENAME TO audit_auditevent_elsewhere")
    try:
        with caplog.at_level(logging.ERROR, "indblik.audit"):
            response = client.get("/chart/snapshot/")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent_elsewhere RENAME TO audit_auditevent")
    assert_no_data_shown(response)
    # The database's own error code (undefined table), never the error text or the patient.
    assert "code SQLITE_ERROR" in caplog.text or "code 42P01" in caplog.text
    assert chart.PATIENT_CPR not in caplog.text


def test_the_failure_page_still_answers_when_templates_fail_too(
    client: Client, settings: Any
) -> None:
    settings.TEMPLATES = [
        {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [], "OPTIONS": {}}
    ]
    with connection.execute_wrapper(refuse_audit_inserts):
        response = client.get("/chart/snapshot/")
    assert_no_data_shown(response)
    assert response["Content-Type"].startswith("text/plain")


def test_other_exceptions_are_left_to_django(rf: Any) -> None:
    middleware = AuditFailureMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
    assert middleware.process_exception(rf.get("/"), ValueError("a bug")) is None
    response = middleware.process_exception(rf.get("/"), AuditWriteError("down"))
    assert response is not None and response.status_code == 503
