"""Signing in through the broker: real signed responses, just-in-time users, refusals."""

from __future__ import annotations

import base64
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from indblik import audit
from indblik.identity import attributes, users
from indblik.identity.models import User, UserKind, UserSession
from indblik.identity.tests.conftest import (
    FRB,
    KK,
    NURSE,
    ROLE,
    UNKNOWN_CVR,
    Broker,
    assert_refused,
)

pytestmark = pytest.mark.django_db


def signed_in_user(client: Client) -> Any:
    """Return the user of the client's session (as the next request would see it)."""
    response = client.get("/saml2/session/")
    return response.context["person"] if response.status_code == 200 else None


def test_the_login_view_sends_a_signed_redirect_asking_for_substantial_and_persistent(
    client: Client, sp_settings: Any
) -> None:
    response = client.get("/saml2/login/", {"next": "/saml2/session/"})
    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"][0]
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15).decode()
    assert 'Comparison="minimum"' in xml
    assert "https://data.gov.dk/concept/core/nsis/loa/Substantial</" in xml
    assert 'Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"' in xml
    assert 'AssertionConsumerServiceURL="http://127.0.0.1:8000/saml2/acs/"' in xml


def test_a_nurse_with_the_role_is_created_just_in_time(broker: Broker, client: Client) -> None:
    response = broker.login()
    assert response.status_code == 302
    assert response["Location"] == "/saml2/session/"
    user = User.objects.get(persistent_id=NURSE.persistent_id)
    assert user.kind == UserKind.PROFESSIONAL
    assert user.username == f"saml:{NURSE.persistent_id}"
    assert not user.has_usable_password()
    assert (user.full_name, user.email) == (NURSE.full_name, NURSE.email)
    assert (user.organisation_cvr, user.organisation_name) == KK
    assert user.roles == [ROLE]
    assert user.access_role == ROLE
    assert user.authorisation_id == "5D2K9"
    assert user.loa == "Substantial"
    assert user.delegated is False
    assert user.is_active and not user.is_staff
    assert user.last_login is not None and user.last_saml_login is not None
    assert signed_in_user(client) == user
    login = audit.AuditEvent.objects.get(action=audit.Action.LOGIN)
    assert (login.user_id, login.actor_name, login.actor_authorisation) == (
        user.pk,
        "Mette Holm",
        "5D2K9",
    )
    assert (login.organisation_cvr, login.actor_role) == (KK[0], ROLE)


def test_an_encrypted_assertion_is_accepted(broker: Broker, sp_settings: Any) -> None:
    sp_settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    response = broker.login(encrypt=True)
    assert response.status_code == 302
    assert User.objects.filter(persistent_id=NURSE.persistent_id, is_active=True).exists()


def test_a_plain_assertion_is_refused_when_encryption_is_required(
    broker: Broker, sp_settings: Any
) -> None:
    sp_settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    assert_refused(broker.login(encrypt=False), "not-encrypted")


def test_the_second_login_updates_the_user(broker: Broker, client: Client) -> None:
    broker.login()
    first = User.objects.get(persistent_id=NURSE.persistent_id)
    client.post("/saml2/logout/")
    moved = NURSE.but(full_name="Mette Holm Berg", email="mhb@kk.example.dk", authorisation_id="")
    assert broker.login(moved).status_code == 302
    user = User.objects.get(persistent_id=NURSE.persistent_id)
    assert user.pk == first.pk
    assert (user.full_name, user.email, user.authorisation_id) == (
        "Mette Holm Berg",
        "mhb@kk.example.dk",
        "",
    )
    assert User.objects.count() == 1


def test_login_gives_a_new_session_id_and_indexes_the_session(
    broker: Broker, client: Client
) -> None:
    client.get("/saml2/login/")  # an anonymous session exists before the sign-in
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else None
    broker.login()
    after = client.cookies["sessionid"].value
    assert after and after != before
    user = User.objects.get(persistent_id=NURSE.persistent_id)
    row = UserSession.objects.get(user=user)
    assert row.session_key == after
    assert row.saml_session_key == client.cookies["saml_session"].value


def test_a_user_whose_role_is_gone_is_deactivated_and_all_sessions_end(
    broker: Broker, client: Client
) -> None:
    broker.login()
    other_browser = Client()
    broker.login(client=other_browser)
    assert signed_in_user(other_browser) is not None
    user = User.objects.get(persistent_id=NURSE.persistent_id)
    assert UserSession.objects.filter(user=user).count() == 2

    third_browser = Client()
    response = broker.login(
        NURSE.but(roles=("http://demo.indblik.dk/roles/jobrole/other/1",)), third_browser
    )

    assert_refused(response, "role-missing")
    assert "rolle" in response.content.decode()  # the Danish explanation of what to do
    user.refresh_from_db()
    assert not user.is_active and user.deactivation_reason == "role-missing"
    assert signed_in_user(client) is None
    assert signed_in_user(other_browser) is None
    assert not UserSession.objects.filter(user=user).exists()
    deactivation = audit.AuditEvent.objects.get(action=audit.Action.USER_DEACTIVATED)
    assert deactivation.details["sessions_ended"] == 2


