"""Session policy (timeouts, caching, sign-out) and single logout in both directions."""

from __future__ import annotations

import base64
import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import saml2
import time_machine
from django.test import Client
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.xmldsig import SIG_RSA_SHA1, SIG_RSA_SHA256

from indblik import audit
from indblik.identity import saml
from indblik.identity.models import User, UserSession
from indblik.identity.sessions import CLEAR_SITE_DATA
from indblik.identity.tests.conftest import NURSE, Broker, make_idp, now

pytestmark = pytest.mark.django_db


def is_signed_in(client: Client) -> bool:
    return client.get("/saml2/session/").status_code == 200


@pytest.fixture
def signed_in(broker: Broker, client: Client) -> Client:
    assert broker.login().status_code == 302
    assert is_signed_in(client)
    return client


# --- timeouts ------------------------------------------------------------------------------


def test_an_idle_session_expires(signed_in: Client, settings: Any) -> None:
    later = now() + datetime.timedelta(minutes=settings.INDBLIK_SESSION_IDLE_MINUTES, seconds=5)
    with time_machine.travel(later, tick=False):
        response = signed_in.get("/saml2/session/")
    assert response.status_code == 302
    assert response["Location"] == "/saml2/session-expired/"
    assert response["Clear-Site-Data"] == CLEAR_SITE_DATA
    assert "no-store" in response["Cache-Control"]
    expired = audit.AuditEvent.objects.get(action=audit.Action.SESSION_EXPIRED)
    assert expired.details == {"reason": "idle"} and expired.user_id == User.objects.get().pk
    assert not UserSession.objects.exists()
    assert not is_signed_in(signed_in)


def test_activity_keeps_a_session_alive_until_the_absolute_limit(
    signed_in: Client, settings: Any
) -> None:
    settings.INDBLIK_SESSION_MAX_HOURS = 1
    start = now()
    for minutes in (10, 20, 30, 40, 50):
        with time_machine.travel(start + datetime.timedelta(minutes=minutes), tick=False):
            assert signed_in.get("/saml2/session/").status_code == 200
    with time_machine.travel(start + datetime.timedelta(minutes=61), tick=False):
        response = signed_in.get("/saml2/session/")
    assert response["Location"] == "/saml2/session-expired/"
    assert audit.AuditEvent.objects.get(action=audit.Action.SESSION_EXPIRED).details == {
        "reason": "absolute"
    }


def test_the_expired_page_clears_the_browser(client: Client) -> None:
    response = client.get("/saml2/session-expired/")
    assert response.status_code == 200
    assert response["Clear-Site-Data"] == CLEAR_SITE_DATA
    assert "Din session er udløbet" in response.content.decode()


def test_signed_in_pages_are_never_stored_by_the_browser(signed_in: Client) -> None:
    assert "no-store" in signed_in.get("/").headers.get("Cache-Control", "")
    assert "no-store" in signed_in.get("/saml2/session/")["Cache-Control"]


def test_anonymous_pages_keep_their_own_caching(client: Client) -> None:
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")


# --- sign-out ----------------------------------------------------------------------------


def test_sign_out_is_post_only_and_needs_the_csrf_token(broker: Broker) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert broker.login(client=browser).status_code == 302
    assert browser.get("/saml2/logout/").status_code == 405
    assert browser.post("/saml2/logout/").status_code == 403  # no CSRF token
    assert is_signed_in(browser)


def test_sign_out_ends_the_session_first_then_asks_the_broker(signed_in: Client, idp: Any) -> None:
    response = signed_in.post("/saml2/logout/")
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == CLEAR_SITE_DATA
    assert not is_signed_in(signed_in)
    assert not UserSession.objects.exists()
    logout = audit.AuditEvent.objects.get(action=audit.Action.LOGOUT)
    assert logout.details == {"initiated_by": "user"} and logout.actor_name == "Mette Holm"

    # The browser goes to the broker with a signed LogoutRequest for the right person...
    location = urlsplit(response["Location"])
    assert location.geturl().startswith("https://broker.test.example/idp/slo")
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["SigAlg"] == SIG_RSA_SHA256
    request = idp.parse_logout_request(
        query["SAMLRequest"],
        saml2.BINDING_HTTP_REDIRECT,
        relay_state=query.get("RelayState"),
        sigalg=query["SigAlg"],
        signature=query["Signature"],
    )
    assert request.message.name_id.text == NURSE.name_id
    # ... and comes back with the broker's answer to the logged-out page.
    answer = idp.create_logout_response(request.message, [saml2.BINDING_HTTP_REDIRECT])
    info = idp.apply_binding(
        saml2.BINDING_HTTP_REDIRECT,
        str(answer),
        saml.slo_url(),
        query.get("RelayState", ""),
        response=True,
        sign=True,
    )
    back = urlsplit(dict(info["headers"])["Location"])
    final = signed_in.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    assert final.status_code == 302 and final["Location"] == "/saml2/logged-out/"
    page = signed_in.get(final["Location"])
    assert page["Clear-Site-Data"] == CLEAR_SITE_DATA
    assert "Du er logget ud" in page.content.decode()


