"""Network allowlists: which addresses an organisation's users may connect from.

An organisation connects over the health data network (Sundhedsdatanettet) or from known
public ranges; a request from anywhere else is refused even with a valid session. An
organisation without ranges admits nobody: the allowlist fails closed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from indblik.audit.net import IPAddress, IPNetwork, parse_ip
from indblik.organisations.models import NetworkRange, Organisation

# The widest range one entry may name. A /8 is a sixteenth of a million IPv4 addresses and a
# /32 an ISP's whole IPv6 allocation: anything wider is a mistake, not an organisation.
MIN_PREFIX = {4: 8, 6: 32}


def parse_cidr(text: str) -> IPNetwork:
    """Return the network in ``text`` (``10.1.2.0/24``, ``2001:db8::/48``, a bare address).

    Host bits are dropped (``10.1.2.3/24`` is ``10.1.2.0/24``). Refused with a clear
    ValidationError: text that is not a network, a range wider than /8 (IPv4) or /32 (IPv6),
    and IPv4-mapped IPv6 ranges (clients are matched in their IPv4 form, so such a range would
    silently never match: write it as IPv4).
    """
    value = text.strip()
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValidationError(
            _("%(value)s is not a network address (write e.g. 10.20.0.0/16 or 2001:db8::/48)."),
            code="cidr_format",
            params={"value": repr(value[:60])},
        ) from None
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise ValidationError(
            _("%(value)s is too wide: an IPv%(version)d range must be /%(min)d or narrower."),
            code="cidr_too_wide",
            params={
                "value": str(network),
                "version": network.version,
                "min": MIN_PREFIX[network.version],
            },
        )
    if isinstance(network, ipaddress.IPv6Network) and (
        network.network_address.ipv4_mapped is not None
        and network.prefixlen >= 96  # ::ffff:0:0/96 and narrower: all mapped addresses
    ):
        raise ValidationError(
            _("%(value)s is an IPv4-mapped IPv6 range: write it in IPv4 form."),
            code="cidr_mapped",
            params={"value": str(network)},
        )
    return network


def ranges_of(org: Organisation) -> list[IPNetwork]:
    """Return the organisation's allowed networks."""
    return [ipaddress.ip_network(cidr) for cidr in _cidrs(org)]


def is_allowed(org: Organisation, ip: str | IPAddress | None) -> bool:
    """Tell whether ``ip`` lies in one of the organisation's allowed networks.

    ``ip`` is normalised like the audit log does (IPv4-mapped IPv6 becomes IPv4). An unknown
    or unparsable address, and an organisation without ranges, are never allowed.
    """
    return address_allowed(_cidrs(org), ip)


def address_allowed(cidrs: Iterable[str], ip: str | IPAddress | None) -> bool:
    """Tell whether ``ip`` lies in one of the networks ``cidrs`` (none given: never)."""
    if ip is None:
        return False
    address = parse_ip(str(ip))
    if address is None:
        return False
    return any(address in _network(cidr) for cidr in cidrs)


@lru_cache(maxsize=4096)
def _network(cidr: str) -> IPNetwork:
    # A parsed CIDR string (the string is the key: nothing to invalidate).
    return ipaddress.ip_network(cidr)


def _cidrs(org: Organisation) -> list[str]:
    # Use prefetched ranges when the caller loaded them (the middleware does), else query.
    cache = getattr(org, "_prefetched_objects_cache", {})
    if "network_ranges" in cache:
        return [item.cidr for item in cache["network_ranges"]]
    return list(NetworkRange.objects.filter(organisation=org).values_list("cidr", flat=True))
