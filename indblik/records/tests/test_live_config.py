"""Start-up checks of the live source's URLs (``indblik.records.live.config``)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from indblik.records.live.config import check_url, validate_settings


@pytest.mark.parametrize(
    "url",
    [
        "ftp://fhir.example/r4",
        "http://fhir.example/r4",  # plain http off this machine
        "https://user:secret@fhir.example/r4",
        "https://fhir.example/r4?x=1",
        "https://fhir.example:port/r4",
        "fhir.example/r4",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured):
        check_url(url, production=False, what="X")


def test_plain_http_only_to_loopback_and_never_in_production() -> None:
    check_url("http://127.0.0.1:8000/fhir/r4", production=False, what="X")
    check_url("http://localhost/fhir/r4", production=False, what="X")
    with pytest.raises(ImproperlyConfigured):
        check_url("http://127.0.0.1:8000/fhir/r4", production=True, what="X")
    check_url("https://fhir.example/r4", production=True, what="X")


def test_the_token_url_is_checked_like_the_base_url() -> None:
    def check(**changes: str) -> None:
        values = {"client_id": "c", "key_file": "k", "cert_file": "", "cert_key_file": ""}
        values.update(changes)
        validate_settings("https://fhir.example/r4", production=True, **values)

    check(token_url="https://auth.example/token")
    with pytest.raises(ImproperlyConfigured, match="INDBLIK_FHIR_TOKEN_URL"):
        check(token_url="http://auth.example/token")
    with pytest.raises(ImproperlyConfigured, match="INDBLIK_FHIR_CLIENT_ID"):
        check(client_id="")
    with pytest.raises(ImproperlyConfigured, match="go together"):
        check(cert_file="c.pem")