def test_signing_out_without_a_session_just_shows_the_page(client: Client) -> None:
    response = client.post("/saml2/logout/")
    assert response["Location"] == "/saml2/logged-out/"


def idp_logout_request(
    idp: Any, *, name_id: str = NURSE.name_id, sign: bool = True, **kw: Any
) -> Any:
    return idp.create_logout_request(
        saml.slo_url(),
        saml.entity_id(),
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=name_id),
        sign=sign,
        **kw,
    )


def redirect_query(
    idp: Any, request: Any, *, sign: bool = True, sigalg: str = SIG_RSA_SHA256
) -> dict[str, str]:
    info = idp.apply_binding(
        saml2.BINDING_HTTP_REDIRECT, str(request), saml.slo_url(), sign=sign, sigalg=sigalg
    )
    location = urlsplit(dict(info["headers"])["Location"])
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def test_a_signed_idp_logout_request_ends_the_session(signed_in: Client, idp: Any) -> None:
    _id, request = idp_logout_request(idp, sign=False)
    response = signed_in.get("/saml2/ls/", redirect_query(idp, request))
    assert response.status_code == 302
    assert response["Location"].startswith("https://broker.test.example/idp/slo?SAMLResponse=")
    assert response["Clear-Site-Data"] == CLEAR_SITE_DATA
    assert not is_signed_in(signed_in)
    assert audit.AuditEvent.objects.get(action=audit.Action.LOGOUT).details == {
        "initiated_by": "idp"
    }


def test_a_signed_idp_logout_request_by_http_post_ends_the_session(
    signed_in: Client, idp: Any
) -> None:
    _id, request = idp_logout_request(idp, sign=True, sign_alg=SIG_RSA_SHA256)
    encoded = base64.b64encode(str(request).encode()).decode()
    response = signed_in.post("/saml2/ls/", {"SAMLRequest": encoded})
    assert response.status_code in (200, 302)
    assert not is_signed_in(signed_in)


def test_an_unsigned_idp_logout_request_is_ignored(signed_in: Client, idp: Any) -> None:
    _id, request = idp_logout_request(idp, sign=False)
    response = signed_in.get("/saml2/ls/", redirect_query(idp, request, sign=False))
    assert response.status_code == 403
    assert is_signed_in(signed_in)


def test_an_unsigned_idp_logout_request_by_http_post_is_ignored(
    signed_in: Client, idp: Any
) -> None:
    _id, request = idp_logout_request(idp, sign=False)
    encoded = base64.b64encode(str(request).encode()).decode()
    assert signed_in.post("/saml2/ls/", {"SAMLRequest": encoded}).status_code == 403
    assert is_signed_in(signed_in)


def test_a_logout_request_signed_with_sha1_is_ignored(signed_in: Client, idp: Any) -> None:
    _id, request = idp_logout_request(idp, sign=False)
    response = signed_in.get("/saml2/ls/", redirect_query(idp, request, sigalg=SIG_RSA_SHA1))
    assert response.status_code == 403
    assert is_signed_in(signed_in)


def test_a_logout_request_signed_by_another_key_is_ignored(
    signed_in: Client, idp_keys: dict[str, Any]
) -> None:
    impostor = make_idp(idp_keys["rogue_key"], idp_keys["rogue_cert"])
    _id, request = idp_logout_request(impostor, sign=False)
    response = signed_in.get("/saml2/ls/", redirect_query(impostor, request))
    assert response.status_code == 403
    assert is_signed_in(signed_in)


def test_a_logout_request_for_someone_else_leaves_this_browser_signed_in(
    signed_in: Client, idp: Any
) -> None:
    _id, request = idp_logout_request(
        idp, name_id="https://data.gov.dk/model/core/eid/professional/uuid/x"
    )
    response = signed_in.get("/saml2/ls/", redirect_query(idp, request))
    assert response.status_code == 302  # answered to the IdP (unknown principal)
    assert is_signed_in(signed_in)


def test_an_empty_logout_call_is_refused_cleanly(client: Client) -> None:
    assert client.get("/saml2/ls/").status_code == 403


def test_sign_out_happens_even_when_the_audit_log_cannot_be_written(signed_in: Client) -> None:
    from django.db import DatabaseError, connection

    def refuse_audit_insert(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith('INSERT INTO "audit_auditevent"'):
            raise DatabaseError("audit storage is down")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_audit_insert):
        response = signed_in.post("/saml2/logout/")
    assert response.status_code == 302
    assert not is_signed_in(signed_in)
    assert not audit.AuditEvent.objects.filter(action=audit.Action.LOGOUT).exists()
