"""GET /fhir/r4/AuditEvent: a citizen's audit events for the hospital's patient portal."""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from fhir.resources.R4B.bundle import Bundle

from indblik.audit import Action, Actor, Outcome, record
from indblik.audit import search as audit_search
from indblik.audit.forward.fhir import audit_event_resource
from indblik.audit.models import AuditEvent
from indblik.audit.tests.conftest import T0
from indblik.audit.tests.test_fail_closed import refuse_audit_inserts
from indblik.records import auth
from indblik.records.models import Feed

pytestmark = pytest.mark.django_db

KAREN = "0101701234"
OTHER = "0202802345"
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
NURSE = Actor(
    user_id=41,
    name="Anne Holm",
    authorisation="0C4FG",
    role="http://kombit.dk/roles/jobrole/sundhedsjournal/1",
    organisation_cvr="29189846",
    organisation_name="Københavns Kommune",
)
URL = "/fhir/r4/AuditEvent"


@pytest.fixture
def portal_token() -> str:
    return auth.create_feed("patient-portal", scope=Feed.Scope.AUDIT_READ).token


@pytest.fixture
def portal(portal_token: str) -> Client:
    # CSRF checks on, as for a browser: the API must not depend on a CSRF token.
    return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {portal_token}"})


@pytest.fixture
def lookups(clock: time_machine.Traveller) -> Callable[..., list[AuditEvent]]:
    """Write ``n`` page reads of ``cpr`` an hour apart from the clock's time; return them."""

    def write(n: int, cpr: str = KAREN) -> list[AuditEvent]:
        events = []
        for _ in range(n):
            events.append(
                record(None, Action.PATIENT_READ, actor=NURSE, patient_cpr=cpr, section="snapshot")
            )
            clock.shift(3600)
        return events

    return write


def search(client: Client, url: str = URL, **params: Any) -> Any:
    return client.get(url, params)


def body(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/fhir+json"
    assert response["Cache-Control"] == "no-store"
    document: dict[str, Any] = orjson.loads(response.content)
    return document


def patient(cpr: str = KAREN) -> str:
    return f"{CPR_SYSTEM}|{cpr}"


def event_ids(bundle: dict[str, Any]) -> list[int]:
    return [int(entry["resource"]["id"].rsplit("-", 1)[1]) for entry in bundle.get("entry", [])]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((item["url"] for item in bundle["link"] if item["relation"] == relation), None)


def reads_of_the_log() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.FHIR_READ).order_by("id"))


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer ibf_wrong", "Basic dXNlcjpwdw=="])
def test_a_search_without_a_valid_token_is_refused_with_an_operation_outcome(
    header: str | None, portal_token: str
) -> None:
    client = Client(headers={"Authorization": header} if header else {})

    response = search(client, patient=patient())

    assert response.status_code == 401
    assert body(response)["resourceType"] == "OperationOutcome"
    assert response["WWW-Authenticate"].startswith('Bearer realm="indblik"')
    assert not AuditEvent.objects.exists()


def test_the_integration_engines_credential_cannot_read_the_audit_log() -> None:
    token = auth.create_feed("hospital-engine").token  # scope ingest
    client = Client(headers={"Authorization": f"Bearer {token}"})

    response = search(client, patient=patient())

    assert response.status_code == 403
    assert body(response)["issue"][0]["code"] == "forbidden"
    assert not AuditEvent.objects.exists()


def test_the_portals_credential_cannot_push_data(portal: Client) -> None:
    patient_resource = {"resourceType": "Patient", "id": "p1"}

    response = portal.post(
        "/fhir/r4/Patient", orjson.dumps(patient_resource), content_type="application/fhir+json"
    )

    assert response.status_code == 403
    assert "audit-read" in body(response)["issue"][0]["diagnostics"]