def test_the_role_in_another_cvrs_scope_does_not_count(broker: Broker) -> None:
    scoped_elsewhere = attributes.encode_privileges({FRB[0]: [ROLE]})
    assert_refused(broker.login(NURSE.but(privileges=scoped_elsewhere)), "role-missing")
    assert not User.objects.exists()


def test_the_role_counts_only_with_the_assertions_own_cvr(broker: Broker) -> None:
    # The privileges name KK, but the person is asserted for Frederiksberg.
    person = NURSE.but(
        cvr=FRB[0],
        organisation_name=FRB[1],
        privileges=attributes.encode_privileges({KK[0]: [ROLE]}),
    )
    assert_refused(broker.login(person), "role-missing")


def test_the_older_itst_namespace_is_accepted(broker: Broker) -> None:
    privileges = attributes.encode_privileges(
        {KK[0]: [ROLE]}, namespace="http://itst.dk/oiosaml/basic_privilege_profile"
    )
    assert broker.login(NURSE.but(privileges=privileges)).status_code == 302


@pytest.mark.parametrize(
    ("cvr", "reason"),
    [
        (UNKNOWN_CVR, "organisation-unknown"),
        ("30416031", "organisation-suspended"),
        ("29190909", "organisation-not-live"),
    ],
)
def test_an_organisation_that_is_not_live_is_refused(broker: Broker, cvr: str, reason: str) -> None:
    person = NURSE.but(cvr=cvr, organisation_name="X")
    response = broker.login(person)
    assert_refused(response, reason)
    assert not User.objects.exists()
    assert (
        audit.AuditEvent.objects.filter(action=audit.Action.LOGIN_REFUSED).get().organisation_cvr
        == cvr
    )


@pytest.mark.parametrize(
    "loa", ["Low", "https://data.gov.dk/concept/core/nsis/loa/Low", "", "Medium"]
)
def test_a_low_or_unknown_level_of_assurance_is_refused(broker: Broker, loa: str) -> None:
    assert_refused(broker.login(NURSE.but(loa=loa)), "loa")


def test_level_high_is_accepted(broker: Broker) -> None:
    assert (
        broker.login(NURSE.but(loa="https://data.gov.dk/concept/core/nsis/loa/High")).status_code
        == 302
    )
    assert User.objects.get().loa == "High"


@pytest.mark.parametrize(
    "privileges",
    [
        "%%% not base64 %%%",
        base64.b64encode(
            b"<bpp:PrivilegeList xmlns:bpp='http://digst.dk/oiosaml/basic_privilege_profile'>"
        ).decode(),
        base64.b64encode(
            b'<!DOCTYPE x [<!ENTITY a "b">]><bpp:PrivilegeList '
            b'xmlns:bpp="http://digst.dk/oiosaml/basic_privilege_profile"/>'
        ).decode(),
        base64.b64encode(b"<PrivilegeList xmlns='urn:other'/>").decode(),
    ],
    ids=["not-base64", "not-xml", "dtd", "wrong-namespace"],
)
def test_malformed_privileges_are_a_clear_refusal(broker: Broker, privileges: str) -> None:
    response = broker.login(NURSE.but(privileges=privileges))
    assert_refused(response, "privileges")
    assert "kunne ikke læses" in response.content.decode()


def test_a_delegated_user_is_marked_in_the_user_and_the_audit_log(
    broker: Broker, settings: Any
) -> None:
    delegated = settings.INDBLIK_SAML_DELEGATED_ROLE
    assert broker.login(NURSE.but(roles=(ROLE, delegated))).status_code == 302
    user = User.objects.get()
    assert user.delegated is True
    assert audit.AuditEvent.objects.get(action=audit.Action.LOGIN).actor_delegated is True


def test_a_log_reviewer_signs_in_with_the_review_role(broker: Broker, settings: Any) -> None:
    reviewer = settings.INDBLIK_SAML_REVIEWER_ROLE
    assert broker.login(NURSE.but(roles=(reviewer,))).status_code == 302
    user = User.objects.get()
    assert user.is_reviewer and user.access_role == reviewer and not user.holds(ROLE)


