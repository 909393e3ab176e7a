"""Rate limits on sign-in, launch and SCIM: per client address, in the database, audited once."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client, override_settings

from indblik.audit import Action, AuditEvent
from indblik.core import ratelimit
from indblik.core.models import RateCounter

PROXY = [ipaddress.ip_network("10.0.0.0/24")]


def limited(**limits: int) -> Any:
    """Settings with small limits for the test (the others off)."""
    values = {"LOGIN": 0, "LAUNCH": 0, "SCIM": 0, **{k.upper(): v for k, v in limits.items()}}
    return override_settings(**{f"INDBLIK_RATE_LIMIT_{k}": v for k, v in values.items()})


def from_address(address: str, **headers: Any) -> Client:
    return Client(REMOTE_ADDR=address, **headers)


@pytest.mark.django_db
def test_sign_in_over_the_limit_is_refused_with_429_and_retry_after() -> None:
    client = from_address("192.0.2.10")
    with limited(login=3):
        answers = [client.get("/saml2/login/") for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [302, 302, 302]
    refused = answers[3]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "no-store" in refused["Cache-Control"]
    assert "frame-ancestors 'none'" in refused["Content-Security-Policy"]
    assert answers[4].status_code == 429


@pytest.mark.django_db
def test_the_first_refusal_of_a_window_is_audited_and_the_rest_are_not() -> None:
    client = from_address("192.0.2.11")
    with limited(login=2):
        for _ in range(6):
            client.post("/saml2/acs/", {"SAMLResponse": "x"})
    events = AuditEvent.objects.filter(action=Action.RATE_LIMITED)
    assert events.count() == 1
    event = events.get()
    assert event.outcome == "refused"
    assert event.client_ip == "192.0.2.11"
    assert event.details == {"limit": "login", "requests": 2, "window_seconds": 60}


@pytest.mark.django_db
def test_sign_in_pages_and_the_acs_share_one_budget_per_address() -> None:
    client = from_address("192.0.2.12")
    with limited(login=2):
        assert client.get("/saml2/login/").status_code == 302
        assert client.post("/saml2/acs/", {"SAMLResponse": "x"}).status_code != 429
        assert client.get("/saml2/login/").status_code == 429
        # Another address has its own budget.
        assert from_address("192.0.2.13").get("/saml2/login/").status_code == 302


@pytest.mark.django_db
def test_launch_is_limited_separately_from_sign_in() -> None:
    client = from_address("192.0.2.14")
    with limited(login=1, launch=2):
        assert client.get("/saml2/login/").status_code == 302
        assert client.post("/launch").status_code != 429
        assert client.get("/launch/resume").status_code != 429
        assert client.post("/launch").status_code == 429
        assert client.get("/saml2/login/").status_code == 429


@pytest.mark.django_db
def test_scim_gets_a_scim_error_when_limited() -> None:
    client = from_address("192.0.2.15")
    with limited(scim=1):
        assert client.get("/scim/v2/Users").status_code == 401
        refused = client.get("/scim/v2/Users/1")
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/scim+json"
    body = orjson.loads(refused.content)
    assert body["status"] == "429"
    assert "urn:ietf:params:scim:api:messages:2.0:Error" in body["schemas"]


@pytest.mark.django_db
def test_pages_outside_the_buckets_are_never_counted() -> None:
    client = from_address("192.0.2.16")
    with limited(login=1, launch=1, scim=1):
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            assert client.get("/chart/rules/").status_code == 302
    assert not RateCounter.objects.exists()


@pytest.mark.django_db
def test_a_limit_of_zero_turns_the_bucket_off() -> None:
    client = from_address("192.0.2.17")
    with limited(login=0):
        assert all(client.get("/saml2/login/").status_code == 302 for _ in range(5))
    assert not RateCounter.objects.exists()


@pytest.mark.django_db
def test_behind_the_trusted_proxy_each_real_client_has_its_own_budget() -> None:
    with limited(login=1), override_settings(INDBLIK_TRUSTED_PROXIES=PROXY):
        first = from_address("10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.1")
        second = from_address("10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.2")
        assert first.get("/saml2/login/").status_code == 302
        assert second.get("/saml2/login/").status_code == 302
        assert first.get("/saml2/login/").status_code == 429
    clients = set(RateCounter.objects.values_list("client", flat=True))
    assert clients == {"198.51.100.1", "198.51.100.2"}


@pytest.mark.django_db
def test_a_forged_forwarded_for_does_not_escape_the_limit() -> None:
    # The peer is not a trusted proxy: whatever it writes in X-Forwarded-For is ignored.
    with limited(login=1), override_settings(INDBLIK_TRUSTED_PROXIES=PROXY):
        assert (
            from_address("203.0.113.9", HTTP_X_FORWARDED_FOR="1.1.1.1")
            .get("/saml2/login/")
            .status_code
            == 302
        )
        again = from_address("203.0.113.9", HTTP_X_FORWARDED_FOR="2.2.2.2")
        assert again.get("/saml2/login/").status_code == 429


@pytest.mark.django_db
def test_a_new_window_starts_afresh_and_clears_the_windows_that_are_over() -> None:
    start = 1_800_000_000  # a multiple of 60
    with override_settings(INDBLIK_RATE_LIMIT_WINDOW_SECONDS=60):
        assert ratelimit.hit("login", "192.0.2.20", now=start + 1) == (1, 59)
        assert ratelimit.hit("login", "192.0.2.20", now=start + 30)[0] == 2
        assert ratelimit.hit("login", "192.0.2.21", now=start + 61)[0] == 1
        assert ratelimit.hit("login", "192.0.2.20", now=start + 62)[0] == 1
        assert RateCounter.objects.count() == 3
        # Two windows later the first window's rows go as the next new row is made.
        ratelimit.hit("login", "192.0.2.22", now=start + 125)
    assert not RateCounter.objects.filter(window_start=start).exists()


@pytest.mark.postgres
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="SQLite's in-memory test database locks tables instead of waiting",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_each_get_their_own_count() -> None:
    # One upsert statement per request: no read-then-write that two app servers could race.
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> int:
        try:
            return ratelimit.hit("scim", "192.0.2.30", now=1_800_000_010)[0]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = sorted(pool.map(one, range(20)))
    assert counts == list(range(1, 21))


@pytest.mark.django_db
def test_one_ipv6_host_cannot_rotate_past_the_limit_within_its_64() -> None:
    with limited(login=3):
        answers = [
            from_address(f"2001:db8:1:2::{n:x}").get("/saml2/login/").status_code
            for n in range(1, 7)
        ]
        # Another /64 has its own budget.
        other = from_address("2001:db8:1:3::1").get("/saml2/login/").status_code
    assert answers == [302, 302, 302, 429, 429, 429]
    assert other == 302