def test_only_get_is_allowed_on_the_search(portal: Client) -> None:
    response = portal.post(URL, b"{}", content_type="application/fhir+json")

    assert response.status_code == 405
    assert response["Allow"] == "GET"


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "required"),
        ({"patient": "Patient/123"}, "not-supported"),
        ({"patient": f"urn:oid:1.2.3|{KAREN}"}, "not-supported"),
        ({"patient": f"{CPR_SYSTEM}|12345"}, "value"),
        ({"patient": f"{CPR_SYSTEM}|{KAREN},{OTHER}"}, "invalid"),
        ({"patient": patient(), "patient.identifier": patient()}, "invalid"),
        ({"patient": patient(), "subtype": "read"}, "not-supported"),
        ({"patient": patient(), "date": "2025-03-03T25:00"}, "value"),
        ({"patient": patient(), "date": "yesterday"}, "value"),
        ({"patient": patient(), "date": "ne2025-03-03"}, "not-supported"),
        # The end of year 9999 has no end: a 400, never a 500 (the record API's rule too).
        ({"patient": patient(), "date": "gt9999-12-31T23:59:59Z"}, "value"),
        ({"patient": patient(), "date": "9999-12-31"}, "value"),
        ({"patient": patient(), "_count": "-1"}, "value"),
        ({"patient": patient(), "_count": "ten"}, "value"),
        ({"patient": patient(), "_sort": "_lastUpdated"}, "not-supported"),
        ({"patient": patient(), "_format": "xml"}, "not-supported"),
        ({"_cursor": "not-a-cursor"}, "value"),
    ],
)
def test_a_bad_search_is_a_400_and_reads_nothing(
    portal: Client, params: dict[str, str], code: str
) -> None:
    response = search(portal, **params)

    assert response.status_code == 400
    assert body(response)["issue"][0]["code"] == code
    assert not AuditEvent.objects.exists()  # not even audited: nothing was read


