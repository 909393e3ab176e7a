"""Every URL in the resolver answers with the browser protections, signed in or not.

The URL list is walked from the resolver (nothing to keep in step by hand): each pattern gets
sample values for its converters and is fetched by an anonymous visitor and by a nurse with
a grant. Whatever the status (200, 302, 404, 405), the response carries the strict CSP with a
nonce, ``frame-ancestors 'none'``, ``nosniff``, the referrer policy, COOP, CORP and
Permissions-Policy; a signed-in user's responses are never stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from indblik.access.testing import Granted, grant_client
from indblik.chart.models import RulesAcknowledgement
from indblik.chart.tests.conftest import load_citizens, richest_patient
from indblik.core.headers import FORM_REFERRER_POLICY
from indblik.identity import saml

# Sample values for the path converters, by parameter name (the handle is the grant's).
SAMPLES = {
    "section": "lab",
    "resource_id": "no-such-document",
    "pk": "1",
    "content_type_id": "1",
    "object_id": "1",
    "user_id": "1",
    "resource_type": "Patient",
    "fhir_id": "no-such-patient",
    "cvr": "64942212",
    "url": "no-such-page/",
}
_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


def routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[str]:
    """Yield every URL pattern of the resolver as one string, route and regex alike."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + _text(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + _text(entry.pattern)


def _text(pattern: Any) -> str:
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        # ^(?P<app_label>auth|records)/$ -> the first alternative; anything else by name.
        text = _REGEX_GROUP.sub(
            lambda m: (
                m["body"].split("|")[0]
                if re.fullmatch(r"[\w|-]+", m["body"])
                else SAMPLES.get(m["name"], "x")
            ),
            text,
        )
        return text.lstrip("^").rstrip("$")
    assert isinstance(pattern, RoutePattern)
    return text


def concrete(route: str, handle: str) -> str:
    """Return the route with a sample value for each converter."""
    return "/" + _PARAMETER.sub(
        lambda m: handle if m["name"] == "handle" else SAMPLES.get(m["name"], "1"), route
    )


@pytest.fixture
def nurse(db: Any) -> Granted:
    load_citizens(1)
    return grant_client(richest_patient())


def assert_protected(response: Any, url: str, *, signed_in: bool) -> None:
    where = f"{url} ({response.status_code})"
    policy = response.get("Content-Security-Policy", "")
    directives = {}
    for part in filter(None, (p.strip() for p in policy.split(";"))):
        name, _, value = part.partition(" ")
        directives[name] = value
    assert directives.get("frame-ancestors") == "'none'", where
    assert directives.get("default-src") == "'none'", where
    assert directives.get("object-src") == "'none'", where
    assert directives.get("base-uri") == "'none'", where
    assert re.search(r"'nonce-[A-Za-z0-9+/=]{16,}'", directives.get("script-src", "")), where
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, where
    assert directives.get("style-src") == "'self'", where
    assert directives["form-action"].startswith("'self'"), where
    assert response["X-Content-Type-Options"] == "nosniff", where
    assert response["X-Frame-Options"] == "DENY", where
    assert response["Cross-Origin-Opener-Policy"] == "same-origin", where
    assert response["Cross-Origin-Resource-Policy"] == "same-origin", where
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in permissions, where
    referrer = response["Referrer-Policy"]
    assert referrer in ("no-referrer", FORM_REFERRER_POLICY), where
    body = response.content if not response.streaming else b""
    if b'name="csrfmiddlewaretoken"' in body:
        # A page with a POST form must let the browser send its Origin (CSRF check).
        assert referrer == FORM_REFERRER_POLICY, where
    if signed_in:
        assert "no-store" in response.get("Cache-Control", ""), where


def test_the_resolver_walk_finds_every_app() -> None:
    found = " ".join(routes())
    for needle in ("chart/<handle:handle>/", "saml2/acs/", "scim/v2/Users", "fhir/r4/", "launch"):
        assert needle in found
    assert "admin/identity/" in " ".join(concrete(route, "h" * 32) for route in routes())


def test_every_url_answers_an_anonymous_visitor_with_the_protections(nurse: Granted) -> None:
    client = Client()
    for route in routes():
        url = concrete(route, nurse.handle)
        response = client.get(url)
        assert_protected(response, url, signed_in=False)


def test_every_url_answers_a_signed_in_nurse_with_the_protections_and_no_store(
    nurse: Granted,
) -> None:
    statuses = {}
    for route in routes():
        url = concrete(route, nurse.handle)
        response = nurse.client.get(url)
        statuses[url] = response.status_code
        assert_protected(response, url, signed_in=True)
    # The walk reached the record itself, not only refusals.
    assert statuses[nurse.url()] == 200
    assert statuses[nurse.url("lab")] == 200


def test_a_nonce_is_new_on_every_response(nurse: Granted) -> None:
    first = nurse.client.get(nurse.url())["Content-Security-Policy"]
    second = nurse.client.get(nurse.url())["Content-Security-Policy"]
    nonce = re.compile(r"'nonce-([^']+)'")
    assert nonce.search(first) and nonce.search(second)
    assert nonce.search(first)[1] != nonce.search(second)[1]  # type: ignore[index]


def test_a_page_with_a_post_form_sends_its_origin_and_one_without_sends_no_referrer(
    nurse: Granted,
) -> None:
    # The rules page of a user who has not accepted them holds the acceptance form.
    RulesAcknowledgement.objects.filter(user=nurse.user).delete()
    page = nurse.client.get("/chart/rules/")
    assert b'name="csrfmiddlewaretoken"' in page.content
    assert page["Referrer-Policy"] == "same-origin"
    chart = nurse.client.get(nurse.url())
    assert chart["Referrer-Policy"] == "no-referrer"


def test_form_action_allows_the_identity_providers_sign_in_and_logout_origins(
    db: Any, tmp_path: Any
) -> None:
    metadata = tmp_path / "broker.xml"
    metadata.write_text(BROKER_METADATA)
    with override_settings(INDBLIK_SAML_DEMO_IDP=False, INDBLIK_SAML_IDP_METADATA=[str(metadata)]):
        assert saml.idp_origins() == ("https://broker.example.dk", "https://slo.example.dk:8443")
        policy = Client().get("/healthz")["Content-Security-Policy"]
    form_action = next(p for p in policy.split(";") if p.strip().startswith("form-action"))
    assert form_action.split()[1:] == [
        "'self'",
        "https://broker.example.dk",
        "https://slo.example.dk:8443",
    ]


BROKER_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    entityID="https://broker.example.dk/idp">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://slo.example.dk:8443/logout"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://broker.example.dk/sso"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://broker.example.dk/sso/post"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


@pytest.mark.parametrize("path", ["/static/indblik/chart.js", "/static/admin/img/icon-yes.svg"])
def test_static_files_carry_the_protections_too(db: Any, path: str) -> None:
    from django.test import Client

    response = Client().get(path)
    assert response.status_code == 200
    assert_protected(response, path, signed_in=False)
    assert "Access-Control-Allow-Origin" not in response
