"""Hostile and broken responses: each one is a clean, audited 403 and signs nobody in."""

from __future__ import annotations

import base64
import datetime
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import saml2
import time_machine
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from saml2.sigver import MissingKey, SignatureError
from saml2.xmldsig import DIGEST_SHA1, SIG_RSA_SHA1

from indblik.identity import outstanding, saml
from indblik.identity.models import SeenAssertion, User, UserKind
from indblik.identity.tests.conftest import (
    NURSE,
    Broker,
    assert_refused,
    decode,
    encode,
    make_idp,
    now,
    q,
    tamper,
)

pytestmark = pytest.mark.django_db


def assertion_signed_only(broker: Broker, request: Any, **options: Any) -> str:
    return broker.respond(request, sign_response=False, sign_assertion=True, **options)


# --- signatures -------------------------------------------------------------------------------


def test_an_assertion_whose_signature_was_stripped_is_refused(broker: Broker) -> None:
    def strip(root: ET.Element) -> None:
        assertion = root.find(q("saml:Assertion"))
        assert assertion is not None
        assertion.remove(assertion.find(q("ds:Signature")))  # type: ignore[arg-type]

    answer = tamper(assertion_signed_only(broker, broker.start()), strip)
    assert_refused(broker.post(answer), "assertion-unsigned")


def test_a_response_signature_does_not_make_an_unsigned_assertion_acceptable(
    broker: Broker,
) -> None:
    answer = broker.respond(broker.start(), sign_response=True, sign_assertion=False)
    assert_refused(broker.post(answer), "assertion-unsigned")


def test_the_response_signature_is_required_when_configured(
    broker: Broker, sp_settings: Any
) -> None:
    sp_settings.INDBLIK_SAML_REQUIRE_RESPONSE_SIGNATURE = True
    assert_refused(broker.post(assertion_signed_only(broker, broker.start())), "signature")


def test_an_assertion_signed_by_an_untrusted_key_is_refused(
    broker: Broker, idp_keys: dict[str, Any]
) -> None:
    # Same entity id as the real broker, another key: what an attacker without the key has.
    impostor = make_idp(idp_keys["rogue_key"], idp_keys["rogue_cert"])
    request = broker.start()
    answer = Broker(impostor, broker.client).respond(request)
    assert_refused(broker.post(answer), "signature")


def test_a_certificate_in_keyinfo_is_never_trusted(
    broker: Broker, idp_keys: dict[str, Any]
) -> None:
    # An issuer absent from metadata, signing with its own key and shipping the certificate in
    # KeyInfo: refused before any cryptography (issuer) ...
    rogue = make_idp(
        idp_keys["rogue_key"], idp_keys["rogue_cert"], entity="https://rogue.example/idp"
    )
    request = broker.start()
    answer = Broker(rogue, broker.client).respond(request)
    assert_refused(broker.post(answer), "issuer")


def test_pysaml2_is_configured_to_use_metadata_keys_only(
    broker: Broker, idp_keys: dict[str, Any]
) -> None:
    # ... and pysaml2 itself, reached directly, has no key for it: KeyInfo is not a key source.
    rogue = make_idp(
        idp_keys["rogue_key"], idp_keys["rogue_cert"], entity="https://rogue.example/idp"
    )
    request = broker.start()
    answer = Broker(rogue, broker.client).respond(request)
    client = saml.client()
    with pytest.raises((MissingKey, SignatureError)):
        client.parse_authn_request_response(
            answer, saml2.BINDING_HTTP_POST, {request.message.id: "/"}
        )


def test_an_hmac_signature_is_refused(broker: Broker) -> None:
    def hmac(root: ET.Element) -> None:
        method = root.find(
            f"{q('saml:Assertion')}/{q('ds:Signature')}/{q('ds:SignedInfo')}/{q('ds:SignatureMethod')}"
        )
        assert method is not None
        method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")

    answer = tamper(assertion_signed_only(broker, broker.start()), hmac)
    assert_refused(broker.post(answer), "signature-algorithm")