def test_the_patient_may_also_be_given_as_patient_identifier_with_a_dash(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    events = lookups(2)

    response = search(portal, **{"patient.identifier": f"{CPR_SYSTEM}|010170-1234"})

    assert response.status_code == 200
    assert set(event_ids(body(response))) >= {event.pk for event in events}


# --- results ----------------------------------------------------------------------------------


def test_the_citizen_gets_exactly_their_own_events_newest_first_as_the_forwarder_sends_them(
    portal: Client, lookups: Callable[..., list[AuditEvent]], settings: Any
) -> None:
    settings.INDBLIK_BASE_URL = "https://indblik.example.dk"
    settings.INDBLIK_AUDIT_SOURCE_ID = "indblik-test"
    own = lookups(3)
    lookups(2, cpr=OTHER)
    refusal = record(
        None,
        Action.ACCESS_DENIED,
        outcome=Outcome.REFUSED,
        actor=NURSE,
        patient_cpr=KAREN,
        purpose="emergency",
        reason="akut",
        decision_reasons=["citizen_block"],
    )

    bundle = body(search(portal, patient=patient()))

    Bundle.model_validate(bundle)  # a valid R4B searchset with valid AuditEvents
    assert bundle["type"] == "searchset"
    read = reads_of_the_log()[0]  # this very search, written before the log was read
    assert event_ids(bundle) == [read.pk, refusal.pk, *[e.pk for e in reversed(own)]]
    for entry, event in zip(bundle["entry"][1:], [refusal, *reversed(own)], strict=True):
        expected = audit_event_resource(
            AuditEvent.objects.get(pk=event.pk),
            source_id="indblik-test",
            base_url="https://indblik.example.dk",
        )
        assert entry["resource"] == expected
        assert entry["fullUrl"] == f"https://indblik.example.dk{URL}/{expected['id']}"
        assert entry["search"] == {"mode": "match"}
    assert link(bundle, "next") is None
    assert OTHER not in orjson.dumps(bundle).decode()


def test_every_search_is_audited_with_the_citizen_and_the_portal_as_actor(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    lookups(1)

    search(portal, patient=patient(), date="ge2025-03-01", _count="10", _sort="date")

    (read,) = reads_of_the_log()
    assert read.patient_cpr == KAREN
    assert read.actor_name == "patient-portal (FHIR API)"
    assert read.user_id is None and read.organisation_cvr == ""
    assert read.section == "AuditEvent"
    assert read.details == {
        "resource": "AuditEvent",
        "count": 10,
        "sort": "date",
        "page": "first",
        "since": "2025-02-28T23:00:00.000000Z",
    }


def test_count_zero_answers_how_many_events_and_shows_none(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    lookups(5)
    lookups(2, cpr=OTHER)

    def karens() -> int:  # her five lookups, and the portal's reads of her log so far
        return AuditEvent.objects.filter(patient_cpr=KAREN).count()

    counted = body(search(portal, patient=patient(), _count="0"))
    assert counted["total"] == karens() == 6 and "entry" not in counted
    assert [item["relation"] for item in counted["link"]] == ["self"]
    read = reads_of_the_log()[-1]
    assert read.details["summary"] == "count" and "page" not in read.details
    again = body(portal.get(link(counted, "self") or ""))  # the count's own link counts again
    assert again["total"] == karens() == 7
    # Leading zeros and absurdly long numbers mean what they say, never a 500.
    assert len(event_ids(body(search(portal, patient=patient(), _count="0002")))) == 2
    huge = body(search(portal, patient=patient(), _count="9" * 5000))
    assert len(event_ids(huge)) == karens() == 9


def test_a_search_whose_audit_write_fails_answers_503_and_shows_nothing(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    lookups(2)

    with connection.execute_wrapper(refuse_audit_inserts):
        response = search(portal, patient=patient())

    assert response.status_code == 503
    document = body(response)
    assert document["resourceType"] == "OperationOutcome"
    assert response["Retry-After"] == "30"
    assert KAREN not in response.content.decode()
    assert reads_of_the_log() == []


# --- paging -----------------------------------------------------------------------------------


def test_paging_follows_next_links_by_keyset_and_sees_every_event_once(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    own = lookups(7)

    seen: list[int] = []
    url: str | None = f"{URL}?patient={patient()}&_count=3&_sort=date"
    pages = 0
    while url:
        response = portal.get(url)
        assert response.status_code == 200
        bundle = body(response)
        seen += event_ids(bundle)
        url = link(bundle, "next")
        pages += 1
        if pages == 1:
            lookups(1, cpr=KAREN)  # a new event while paging moves nothing
    # oldest first: the 7 lookups, the first search's audit row, the new lookup, later reads
    assert seen[:7] == [event.pk for event in own]
    assert len(seen) == len(set(seen))
    assert pages >= 3


def test_the_next_link_is_an_opaque_cursor_without_the_cpr_number(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    lookups(4)

    bundle = body(search(portal, patient=patient(), _count="2"))

    for relation in ("self", "next"):
        url = link(bundle, relation)
        assert url is not None
        assert "/fhir/r4/AuditEvent?_cursor=" in url
        assert KAREN not in url and "010170" not in url
        (cursor,) = parse_qs(urlsplit(url).query)["_cursor"]
        # A signed value is readable base64 (zlib-compressed JSON): the CPR is not in it.
        payload = cursor.split(":")[0].lstrip(".")
        decoded = zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert KAREN.encode() not in decoded


def test_a_tampered_cursor_or_another_feeds_cursor_is_refused(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    lookups(3)
    next_url = link(body(search(portal, patient=patient(), _count="1")), "next")
    assert next_url is not None
    (cursor,) = parse_qs(urlsplit(next_url).query)["_cursor"]
    other = auth.create_feed("other-portal", scope=Feed.Scope.AUDIT_READ).token
    other_client = Client(headers={"Authorization": f"Bearer {other}"})

    tampered = search(portal, _cursor=cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"))
    foreign = search(other_client, _cursor=cursor)
    mixed = search(portal, _cursor=cursor, patient=patient(OTHER))

    assert tampered.status_code == foreign.status_code == mixed.status_code == 400
    assert search(portal, _cursor=cursor).status_code == 200


def test_a_cursor_expires_after_an_hour(
    portal: Client, lookups: Callable[..., list[AuditEvent]], clock: time_machine.Traveller
) -> None:
    lookups(3)
    next_url = link(body(search(portal, patient=patient(), _count="1")), "next")
    assert next_url is not None

    clock.shift(audit_search.CURSOR_MAX_AGE + 1)
    response = portal.get(next_url)

    assert response.status_code == 400
    assert body(response)["issue"][0]["code"] == "expired"


def test_count_is_capped_at_200(portal: Client) -> None:
    response = search(portal, patient=patient(), _count="5000")

    assert response.status_code == 200
    assert reads_of_the_log()[0].details["count"] == 200


# --- dates ------------------------------------------------------------------------------------


def test_date_ge_and_lt_select_a_half_open_range_in_danish_time(
    portal: Client, clock: time_machine.Traveller
) -> None:
    at = {}
    for hour in (21, 22, 23, 24, 25):  # UTC on 2 March 2025 and after: Danish time is UTC+1
        clock.move_to(dt.datetime(2025, 3, 2, tzinfo=dt.UTC) + dt.timedelta(hours=hour))
        at[hour] = record(None, Action.PATIENT_READ, actor=NURSE, patient_cpr=KAREN).pk
    clock.move_to(T0)

    # 3 March in Denmark is 2 March 23:00 UTC to 3 March 23:00 UTC.
    day = event_ids(body(search(portal, patient=patient(), date="2025-03-03")))
    ranged = event_ids(
        body(
            portal.get(
                URL,
                {
                    "patient": patient(),
                    "date": ["ge2025-03-02T22:00:00Z", "lt2025-03-03T00:00:00+01:00"],
                },
            )
        )
    )

    assert set(day) - {e.pk for e in reads_of_the_log()} == {at[23], at[24], at[25]}
    assert set(ranged) - {e.pk for e in reads_of_the_log()} == {at[22]}


@pytest.mark.parametrize(
    ("value", "since", "until"),
    [
        ("2025", "2024-12-31T23:00:00+00:00", "2025-12-31T23:00:00+00:00"),
        ("ge2025-03", "2025-02-28T23:00:00+00:00", None),
        ("gt2025-03", "2025-03-31T22:00:00+00:00", None),  # summer time from 30 March
        ("le2025-03-03T10:00Z", None, "2025-03-03T10:01:00+00:00"),
        ("lt2025-03-03T10:00:00.5Z", None, "2025-03-03T10:00:00.500000+00:00"),
        (
            "eq2025-03-03T10:00:00.5Z",
            "2025-03-03T10:00:00.500000+00:00",
            "2025-03-03T10:00:00.600000+00:00",
        ),
        ("ge2025-03-03T10:00:00 01:00", "2025-03-03T09:00:00+00:00", None),  # an unescaped +
    ],
)
def test_dates_of_every_precision_become_ranges(
    value: str, since: str | None, until: str | None
) -> None:
    parsed = audit_search.parse({"patient": [patient()], "date": [value]}, feed_id=1)

    def utc(moment: dt.datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(dt.UTC).isoformat()

    assert (utc(parsed.since), utc(parsed.until)) == (since, until)


# --- POST _search, the feed command, the query plan -------------------------------------------


def test_post_search_keeps_the_cpr_number_out_of_the_url(
    portal: Client, lookups: Callable[..., list[AuditEvent]]
) -> None:
    events = lookups(2)

    response = portal.post(
        f"{URL}/_search",
        urlencode({"patient": patient(), "_count": "1"}),
        content_type="application/x-www-form-urlencoded",
    )

    bundle = body(response)
    assert response.status_code == 200
    assert event_ids(bundle)[0] == reads_of_the_log()[0].pk
    assert link(bundle, "next") is not None
    assert events[0].pk not in event_ids(bundle)  # one per page
    wrong_type = portal.post(f"{URL}/_search", b"{}", content_type="application/fhir+json")
    assert wrong_type.status_code == 415


def test_the_feed_command_adds_an_audit_read_feed(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("feed", "add", "patient-portal", "--scope", "audit-read")
    token = capsys.readouterr().out.strip()
    call_command("feed", "list")

    assert auth.authenticate(token) == Feed.objects.get(scope=Feed.Scope.AUDIT_READ)
    assert "patient-portal  [active, audit-read]" in capsys.readouterr().out


def test_the_search_reads_through_the_patient_time_index() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("checked on SQLite here; docs/benchmarks.md shows PostgreSQL's plan")
    search = audit_search.Search(
        cpr=KAREN, after=(T0, 10), since=T0 - dt.timedelta(days=30), count=50
    )

    plan = audit_search.query(search)[:51].explain()

    assert "audit_event_patient_at" in plan
