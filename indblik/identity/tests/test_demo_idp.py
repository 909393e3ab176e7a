"""The demo identity provider: every persona signs in through the real SP path."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from indblik.identity.demo_idp import personas
from indblik.identity.models import User, UserKind
from indblik.identity.tests.conftest import assert_refused, decode
from indblik.organisations.demo import DEMO_ROLE, ensure_demo_organisations

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings: Any) -> None:
    """The demo set-up: the demo IdP as the only IdP, encryption required, and the
    organisations exactly as ``indblik demo`` registers them (live, demo role, loopback)."""
    settings.INDBLIK_SAML_DEMO_IDP = True
    settings.INDBLIK_SAML_IDP_METADATA = []
    settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    ensure_demo_organisations()


def persona_page(client: Client) -> Any:
    location = urlsplit(client.get("/saml2/login/", {"next": "/saml2/session/"})["Location"])
    assert location.path == "/demo-idp/sso/"
    return client.get(f"{location.path}?{location.query}")


def sign_in_as(client: Client, key: str) -> Any:
    page = persona_page(client)
    handle = re.search(r'name="handle" value="([^"]+)"', page.content.decode())
    assert handle is not None
    form = client.post("/demo-idp/sso/issue/", {"handle": handle.group(1), "persona": key})
    assert form.status_code == 200
    body = form.content.decode()
    action = re.search(r'action="([^"]+)"', body)
    answer = re.search(r'name="SAMLResponse" value="([^"]+)"', body)
    assert action is not None and answer is not None
    saml_response = html.unescape(answer.group(1))
    assert "EncryptedAssertion" in decode(saml_response)
    return client.post(urlsplit(action.group(1)).path, {"SAMLResponse": saml_response})


def test_the_demo_role_is_the_one_the_demo_organisations_grant() -> None:
    assert personas.DEMO_ROLE == DEMO_ROLE


def test_the_persona_page_lists_everyone_in_danish(client: Client, demo: None) -> None:
    page = persona_page(client)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Demo-login: vælg en person" in text
    for persona in personas.all_personas():
        assert f'value="{persona.key}"' in text
        assert persona.full_name in text
    assert "Hjemmesygeplejerske, Københavns Kommune" in text
    assert "<script" not in text  # works under a strict CSP without JavaScript


@pytest.mark.parametrize(
    "key", ["nurse-kk", "therapist-frb", "nurse-amager", "nurse-hospice", "doctor-1813"]
)
def test_the_professionals_with_the_role_sign_in(client: Client, demo: None, key: str) -> None:
    persona = personas.persona(key)
    assert persona is not None
    response = sign_in_as(client, key)
    assert response.status_code == 302 and response["Location"] == "/saml2/session/"
    user = User.objects.get(persistent_id=persona.persistent_id)
    assert user.organisation_cvr == persona.organisation[0]
    assert user.access_role == personas.DEMO_ROLE
    page = client.get("/saml2/session/")
    assert persona.full_name in page.content.decode()


def test_the_colleague_without_the_role_is_refused(client: Client, demo: None) -> None:
    assert_refused(sign_in_as(client, "colleague-kk"), "role-missing")


def test_the_log_reviewer_signs_in_with_the_review_role(client: Client, demo: None) -> None:
    assert sign_in_as(client, "reviewer-kk").status_code == 302
    assert User.objects.get().is_reviewer


def test_the_hospital_administrator_becomes_staff(client: Client, demo: None) -> None:
    assert sign_in_as(client, "admin-hospital").status_code == 302
    user = User.objects.get()
    assert user.is_staff and user.organisation_cvr == ""
    assert user.organisation_name == "Region Hovedstaden"


def test_the_citizen_signs_in_with_her_cpr_number(client: Client, demo: None) -> None:
    assert sign_in_as(client, "citizen").status_code == 302
    user = User.objects.get()
    assert user.kind == UserKind.CITIZEN and user.cpr == "2108624008"


def test_the_answer_page_posts_by_a_script_file_and_has_a_button(
    client: Client, demo: None
) -> None:
    page = persona_page(client)
    handle = re.search(r'name="handle" value="([^"]+)"', page.content.decode())
    assert handle is not None
    body = client.post(
        "/demo-idp/sso/issue/", {"handle": handle.group(1), "persona": "nurse-kk"}
    ).content.decode()
    assert '<script src="/static/identity/autosubmit.js" defer></script>' in body
    assert re.search(r"<script>", body) is None  # nothing inline
    assert '<button type="submit">Fortsæt</button>' in body


def test_a_handle_is_used_once(client: Client, demo: None) -> None:
    page = persona_page(client)
    handle = re.search(r'name="handle" value="([^"]+)"', page.content.decode())
    assert handle is not None
    data = {"handle": handle.group(1), "persona": "nurse-kk"}
    assert client.post("/demo-idp/sso/issue/", data).status_code == 200
    assert client.post("/demo-idp/sso/issue/", data).status_code == 400


def test_the_demo_idp_refuses_an_unsigned_or_altered_request(client: Client, demo: None) -> None:
    location = urlsplit(client.get("/saml2/login/")["Location"])
    assert (
        client.get(
            f"{location.path}?{location.query.replace('Signature=', 'Signature=AA')}"
        ).status_code
        == 400
    )
    unsigned = "&".join(
        p for p in location.query.split("&") if not p.startswith(("Signature=", "SigAlg="))
    )
    assert client.get(f"{location.path}?{unsigned}").status_code == 400


def test_the_demo_idp_is_gone_when_switched_off(client: Client, settings: Any) -> None:
    settings.INDBLIK_SAML_DEMO_IDP = False
    assert client.get("/demo-idp/metadata/").status_code == 404
    assert client.get("/demo-idp/sso/").status_code == 404


def test_the_demo_idp_publishes_metadata(client: Client, demo: None) -> None:
    response = client.get("/demo-idp/metadata/")
    assert response.status_code == 200
    assert b"IDPSSODescriptor" in response.content
    assert b"http://127.0.0.1:8000/demo-idp/sso/" in response.content


def test_the_demo_idp_completes_single_logout(client: Client, demo: None) -> None:
    assert sign_in_as(client, "nurse-kk").status_code == 302
    to_idp = urlsplit(client.post("/saml2/logout/")["Location"])
    assert to_idp.path == "/demo-idp/slo/"
    back = urlsplit(client.get(f"{to_idp.path}?{to_idp.query}")["Location"])
    assert back.path == "/saml2/ls/"
    final = client.get(f"{back.path}?{back.query}")
    assert final["Location"] == "/saml2/logged-out/"
    assert client.get("/saml2/session/").status_code == 302
