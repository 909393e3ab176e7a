"""The writer records who did what to whose record, from where, and cleans what it stores."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.db import OperationalError, connection, transaction
from django.http import HttpRequest

from indblik.audit import Action, Actor, AuditWriteError, Outcome, canonical, record
from indblik.audit.models import AuditEvent
from indblik.audit.tests.conftest import T0, StandInUser

pytestmark = pytest.mark.django_db

MakeRequest = Callable[..., HttpRequest]


def stored(event: AuditEvent) -> AuditEvent:
    """Read the row back from the database (what was really written)."""
    return AuditEvent.objects.get(pk=event.pk)


def test_it_records_the_request_user_address_agent_and_time(
    nurse: Any, make_request: MakeRequest, clock: Any
) -> None:
    request = make_request(nurse, HTTP_USER_AGENT="Firefox/128")
    event = stored(
        record(
            request,
            Action.PATIENT_READ,
            patient_cpr="010170-1234",
            section="snapshot",
            resource_ids=["Observation/1", "Condition/2"],
            purpose="treatment",
            decision_reasons=["contextual", "residence"],
            organisation_cvr="29189846",
            organisation_name="Københavns Kommune",
        )
    )
    assert event.at == T0
    assert (event.action, event.outcome) == ("chart:patient:read", "success")
    assert (event.user_id, event.actor_name) == (nurse.pk, "Anne Holm")
    assert event.patient_cpr == "0101701234"
    assert event.resource_id_list == ["Observation/1", "Condition/2"]
    assert event.decision_reasons == ["contextual", "residence"]
    assert (event.organisation_cvr, event.organisation_name) == ("29189846", "Københavns Kommune")
    assert event.client_ip == "192.0.2.10"
    assert event.user_agent == "Firefox/128"
    assert event.request_id == request.indblik_request_id  # type: ignore[attr-defined]
    assert event.row_hash == canonical.row_hash(
        {field: getattr(event, field) for field in canonical.FIELDS}
    )


def test_an_explicit_actor_wins_and_lends_its_organisation(
    nurse: Any, make_request: MakeRequest
) -> None:
    actor = Actor(
        user_id=nurse.pk,
        name="Anne Holm",
        authorisation="0C4FG",
        role="http://kombit.dk/roles/jobrole/sundhedsjournal/1",
        delegated=True,
        organisation_cvr="29189846",
        organisation_name="Københavns Kommune",
    )
    event = stored(record(make_request(nurse), Action.DOCUMENT_VIEW, actor=actor))
    assert event.actor_authorisation == "0C4FG"
    assert event.actor_role.endswith("/sundhedsjournal/1")
    assert event.actor_delegated is True
    assert event.organisation_cvr == "29189846"


def test_an_anonymous_request_is_recorded_without_a_user(make_request: MakeRequest) -> None:
    event = stored(record(make_request(), Action.LAUNCH_REFUSED, outcome=Outcome.REFUSED))
    assert event.user_id is None
    assert event.actor_name == ""
    assert event.outcome == "refused"


def test_a_command_records_without_a_request() -> None:
    event = stored(record(None, Action.INGEST_RUN, details={"created": 12, "source": "cli"}))
    assert event.client_ip is None
    assert event.request_id == ""
    assert event.details == {"created": 12, "source": "cli"}


def test_every_row_of_one_request_carries_the_same_request_id(
    make_request: MakeRequest,
) -> None:
    request = make_request()
    first = record(request, Action.ACCESS_ALLOWED)
    second = record(request, Action.PATIENT_READ)
    assert first.request_id == second.request_id != ""


@pytest.mark.parametrize(
    "text",
    [
        "ok\r\nFAKE 2025-03-03 audit: chart:patient:read by someone else",
        "ok\u2028FAKE line",
        "ok\u2029FAKE paragraph",
        "ok\x1b[31mred\x1b[0m",
        "ok\x85next line (C1)",
    ],
)
def test_it_cannot_be_made_to_forge_a_log_line(text: str) -> None:
    event = stored(record(None, Action.PATIENT_READ, reason=text))
    assert event.reason.startswith("ok")
    assert not any(char in event.reason for char in "\r\n\u2028\u2029\x1b\x85")


def test_it_strips_bidi_overrides_and_zero_width_characters() -> None:
    event = stored(record(None, Action.PATIENT_READ, reason="abc\u202edcba\u2066x\u200by\ufeff"))
    assert event.reason == "abcdcbaxy"


def test_it_bounds_the_length_of_free_text(make_request: MakeRequest) -> None:
    request = make_request(HTTP_USER_AGENT="Mozilla/5.0 (X11) " * 100)
    event = stored(
        record(request, Action.PATIENT_READ, reason="lang tekst " * 500, section="s" * 99)
    )
    # Cut at the limit (then trailing blanks dropped), never more.
    assert 290 < len(event.user_agent) <= 300
    assert 490 < len(event.reason) <= 500
    assert event.section == "s" * 32


def test_it_keeps_at_most_a_hundred_resource_ids_and_says_how_many_it_left_out() -> None:
    ids = [f"Observation/{n}" for n in range(130)]
    event = stored(record(None, Action.SECTION_SEARCH, resource_ids=ids))
    assert event.resource_id_list == ids[:100]
    assert event.details == {"resource_ids_omitted": 30}


def test_it_redacts_a_token_pasted_into_free_text() -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhYmMiLCJwYXRpZW50IjoiMDEwMSJ9.c2lnbmF0dXJl"
    event = stored(record(None, Action.LAUNCH_REFUSED, reason=f"bad token {token} here"))
    assert token not in event.reason
    assert event.reason == "bad token [redacted] here"


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "launch_token",
        "launchToken",
        "password",
        "client_secret",
        "SAMLResponse",
        "assertion",
        "Authorization",
        "csrf-token",
        "session_key",
    ],
)
def test_it_refuses_details_that_name_a_credential(key: str) -> None:
    with pytest.raises(ValueError, match="credential"):
        record(None, Action.LAUNCH_REFUSED, details={key: "x"})
    with pytest.raises(ValueError, match="credential"):
        record(None, Action.LAUNCH_REFUSED, details={"outer": {key: "x"}})
    assert not AuditEvent.objects.exists()


def test_the_danish_authorisation_id_is_not_mistaken_for_a_credential() -> None:
    event = record(None, Action.LOGIN, details={"authorisation": "0C4FG"})
    assert event.details == {"authorisation": "0C4FG"}


@pytest.mark.parametrize(
    "details",
    [
        {"ratio": 0.5},
        {"when": T0},
        {"n": 2**60},
        {"a": {"b": {"c": {"d": {"e": 1}}}}},
        {"big": "tekst " * 40, "more": ["mere tekst " * 20] * 12},
        {1: "x"},
        {"": 1},
        {"\u200b": 1},
        {"ids": list(range(51))},
        ["not", "a", "mapping"],
    ],
)
def test_it_refuses_details_it_could_not_store_safely_and_exactly(details: dict[Any, Any]) -> None:
    with pytest.raises(ValueError, match="details"):
        record(None, Action.PATIENT_READ, details=details)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patient_cpr": "01017012"}, "patient_cpr"),
        ({"patient_cpr": "010170123X"}, "patient_cpr"),
        ({"organisation_cvr": "1234"}, "organisation_cvr"),
        ({"resource_ids": "Observation/1"}, "resource_ids"),
        ({"decision_reasons": "residence"}, "list"),
    ],
)
def test_malformed_arguments_are_a_programming_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record(None, Action.PATIENT_READ, **kwargs)


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError):
        record(None, "chart:patient:edit")  # type: ignore[arg-type]


def test_a_failed_write_raises_and_is_logged_without_patient_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raise OperationalError(
            "null value violates not-null constraint: Failing row contains "
            "(7, chart:patient:read, 0101701234, …)"
        )

    with (
        caplog.at_level(logging.ERROR, "indblik.audit"),
        connection.execute_wrapper(refuse),
        pytest.raises(AuditWriteError),
    ):
        record(None, Action.PATIENT_READ, patient_cpr="0101701234")
    assert "audit write failed" in caplog.text
    assert "0101701234" not in caplog.text


def test_a_failed_write_leaves_the_callers_transaction_usable() -> None:
    earlier = record(None, Action.LOGIN)

    def refuse_audit_insert(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "audit_auditevent" in sql and sql.lstrip().upper().startswith("INSERT"):
            raise OperationalError("database or disk is full")
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(refuse_audit_insert), pytest.raises(AuditWriteError):
            record(None, Action.PATIENT_READ)
        # On PostgreSQL this query would fail ("current transaction is aborted") had the
        # writer not used a savepoint of its own.
        assert AuditEvent.objects.filter(pk=earlier.pk).exists()
        event = record(None, Action.PATIENT_READ)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_it_writes_outside_an_atomic_block_too() -> None:
    assert not connection.in_atomic_block
    event = record(None, Action.LOGOUT)
    # The writer opened and committed a transaction of its own, and left none open.
    assert not connection.in_atomic_block
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_addresses_are_stored_in_one_spelling(make_request: MakeRequest) -> None:
    mapped = record(make_request(remote_addr="::ffff:192.0.2.7"), Action.LOGIN)
    long_v6 = record(
        make_request(remote_addr="2001:0db8:0000:0000:0000:0000:0000:0001"), Action.LOGIN
    )
    assert stored(mapped).client_ip == "192.0.2.7"
    assert stored(long_v6).client_ip == str(ipaddress.ip_address("2001:db8::1"))


def test_resource_ids_are_stored_as_a_json_list() -> None:
    event = stored(record(None, Action.DOCUMENT_DOWNLOAD, resource_ids=["DocumentReference/9"]))
    assert orjson.loads(event.resource_ids) == ["DocumentReference/9"]


def test_a_user_name_stands_in_when_there_is_no_full_name(make_request: MakeRequest) -> None:
    event = record(make_request(StandInUser(7, "nurse-b", "")), Action.LOGIN)
    assert (event.user_id, event.actor_name) == (7, "nurse-b")


def test_audit_rows_are_not_tied_to_users_so_deleting_one_cannot_touch_them() -> None:
    relations = [field.name for field in AuditEvent._meta.get_fields() if field.is_relation]
    assert relations == []


def test_the_benchmark_bulk_path_refuses_unknown_fields() -> None:
    from indblik.audit.writer import bulk_record_for_benchmark

    with pytest.raises(ValueError, match="unknown event fields: colour"):
        bulk_record_for_benchmark([{"at": T0, "action": Action.LOGIN, "colour": "blue"}])
