"""Who is on the other end of a request: the client's address and the request's id.

Reusable outside the audit app (the organisations app uses :func:`client_address` for its
network allowlist), so it depends on nothing but settings.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What a proxy-generated request id looks like (nginx's $request_id is 32 hex digits, a UUID
# has dashes). Anything else is not believed: the id is copied into logs and must be inert.
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")


def parse_ip(value: str) -> IPAddress | None:
    """Return the address in ``value``, or None if it is not one.

    IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``, what a dual-stack socket reports) become
    plain IPv4, and a zone (``%eth0``) is dropped, so one client always has one spelling and
    IPv4 allowlists match it.
    """
    text = value.strip()
    if "%" in text:
        text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: IPAddress, proxies: Iterable[IPNetwork] | None = None) -> bool:
    """Tell whether ``address`` belongs to a reverse proxy listed in INDBLIK_TRUSTED_PROXIES."""
    networks = settings.INDBLIK_TRUSTED_PROXIES if proxies is None else proxies
    return any(address in network for network in networks)


def client_address(request: HttpRequest) -> IPAddress | None:
    """Return the client's address, believing X-Forwarded-For only from trusted proxies.

    Walk the chain from the right (the hop nearest to us): every address that is a trusted
    proxy passed the request on, so keep going; the first one that is not is the client. An
    untrusted peer's X-Forwarded-For is ignored entirely - anyone can send the header. If the
    chain holds something that is not an address, stop and return the last hop we are sure of.
    """
    peer = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return None
    proxies = settings.INDBLIK_TRUSTED_PROXIES
    if not is_trusted_proxy(peer, proxies):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hop = peer
    for item in reversed(forwarded.split(",")):
        address = parse_ip(_strip_port(item))
        if address is None:
            return hop
        hop = address
        if not is_trusted_proxy(address, proxies):
            return address
    # Every hop was one of our proxies (an internal health check): the left-most is the client.
    return hop


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's address as text (see :func:`client_address`), or None if unknown."""
    address = client_address(request)
    return None if address is None else str(address)


def _strip_port(item: str) -> str:
    """Drop a port some proxies append: ``[2001:db8::1]:443`` and ``192.0.2.1:443``."""
    text = item.strip()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        return text.split(":", 1)[0]
    return text


def request_id(request: HttpRequest) -> str:
    """Return the request's correlation id: the proxy's X-Request-ID, else a new uuid4.

    The header is believed only from a trusted proxy (a client could otherwise make its
    requests share an id with someone else's) and only when it looks like an id. The value is
    cached on the request so every audit row of one request carries the same id.
    """
    cached = getattr(request, "indblik_request_id", None)
    if isinstance(cached, str):
        return cached
    value = request.META.get("HTTP_X_REQUEST_ID", "")
    peer = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if not (
        peer is not None and is_trusted_proxy(peer) and _REQUEST_ID.fullmatch(value) is not None
    ):
        value = str(uuid.uuid4())
    request.indblik_request_id = value  # type: ignore[attr-defined]
    return value


def client_certificate_subject(request: HttpRequest) -> str | None:
    """Return the subject DN of the client certificate the proxy verified, or None.

    nginx terminates mutual TLS for the machine APIs and passes ``X-Client-Cert-Subject``
    (``$ssl_client_s_dn``) and ``X-Client-Cert-Verify`` (``$ssl_client_verify``). Both are
    believed only from a trusted proxy, and the subject only when the proxy says it verified
    the certificate: anyone else can send the headers.
    """
    peer = parse_ip(request.META.get("REMOTE_ADDR", ""))
    if peer is None or not is_trusted_proxy(peer):
        return None
    if request.META.get("HTTP_X_CLIENT_CERT_VERIFY", "") != "SUCCESS":
        return None
    subject = request.META.get("HTTP_X_CLIENT_CERT_SUBJECT", "").strip()
    return subject or None


def client_certificate_allows(request: HttpRequest, client: str) -> bool:
    """Tell whether the request may act as ``client`` (``feed:NAME``, ``scim:CVR``).

    A client listed in INDBLIK_CLIENT_CERT_SUBJECTS must come with exactly that verified
    certificate subject (its bearer token alone is not enough); an unlisted one is not checked.
    """
    expected = settings.INDBLIK_CLIENT_CERT_SUBJECTS.get(client)
    if expected is None:
        return True
    return client_certificate_subject(request) == expected
