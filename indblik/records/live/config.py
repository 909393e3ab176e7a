"""Start-up checks of the live source's settings (imported by ``indblik.settings``: no models)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` is this machine (plain HTTP is allowed only there)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, production: bool, what: str) -> None:
    """Refuse a URL the record or a token would travel to unsafely (ImproperlyConfigured)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ImproperlyConfigured(f"{what}: not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ImproperlyConfigured(f"{what} must be an https:// URL, not {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ImproperlyConfigured(
            f"{what} must be a plain URL (no query, fragment or credentials)"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        # Clinical data and credentials never cross a network unencrypted: http on loopback only.
        raise ImproperlyConfigured(f"{what} must use https (plain http only to a loopback address)")
    if production and parts.scheme != "https":
        raise ImproperlyConfigured(f"{what} must use https in production mode")


def validate_settings(
    base_url: str,
    *,
    production: bool,
    client_id: str,
    key_file: str,
    cert_file: str,
    cert_key_file: str,
    token_url: str = "",
) -> None:
    """Refuse a live source that could not be used safely (raises ImproperlyConfigured)."""
    check_url(base_url, production=production, what="INDBLIK_RECORD_SOURCE")
    if token_url:
        check_url(token_url, production=production, what="INDBLIK_FHIR_TOKEN_URL")
    if not client_id:
        raise ImproperlyConfigured(
            "INDBLIK_FHIR_CLIENT_ID must be set: the client id the FHIR server registered for "
            "this Indblik (SMART Backend Services)"
        )
    if production and not key_file:
        raise ImproperlyConfigured(
            "INDBLIK_FHIR_CLIENT_KEY_FILE must name the private key (JWK, EC P-384 or RSA) that "
            "signs the client assertions; create one with `indblik keys generate --fhir-client "
            "FILE` and register its public part (`indblik keys show --fhir-client`) at the server"
        )
    if bool(cert_file) != bool(cert_key_file):
        raise ImproperlyConfigured(
            "INDBLIK_FHIR_CLIENT_CERT_FILE and INDBLIK_FHIR_CLIENT_CERT_KEY_FILE go together "
            "(the client certificate for mutual TLS and its key)"
        )
