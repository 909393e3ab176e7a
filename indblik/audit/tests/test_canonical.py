"""A row hashes the same when written and when read back, on either database."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import time_machine
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indblik.audit import Action, Actor, canonical, integrity, record
from indblik.audit.models import AuditEvent

CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    # IPv4-compatible IPv6, which PostgreSQL prints as ::a.b.c.d and Python as ::xxxx:xxxx.
    st.integers(min_value=2**16, max_value=2**32 - 1).map(lambda n: str(ipaddress.IPv6Address(n))),
)
texts = st.text(max_size=60)
details = st.dictionaries(
    st.text(alphabet="abcdefghij_", min_size=1, max_size=8),
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts | st.lists(texts, max_size=3),
    max_size=5,
)


@given(times, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_a_time_has_one_canonical_spelling_in_any_zone(at: datetime, offset: int) -> None:
    elsewhere = at.astimezone(timezone(timedelta(minutes=offset)))
    assert canonical.canonical_time(elsewhere) == canonical.canonical_time(at)
    assert CANONICAL_TIME.fullmatch(canonical.canonical_time(at))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical.canonical_time(datetime(2025, 1, 1))


def test_the_canonical_form_is_sorted_compact_utf8_json() -> None:
    values = {field: "" for field in canonical.FIELDS} | {
        "hash_version": 1,
        "at": datetime(2025, 3, 1, 8, 15, tzinfo=UTC),
        "user_id": None,
        "actor_delegated": False,
        "client_ip": "::FFFF:0:1",
        "decision_reasons": ["residence"],
        "details": {"b": 1, "a": {"d": True, "c": None}},
        "actor_name": "Søren",
    }
    form = canonical.canonical_form(values)
    assert form.startswith(b'{"action":"","actor_authorisation":"","actor_delegated":false,')
    assert b'"at":"2025-03-01T08:15:00.000000Z"' in form
    assert b'"details":{"a":{"c":null,"d":true},"b":1}' in form
    assert "Søren".encode() in form
    assert b" " not in form
    assert list(orjson.loads(form)) == sorted(canonical.FIELDS)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    at=times,
    address=addresses,
    name=texts,
    reason=texts,
    agent=texts,
    extra=details,
    reasons=st.lists(texts, max_size=4),
    delegated=st.booleans(),
)
def test_whatever_is_written_reads_back_to_the_same_hash(
    at: datetime,
    address: str,
    name: str,
    reason: str,
    agent: str,
    extra: dict[str, Any],
    reasons: list[str],
    delegated: bool,
) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    with time_machine.travel(at, tick=False):
        event = record(
            request,
            Action.PATIENT_READ,
            actor=Actor(user_id=3, name=name, delegated=delegated),
            reason=reason,
            decision_reasons=reasons,
            details=extra,
        )
    [(row_id, stored, computed)] = integrity.hashed_rows(AuditEvent.objects.filter(pk=event.pk))
    assert computed is not None and computed.hex() == stored == event.row_hash
    # ...and through the ORM's own decoding, the way an auditor's script would read it.
    again = AuditEvent.objects.get(pk=row_id)
    values = {field: getattr(again, field) for field in canonical.FIELDS}
    assert hashlib.sha256(canonical.canonical_form(values)).hexdigest() == stored


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address", ["::102:304", "::ffff:1.2.3.4", "2001:db8::1:0:0:1", "2001:db8:0:1:0:0:0:1", "::1"]
)
def test_addresses_the_databases_spell_differently_still_hash_the_same(address: str) -> None:
    event = record(RequestFactory().get("/", REMOTE_ADDR=address), Action.LOGIN)
    [(_, stored, computed)] = integrity.hashed_rows(AuditEvent.objects.filter(pk=event.pk))
    assert computed is not None and computed.hex() == stored


DOCUMENTED_EXAMPLE = {  # docs/audit.md, "Canonical form"
    "hash_version": 1,
    "at": datetime(2025, 3, 3, 9, 30, 0, 250000, tzinfo=UTC),
    "action": "chart:patient:read",
    "outcome": "success",
    "user_id": 41,
    "actor_name": "Anne Holm",
    "actor_authorisation": "0C4FG",
    "actor_role": "http://kombit.dk/roles/jobrole/sundhedsjournal/1",
    "actor_delegated": False,
    "organisation_cvr": "29189846",
    "organisation_name": "Københavns Kommune",
    "patient_cpr": "0101701234",
    "section": "snapshot",
    "resource_ids": '["Observation/obs-1"]',
    "client_ip": "10.20.0.7",
    "user_agent": "Mozilla/5.0",
    "request_id": "0f3a9c2e5b7d4e1f8a6c3b2d1e0f9a8b",
    "purpose": "treatment",
    "reason": "",
    "decision_reasons": ["contextual", "residence"],
    "details": {"page": 1},
}


def test_the_documented_example_hashes_as_documented_and_plain_json_agrees() -> None:
    form = canonical.canonical_form(DOCUMENTED_EXAMPLE)
    assert canonical.row_hash(DOCUMENTED_EXAMPLE) == (
        "fcdd52b139f9deb8f4001d11949343e2ce3acf10e0f99016095fe12af5bdd726"
    )
    # An auditor without orjson: the standard library gives the same bytes.
    as_text = DOCUMENTED_EXAMPLE | {"at": "2025-03-03T09:30:00.250000Z"}
    stdlib = json.dumps(as_text, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stdlib.encode() == form
