"""Mutual TLS behind nginx: the client certificate's subject, believed only from our proxy,
binds a feed's or an organisation's SCIM bearer token to its certificate."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
import pytest
from django.test import Client, RequestFactory, override_settings

from indblik.audit.net import client_certificate_allows, client_certificate_subject
from indblik.identity import scim
from indblik.records import auth

PROXY = [ipaddress.ip_network("127.0.0.1/32")]
FEED_SUBJECT = "CN=sp-integration,O=Region Hovedstaden,C=DK"
SCIM_SUBJECT = "CN=scim,O=Frederiksberg Kommune,C=DK"
SUBJECTS = {"feed:sp-integration": FEED_SUBJECT, "scim:20277000": SCIM_SUBJECT}


def certificate(subject: str, verify: str = "SUCCESS") -> dict[str, Any]:
    return {"HTTP_X_CLIENT_CERT_SUBJECT": subject, "HTTP_X_CLIENT_CERT_VERIFY": verify}


def test_the_subject_is_believed_only_from_a_trusted_proxy_that_verified_it() -> None:
    factory = RequestFactory()
    with override_settings(INDBLIK_TRUSTED_PROXIES=PROXY):
        assert client_certificate_subject(factory.get("/", **certificate("CN=a"))) == "CN=a"
        failed = factory.get("/", **certificate("CN=a", verify="FAILED:certificate has expired"))
        assert client_certificate_subject(failed) is None
        direct = factory.get("/", REMOTE_ADDR="192.0.2.1", **certificate("CN=a"))
        assert client_certificate_subject(direct) is None
        assert client_certificate_subject(factory.get("/")) is None
    with override_settings(INDBLIK_TRUSTED_PROXIES=[]):
        assert client_certificate_subject(factory.get("/", **certificate("CN=a"))) is None


def test_a_client_not_listed_is_not_checked() -> None:
    request = RequestFactory().get("/")
    with override_settings(INDBLIK_CLIENT_CERT_SUBJECTS=SUBJECTS):
        assert client_certificate_allows(request, "feed:another-feed")
        assert not client_certificate_allows(request, "feed:sp-integration")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (certificate(FEED_SUBJECT), 200),
        ({}, 403),
        (certificate("CN=someone-else,O=Region Hovedstaden,C=DK"), 403),
        (certificate(FEED_SUBJECT, verify="FAILED:unable to verify"), 403),
    ],
)
def test_a_feed_token_works_only_with_the_feeds_certificate(
    headers: dict[str, Any], status: int
) -> None:
    token = auth.create_feed("sp-integration").token
    body = orjson.dumps({"resourceType": "Bundle", "type": "batch", "entry": []})
    with override_settings(INDBLIK_TRUSTED_PROXIES=PROXY, INDBLIK_CLIENT_CERT_SUBJECTS=SUBJECTS):
        response = Client().post(
            "/fhir/r4/",
            body,
            content_type="application/fhir+json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            **headers,
        )
    assert response.status_code == status, response.content
    if status == 403:
        assert b"client certificate" in response.content


@pytest.mark.django_db
def test_an_organisations_scim_token_works_only_with_its_certificate() -> None:
    token = scim.issue_credential("20277000", "idm")
    bearer: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with override_settings(INDBLIK_TRUSTED_PROXIES=PROXY, INDBLIK_CLIENT_CERT_SUBJECTS=SUBJECTS):
        assert Client().get(
            "/scim/v2/Users", **bearer, **certificate(SCIM_SUBJECT)
        ).status_code == (200)
        refused = Client().get("/scim/v2/Users", **bearer)
        assert refused.status_code == 403
        assert Client().get("/scim/v2/Users/1", **bearer).status_code == 403
