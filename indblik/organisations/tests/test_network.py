"""Parsing allowlist ranges, allowing and denying them, and matching client addresses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from indblik.audit import Action, Actor
from indblik.organisations import registry
from indblik.organisations.errors import RegistryError
from indblik.organisations.models import Organisation
from indblik.organisations.network import MIN_PREFIX, is_allowed, parse_cidr

Events = Callable[..., list[Any]]


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("10.20.0.0/16", "10.20.0.0/16"),
        ("10.20.30.40/16", "10.20.0.0/16"),
        (" 192.0.2.7 ", "192.0.2.7/32"),
        ("2001:DB8:1::/48", "2001:db8:1::/48"),
        ("2001:db8:1:2::5/48", "2001:db8:1::/48"),
        ("::1", "::1/128"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("2001:db8::/32", "2001:db8::/32"),
    ],
)
def test_a_range_is_normalised(text: str, normalised: str) -> None:
    assert str(parse_cidr(text)) == normalised


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "cidr_format"),
        ("10.20.0.0/33", "cidr_format"),
        ("10.20.0", "cidr_format"),
        ("kommune.dk", "cidr_format"),
        ("0.0.0.0/0", "cidr_too_wide"),
        ("10.0.0.0/7", "cidr_too_wide"),
        ("::/0", "cidr_too_wide"),
        ("2001:db8::/31", "cidr_too_wide"),
        ("::ffff:10.20.0.0/112", "cidr_mapped"),
    ],
)
def test_a_bad_or_absurdly_wide_range_is_refused(text: str, code: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse_cidr(text)
    assert error.value.code == code


@given(st.ip_addresses(), st.data())
def test_any_range_at_least_as_narrow_as_the_limit_parses_to_itself(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, data: st.DataObject
) -> None:
    limit = MIN_PREFIX[address.version]
    prefix = data.draw(st.integers(limit, address.max_prefixlen))
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        return
    parsed = parse_cidr(f"{address}/{prefix}")
    assert parsed == network
    assert parse_cidr(str(parsed)) == parsed
    assert address in parsed


@given(st.ip_addresses(), st.data())
def test_any_range_wider_than_the_limit_is_refused(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, data: st.DataObject
) -> None:
    prefix = data.draw(st.integers(0, MIN_PREFIX[address.version] - 1))
    with pytest.raises(ValidationError):
        parse_cidr(f"{address}/{prefix}")


@pytest.mark.django_db
def test_allowing_is_all_or_nothing(municipality: Organisation, alice: Actor) -> None:
    with pytest.raises(ValidationError):
        registry.allow_network(org=municipality, cidrs=["10.0.0.0/16", "0.0.0.0/0"], by=alice)
    assert not municipality.network_ranges.exists()


@pytest.mark.django_db
def test_allowing_skips_ranges_already_there_and_audits_before_and_after(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    assert registry.allow_network(org=municipality, cidrs=["10.20.1.2/16"], by=alice) == [
        "10.20.0.0/16"
    ]
    added = registry.allow_network(
        org=municipality, cidrs=["10.20.0.0/16", "2001:db8:1::/48", "2001:db8:1::/48"], by=alice
    )
    assert added == ["2001:db8:1::/48"]
    assert registry.allow_network(org=municipality, cidrs=["10.20.0.0/16"], by=alice) == []
    _first, second = events(Action.ORGANISATION_NETWORK_CHANGE)
    assert second.details["change"] == "allow"
    assert second.details["added"] == ["2001:db8:1::/48"]
    assert second.details["before"] == ["10.20.0.0/16"]
    assert second.details["after"] == ["10.20.0.0/16", "2001:db8:1::/48"]


@pytest.mark.django_db
def test_denying_removes_ranges_and_refuses_one_not_allowed(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    registry.allow_network(org=municipality, cidrs=["10.20.0.0/16", "10.30.0.0/16"], by=alice)
    with pytest.raises(RegistryError, match=re.escape("10.40.0.0/16")):
        registry.deny_network(org=municipality, cidrs=["10.20.0.0/16", "10.40.0.0/16"], by=alice)
    assert municipality.network_ranges.count() == 2
    assert registry.deny_network(org=municipality, cidrs=["10.20.9.9/16"], by=alice) == [
        "10.20.0.0/16"
    ]
    event = events(Action.ORGANISATION_NETWORK_CHANGE)[-1]
    assert (event.details["before"], event.details["after"]) == (
        ["10.20.0.0/16", "10.30.0.0/16"],
        ["10.30.0.0/16"],
    )


@pytest.mark.django_db
def test_too_many_ranges_at_once_are_refused(municipality: Organisation, alice: Actor) -> None:
    many = [f"10.{n}.0.0/16" for n in range(21)]
    with pytest.raises(RegistryError, match="At most 20"):
        registry.allow_network(org=municipality, cidrs=many, by=alice)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("10.20.0.1", True),
        ("10.20.255.254", True),
        ("10.21.0.1", False),
        ("::ffff:10.20.1.1", True),
        ("2001:db8:1::5", True),
        ("2001:db8:1:ffff::1", True),
        ("2001:db8:2::1", False),
        ("fe80::1%eth0", False),
        ("not an address", False),
        (None, False),
    ],
)
def test_an_address_is_allowed_only_inside_a_range(
    municipality: Organisation, alice: Actor, ip: str | None, allowed: bool
) -> None:
    registry.allow_network(org=municipality, cidrs=["10.20.0.0/16", "2001:db8:1::/48"], by=alice)
    assert is_allowed(municipality, ip) is allowed


@pytest.mark.django_db
def test_an_organisation_without_ranges_admits_nobody(municipality: Organisation) -> None:
    assert not is_allowed(municipality, "127.0.0.1")
    assert not is_allowed(municipality, ipaddress.ip_address("10.0.0.1"))
