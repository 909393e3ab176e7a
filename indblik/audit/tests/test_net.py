"""The client's address and the request id: X-Forwarded-For is believed only from our proxies."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest

from indblik.audit.net import client_address, client_ip, parse_ip, request_id

MakeRequest = Callable[..., HttpRequest]
PROXIES = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8:ffff::/48")]


@pytest.fixture(autouse=True)
def trusted_proxies(settings: Any) -> None:
    settings.INDBLIK_TRUSTED_PROXIES = PROXIES


def test_without_a_proxy_the_peer_is_the_client(make_request: MakeRequest) -> None:
    assert client_ip(make_request(remote_addr="198.51.100.7")) == "198.51.100.7"


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_request: MakeRequest,
) -> None:
    request = make_request(remote_addr="198.51.100.7", HTTP_X_FORWARDED_FOR="10.20.30.40")
    assert client_ip(request) == "198.51.100.7"


def test_behind_our_proxy_the_forwarded_address_is_the_client(make_request: MakeRequest) -> None:
    request = make_request(remote_addr="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.44")
    assert client_ip(request) == "192.0.2.44"


def test_the_right_most_address_not_our_proxy_wins_over_anything_the_client_wrote(
    make_request: MakeRequest,
) -> None:
    # The client wrote "1.2.3.4" itself; our two proxies appended what they saw.
    request = make_request(
        remote_addr="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 192.0.2.44, 10.0.0.3"
    )
    assert client_ip(request) == "192.0.2.44"


def test_ipv6_clients_and_proxies_work_including_ports(make_request: MakeRequest) -> None:
    request = make_request(
        remote_addr="2001:db8:ffff::2", HTTP_X_FORWARDED_FOR="[2001:db8:1::99]:51234"
    )
    assert client_ip(request) == "2001:db8:1::99"
    request = make_request(remote_addr="2001:db8:ffff::2", HTTP_X_FORWARDED_FOR="192.0.2.5:443")
    assert client_ip(request) == "192.0.2.5"


def test_an_ipv4_mapped_peer_is_treated_as_ipv4(make_request: MakeRequest) -> None:
    request = make_request(remote_addr="::ffff:10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.9")
    assert client_ip(request) == "192.0.2.9"
    assert client_address(make_request(remote_addr="::ffff:192.0.2.1")) == ipaddress.ip_address(
        "192.0.2.1"
    )


@pytest.mark.parametrize("chain", ["192.0.2.1, unknown", "192.0.2.1, [2001:db8::1", "192.0.2.1,"])
def test_garbage_in_the_chain_stops_at_the_last_hop_we_are_sure_of(
    make_request: MakeRequest, chain: str
) -> None:
    request = make_request(remote_addr="10.0.0.2", HTTP_X_FORWARDED_FOR=chain)
    assert client_ip(request) == "10.0.0.2"


def test_a_request_through_our_proxies_only_is_from_the_left_most(
    make_request: MakeRequest,
) -> None:
    request = make_request(remote_addr="10.0.0.2", HTTP_X_FORWARDED_FOR="10.0.0.5, 10.0.0.3")
    assert client_ip(request) == "10.0.0.5"


def test_an_unknown_peer_has_no_address(make_request: MakeRequest) -> None:
    assert client_ip(make_request(remote_addr="")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 2001:DB8::1 ", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:c000:0201", "192.0.2.1"),
        ("not an address", None),
        ("", None),
    ],
)
def test_parse_ip_gives_one_spelling_per_address(text: str, expected: str | None) -> None:
    parsed = parse_ip(text)
    assert (None if parsed is None else str(parsed)) == expected


def test_the_request_id_comes_from_our_proxy_when_it_looks_like_one(
    make_request: MakeRequest,
) -> None:
    request = make_request(
        remote_addr="10.0.0.2", HTTP_X_REQUEST_ID="0f3a9c2e5b7d4e1f8a6c3b2d1e0f9a8b"
    )
    assert request_id(request) == "0f3a9c2e5b7d4e1f8a6c3b2d1e0f9a8b"


@pytest.mark.parametrize(
    ("peer", "header"),
    [
        ("198.51.100.7", "0f3a9c2e5b7d4e1f8a6c3b2d1e0f9a8b"),  # not our proxy
        ("10.0.0.2", "abc\r\nInjected: yes"),
        ("10.0.0.2", "short"),
        ("10.0.0.2", "x" * 65),
    ],
)
def test_any_other_request_id_is_replaced_by_a_fresh_uuid(
    make_request: MakeRequest, peer: str, header: str
) -> None:
    request = make_request(remote_addr=peer, HTTP_X_REQUEST_ID=header)
    value = request_id(request)
    assert value != header
    assert uuid.UUID(value).version == 4


def test_the_request_id_is_generated_once_per_request(make_request: MakeRequest) -> None:
    request = make_request()
    assert request_id(request) == request_id(request)
    assert request_id(make_request()) != request_id(request)