def test_a_hospital_administrator_becomes_staff_in_the_admin_group(
    broker: Broker, settings: Any
) -> None:
    person = NURSE.but(
        cvr=settings.INDBLIK_SAML_ADMIN_CVR,
        organisation_name="Region Hovedstaden",
        roles=(settings.INDBLIK_SAML_ADMIN_ROLE,),
    )
    assert broker.login(person).status_code == 302
    user = User.objects.get()
    assert user.is_staff and not user.is_superuser
    assert user.groups.filter(name=settings.INDBLIK_SAML_ADMIN_GROUP).exists()
    group = Group.objects.get(name=settings.INDBLIK_SAML_ADMIN_GROUP)
    # The group comes with what the role is for (users.ADMIN_GROUP_PERMISSIONS) ...
    assert group.permissions.count() == len(users.ADMIN_GROUP_PERMISSIONS)
    for page in (
        "/admin/organisations/organisation/",
        "/admin/identity/user/",
        "/admin/audit/auditevent/",
        "/admin/records/ingestionrun/",
    ):
        assert broker.client.get(page).status_code == 200, page
    # ... and not the record store's clinical data, which the chart reads and audits.
    assert broker.client.get("/admin/records/patient/").status_code == 403
    assert broker.client.get("/admin/records/resource/").status_code == 403
    # An operator's own choice for the group stays: it is filled only while empty.
    group.permissions.set(group.permissions.all()[:1])
    broker.client.logout()
    assert broker.login(person).status_code == 302
    assert group.permissions.count() == 1


def test_the_hospital_cvr_without_the_admin_role_is_refused(broker: Broker, settings: Any) -> None:
    person = NURSE.but(cvr=settings.INDBLIK_SAML_ADMIN_CVR, roles=(ROLE,))
    assert_refused(broker.login(person), "role-missing")


def test_a_citizen_signs_in_with_the_cpr_attribute(broker: Broker) -> None:
    citizen = NURSE.but(cpr="2108624008", full_name="Karen Sørensen")
    assert (
        broker.login(
            citizen, name_id="https://data.gov.dk/model/core/eid/person/uuid/ab12"
        ).status_code
        == 302
    )
    user = User.objects.get()
    assert user.kind == UserKind.CITIZEN and user.cpr == "2108624008"
    assert user.organisation_cvr == "" and user.roles == []


def test_citizens_are_refused_when_citizen_sign_in_is_off(broker: Broker, settings: Any) -> None:
    settings.INDBLIK_SAML_CITIZEN_LOGIN = False
    citizen = NURSE.but(cpr="2108624008")
    assert_refused(broker.login(citizen), "attributes")


def test_a_user_deprovisioned_by_the_organisation_stays_out(broker: Broker) -> None:
    broker.login()
    User.objects.update(is_active=False, deactivation_reason="scim")
    assert_refused(broker.login(client=Client()), "user-deactivated")


def test_a_user_expired_for_inactivity_comes_back_at_the_next_valid_login(broker: Broker) -> None:
    broker.login()
    User.objects.update(is_active=False, deactivation_reason="inactive")
    assert broker.login(client=Client()).status_code == 302
    assert User.objects.get().is_active


def test_an_idp_error_status_is_a_clean_refusal(broker: Broker) -> None:
    from saml2.samlp import STATUS_AUTHN_FAILED, STATUS_RESPONDER, Status, StatusCode

    def failed(response: Any) -> None:
        response.status = Status(
            status_code=StatusCode(
                value=STATUS_RESPONDER, status_code=StatusCode(value=STATUS_AUTHN_FAILED)
            )
        )

    request = broker.start()
    response = broker.post(broker.respond(request, mutate=failed))
    assert_refused(response, "idp-status")
    assert "annulleret" in response.content.decode()


def test_the_next_page_comes_from_the_request_not_the_relay_state(
    broker: Broker, client: Client
) -> None:
    request = broker.start(next_url="/saml2/session/")
    answer = broker.respond(request)
    response = client.post(
        "/saml2/acs/", {"SAMLResponse": answer, "RelayState": "https://evil.example/"}
    )
    assert response["Location"] == "/saml2/session/"


def test_an_offsite_next_is_replaced_by_the_front_page(broker: Broker, client: Client) -> None:
    request = broker.start(next_url="https://evil.example/phish")
    response = broker.post(broker.respond(request))
    assert response["Location"] == "/"


def test_a_login_that_cannot_be_audited_does_not_happen(broker: Broker, client: Client) -> None:
    from django.db import DatabaseError, connection

    def refuse_audit_insert(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith('INSERT INTO "audit_auditevent"'):
            raise DatabaseError("audit storage is down")
        return execute(sql, params, many, context)

    request = broker.start()
    answer = broker.respond(request)
    with connection.execute_wrapper(refuse_audit_insert):
        response = broker.post(answer)
    assert response.status_code == 503
    assert not User.objects.exists()  # the user row rolled back with the audit row
    assert signed_in_user(client) is None