def test_sha1_signatures_are_refused_even_when_valid(broker: Broker) -> None:
    answer = broker.respond(broker.start(), sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
    assert "rsa-sha1" in decode(answer)
    assert_refused(broker.post(answer), "signature-algorithm")


def test_triple_des_encryption_is_refused(broker: Broker, sp_settings: Any) -> None:
    from indblik.identity.demo_idp import server as demo_server

    # pysaml2's own IdP class still encrypts with 3DES by default.
    plain_pysaml2 = make_idp(
        broker.idp.config.key_file, broker.idp.config.cert_file, cls=demo_server.Server
    )
    answer = Broker(plain_pysaml2, broker.client).respond(broker.start(), encrypt=True)
    assert "tripledes-cbc" in decode(answer)
    assert_refused(broker.post(answer), "encryption-algorithm")


# --- NameID and XML tricks ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["NameID", "persistent-id"])
def test_a_comment_injected_into_a_signed_value_is_refused(broker: Broker, where: str) -> None:
    """``user<!---->@evil``: c14n drops the comment, so the signature still verifies, but a
    parser hands back only the text before it: a different identity."""

    def inject(root: ET.Element) -> None:
        assertion = root.find(q("saml:Assertion"))
        assert assertion is not None
        if where == "NameID":
            target = assertion.find(f"{q('saml:Subject')}/{q('saml:NameID')}")
        else:
            target = next(
                a.find(q("saml:AttributeValue"))
                for a in assertion.iter(q("saml:Attribute"))
                if a.get("Name").endswith("uuid/persistent")  # type: ignore[union-attr]
            )
        assert target is not None and target.text
        text = target.text
        target.text = text[:20]
        comment = ET.Comment("")
        comment.tail = text[20:]
        target.append(comment)

    answer = tamper(assertion_signed_only(broker, broker.start()), inject)
    assert "<!---->" in decode(answer)
    assert_refused(broker.post(answer), "xml-comment")
    assert not User.objects.exists()


def test_a_doctype_with_entity_expansion_is_refused_before_parsing(broker: Broker) -> None:
    xml = decode(assertion_signed_only(broker, broker.start()))
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    answer = encode(bomb + xml.split("?>", 1)[1])
    assert_refused(broker.post(answer), "doctype")


@pytest.mark.parametrize("garbage", ["", "bm90IFhNTA==", "PD94bWwgdmVyc2lvbj0iMS4wIj8+PGE+", "!!!"])
def test_garbage_is_a_clean_refusal(broker: Broker, garbage: str) -> None:
    response = broker.client.post("/saml2/acs/", {"SAMLResponse": garbage})
    assert_refused(response, "malformed")


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.text(max_size=300), st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())
    )
)
def test_the_acs_never_answers_500(broker: Broker, value: str) -> None:
    response = broker.client.post("/saml2/acs/", {"SAMLResponse": value})
    assert response.status_code == 403


def test_a_get_to_the_acs_is_not_allowed(client: Client) -> None:
    assert client.get("/saml2/acs/").status_code == 405


# --- request binding ---------------------------------------------------------------------------


def test_an_unsolicited_response_is_refused(broker: Broker, idp: Any) -> None:
    request = broker.start()
    answer = broker.respond(request, in_response_to=None)
    assert_refused(broker.post(answer), "unsolicited")


def test_a_response_to_another_browsers_request_is_refused(broker: Broker) -> None:
    request = broker.start(client=Client())  # the victim's browser asked
    answer = broker.respond(request)
    assert_refused(broker.post(answer), "unsolicited")  # the attacker's browser posts


def test_a_response_to_a_request_that_is_too_old_is_refused(broker: Broker) -> None:
    request = broker.start()
    answer = broker.respond(request)
    with time_machine.travel(now() + datetime.timedelta(minutes=16), tick=False):
        assert_refused(broker.post(answer), "unsolicited")


def test_a_replayed_response_is_refused_in_the_same_session(broker: Broker, client: Client) -> None:
    answer = broker.respond(broker.start())
    assert broker.post(answer).status_code == 302
    client.post("/saml2/logout/")
    assert_refused(broker.post(answer), "unsolicited")


def test_a_replayed_response_is_refused_in_another_session(broker: Broker) -> None:
    answer = broker.respond(broker.start())
    assert broker.post(answer).status_code == 302
    attacker = Client()
    attacker.get("/saml2/login/")  # a session with outstanding requests of its own
    assert_refused(broker.post(answer, client=attacker), "unsolicited")


def test_the_database_replay_cache_stops_a_race_with_one_response(
    broker: Broker, client: Client
) -> None:
    """Two requests carrying the same response can both find the outstanding request (each
    worker read the session before either consumed it); the assertion id cache, shared in
    the database, lets only the first through."""
    request = broker.start()
    answer = broker.respond(request)
    saml_session_key = client.cookies["saml_session"].value
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    snapshot = store(saml_session_key).load()
    assert broker.post(answer).status_code == 302
    assert SeenAssertion.objects.count() == 1
    # The second worker's view of the SAML session: the request still outstanding.
    racing = Client()
    session = store()
    session.update(snapshot)
    session.create()
    racing.cookies["saml_session"] = session.session_key
    assert outstanding.find(session, request.message.id) is not None
    assert_refused(broker.post(answer, client=racing), "replay")


# --- audience, recipient, destination, issuer ----------------------------------------------------


def test_a_response_for_another_audience_is_refused(broker: Broker) -> None:
    def audience(response: Any) -> None:
        restriction = response.assertion.conditions.audience_restriction[0]
        restriction.audience[0].text = "https://other-sp.example/metadata/"

    answer = broker.respond(broker.start(), mutate=audience)
    assert_refused(broker.post(answer), "audience")


def test_every_audience_restriction_must_name_us(broker: Broker) -> None:
    from saml2.saml import Audience, AudienceRestriction

    def second(response: Any) -> None:
        conditions = response.assertion.conditions
        conditions.audience_restriction.append(
            AudienceRestriction(audience=[Audience(text="https://other-sp.example/metadata/")])
        )

    answer = broker.respond(broker.start(), mutate=second)
    assert_refused(broker.post(answer), "audience")


def test_a_wrong_recipient_is_refused(broker: Broker) -> None:
    def recipient(response: Any) -> None:
        data = response.assertion.subject.subject_confirmation[0].subject_confirmation_data
        data.recipient = "https://other-sp.example/acs"

    answer = broker.respond(broker.start(), mutate=recipient)
    assert_refused(broker.post(answer), "recipient")


@pytest.mark.parametrize("destination", ["https://other-sp.example/acs", None])
def test_a_wrong_or_missing_destination_is_refused(broker: Broker, destination: str | None) -> None:
    def change(response: Any) -> None:
        response.destination = destination

    answer = broker.respond(broker.start(), mutate=change)
    assert_refused(broker.post(answer), "destination")


def test_a_subject_confirmation_for_another_request_is_refused(broker: Broker) -> None:
    def other(response: Any) -> None:
        data = response.assertion.subject.subject_confirmation[0].subject_confirmation_data
        data.in_response_to = "id-someone-elses-request"

    answer = broker.respond(broker.start(), mutate=other)
    assert_refused(broker.post(answer), "unsolicited")


def test_an_assertion_without_audience_restriction_is_refused(broker: Broker) -> None:
    def drop(response: Any) -> None:
        response.assertion.conditions.audience_restriction = []

    answer = broker.respond(broker.start(), mutate=drop)
    assert_refused(broker.post(answer), "audience")


# --- time ----------------------------------------------------------------------------------------


def test_an_expired_assertion_is_refused(broker: Broker) -> None:
    answer = broker.respond(broker.start())
    # The IdP grants 5 minutes; the skew is 60 s.
    with time_machine.travel(now() + datetime.timedelta(minutes=6, seconds=30), tick=False):
        assert_refused(broker.post(answer), "expired")


def test_an_assertion_just_past_its_end_is_accepted_within_the_skew(broker: Broker) -> None:
    answer = broker.respond(broker.start())
    with time_machine.travel(now() + datetime.timedelta(minutes=5, seconds=30), tick=False):
        assert broker.post(answer).status_code == 302


def test_an_assertion_from_the_future_is_refused(broker: Broker) -> None:
    request = broker.start()
    with time_machine.travel(now() + datetime.timedelta(minutes=3), tick=False):
        answer = broker.respond(request)
    assert_refused(broker.post(answer), "not-yet-valid", "expired")


def test_a_slightly_fast_idp_clock_is_accepted_within_the_skew(broker: Broker) -> None:
    request = broker.start()
    with time_machine.travel(now() + datetime.timedelta(seconds=40), tick=False):
        answer = broker.respond(request)
    assert broker.post(answer).status_code == 302


def test_a_citizen_assertion_cannot_take_over_a_professional_account(broker: Broker) -> None:
    assert broker.login().status_code == 302
    nurse = User.objects.get(persistent_id=NURSE.persistent_id)
    broker.client.logout()
    # A citizen assertion (no CVR) whose persistent NameID equals the nurse's professional id.
    response = broker.login(
        NURSE.but(cpr="2108624008", full_name="Someone Else"), name_id=NURSE.persistent_id
    )
    assert_refused(response, "kind-mismatch")
    nurse.refresh_from_db()
    assert nurse.kind == UserKind.PROFESSIONAL and not nurse.cpr


def test_a_professional_assertion_cannot_take_over_a_citizen_account(broker: Broker) -> None:
    key = "urn:uuid:11111111-2222-3333-4444-555555555555"
    assert broker.login(NURSE.but(cpr="2108624008"), name_id=key).status_code == 302
    assert User.objects.get(persistent_id=key).kind == UserKind.CITIZEN
    broker.client.logout()
    assert_refused(broker.login(NURSE.but(persistent_id=key)), "kind-mismatch")
    karen = User.objects.get(persistent_id=key)
    assert karen.kind == UserKind.CITIZEN and karen.cpr == "2108624008"
    assert not karen.organisation_cvr
