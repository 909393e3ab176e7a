"""XML signature wrapping (XSW1-XSW8) against response-signed and assertion-signed answers.

The variants follow Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be" (USENIX
Security 2012), as SAML Raider names them. Each takes a genuinely signed response for the
nurse and tries to make the SP act on an *evil* assertion (another person, "Mallory") while
xmlsec1 still finds the original signature valid. Every variant must be refused with a
403 page, and nobody may be signed in.

A control test first sends the same documents through the same ElementTree round trip
without changes and expects them to be accepted: the refusals below are caused by the
wrapping, not by the tampering machinery.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.test import Client
from saml2.sigver import get_pem_wrapped_unwrapped, pre_encryption_part

from indblik.identity import attributes, saml
from indblik.identity.demo_idp import server as demo_server
from indblik.identity.models import User
from indblik.identity.tests.conftest import (
    Broker,
    assert_refused,
    decode,
    encode,
    new_id,
    q,
    tamper,
)

pytestmark = pytest.mark.django_db

EVIL_ID = "urn:uuid:6d616c6c-6f72-7900-0000-000000000666"

ENCRYPTED_ASSERTION_XPATH = (
    '/*[local-name()="Response"]/*[local-name()="EncryptedAssertion"]/*[local-name()="Assertion"]'
)
# fixture name -> (sign_response, sign_assertion)
FIXTURES = {"response-signed": (True, True), "assertion-signed": (False, True)}


def _assertion(root: ET.Element) -> ET.Element:
    found = root.find(q("saml:Assertion"))
    assert found is not None
    return found


def _signature(element: ET.Element) -> ET.Element:
    found = element.find(q("ds:Signature"))
    assert found is not None
    return found


def _make_evil(assertion: ET.Element, *, keep_signature: bool = False) -> ET.Element:
    """Return a copy of ``assertion`` that speaks for Mallory (new ID, unsigned unless kept)."""
    evil = copy.deepcopy(assertion)
    evil.set("ID", new_id())
    if not keep_signature:
        evil.remove(_signature(evil))
    for attribute in evil.iter(q("saml:Attribute")):
        value = attribute.find(q("saml:AttributeValue"))
        assert value is not None
        if attribute.get("Name") == attributes.PERSISTENT_ID:
            value.text = EVIL_ID
        elif attribute.get("Name") == attributes.FULL_NAME:
            value.text = "Mallory"
    return evil


def xsw1(root: ET.Element) -> ET.Element:
    """XSW1: an evil, unsigned Response at the top; the original signed Response moved *into*
    its (copied) Signature element, where the signature's reference still finds it by ID."""
    evil = copy.deepcopy(root)
    evil.set("ID", new_id())
    signature = _signature(evil)
    original = copy.deepcopy(root)
    original.remove(_signature(original))
    signature.append(original)
    evil.remove(_assertion(evil))
    evil.append(_make_evil(_assertion(root)))
    return evil


def xsw2(root: ET.Element) -> ET.Element:
    """XSW2: like XSW1, but the original Response sits *before* the signature as a sibling
    (a detached signature over it)."""
    evil = copy.deepcopy(root)
    evil.set("ID", new_id())
    signature = _signature(evil)
    original = copy.deepcopy(root)
    original.remove(_signature(original))
    evil.insert(list(evil).index(signature), original)
    evil.remove(_assertion(evil))
    evil.append(_make_evil(_assertion(root)))
    return evil


def xsw3(root: ET.Element) -> ET.Element:
    """XSW3: an evil assertion inserted *before* the original signed one, hoping the SP reads
    the first assertion while xmlsec1 verifies the second."""
    original = _assertion(root)
    root.insert(list(root).index(original), _make_evil(original))
    return root


def xsw4(root: ET.Element) -> ET.Element:
    """XSW4: the evil assertion takes the original's place and *contains* the original signed
    assertion as a child."""
    original = _assertion(root)
    evil = _make_evil(original)
    evil.append(copy.deepcopy(original))
    root.insert(list(root).index(original), evil)
    root.remove(original)
    return root


def xsw5(root: ET.Element) -> ET.Element:
    """XSW5: the signed assertion's values are changed in place (its Signature kept); an
    unsigned copy of the original, with the ID the signature references, goes to the end."""
    original = _assertion(root)
    copy_of_original = copy.deepcopy(original)
    copy_of_original.remove(_signature(copy_of_original))
    evil = _make_evil(original, keep_signature=True)
    root.insert(list(root).index(original), evil)
    root.remove(original)
    root.append(copy_of_original)
    return root


def xsw6(root: ET.Element) -> ET.Element:
    """XSW6: like XSW5, but the unsigned copy of the original is placed *inside* the evil
    assertion's Signature element."""
    original = _assertion(root)
    copy_of_original = copy.deepcopy(original)
    copy_of_original.remove(_signature(copy_of_original))
    evil = _make_evil(original, keep_signature=True)
    _signature(evil).append(copy_of_original)
    root.insert(list(root).index(original), evil)
    root.remove(original)
    return root


def xsw7(root: ET.Element) -> ET.Element:
    """XSW7: the original signed assertion is hidden in an ``Extensions`` element (allowed by
    the schema to hold anything); the evil, unsigned assertion takes its place."""
    original = _assertion(root)
    extensions = ET.Element(q("samlp:Extensions"))
    extensions.append(copy.deepcopy(original))
    issuer = root.find(q("saml:Issuer"))
    assert issuer is not None
    root.insert(list(root).index(issuer) + 1, extensions)
    root.insert(list(root).index(original), _make_evil(original))
    root.remove(original)
    return root


def xsw8(root: ET.Element) -> ET.Element:
    """XSW8: the evil assertion keeps the original Signature; inside it a ``ds:Object``
    carries an unsigned copy of the original assertion, whose ID the signature references."""
    original = _assertion(root)
    copy_of_original = copy.deepcopy(original)
    copy_of_original.remove(_signature(copy_of_original))
    evil = _make_evil(original, keep_signature=True)
    holder = ET.SubElement(_signature(evil), q("ds:Object"))
    holder.append(copy_of_original)
    root.insert(list(root).index(original), evil)
    root.remove(original)
    return root


VARIANTS: dict[str, Callable[[ET.Element], ET.Element]] = {
    "XSW1": xsw1,
    "XSW2": xsw2,
    "XSW3": xsw3,
    "XSW4": xsw4,
    "XSW5": xsw5,
    "XSW6": xsw6,
    "XSW7": xsw7,
    "XSW8": xsw8,
}
CASES = [
    pytest.param(fixture, name, id=f"{name}-{fixture}")
    for fixture in FIXTURES
    for name in VARIANTS
    # XSW1/2 attack the Response's signature: meaningless without one.
    if not (fixture == "assertion-signed" and name in ("XSW1", "XSW2"))
]


def _signed_answer(broker: Broker, fixture: str) -> str:
    sign_response, sign_assertion = FIXTURES[fixture]
    request = broker.start()
    return broker.respond(
        request, sign_response=sign_response, sign_assertion=sign_assertion, encrypt=False
    )


@pytest.mark.parametrize("fixture", list(FIXTURES))
def test_the_untampered_round_trip_is_accepted(
    broker: Broker, client: Client, fixture: str
) -> None:
    answer = tamper(_signed_answer(broker, fixture), lambda root: root)
    response = broker.post(answer)
    assert response.status_code == 302, response.content[:400]
    assert User.objects.filter(full_name="Mette Holm").exists()


@pytest.mark.parametrize(("fixture", "variant"), CASES)
def test_signature_wrapping_is_refused(
    broker: Broker, client: Client, fixture: str, variant: str
) -> None:
    answer = tamper(_signed_answer(broker, fixture), VARIANTS[variant])
    response = broker.post(answer)
    assert_refused(response, "structure", "duplicate-id", "assertion-unsigned")
    assert not User.objects.exists()
    assert client.get("/saml2/session/").status_code == 302  # nobody is signed in


@pytest.mark.parametrize("variant", ["XSW4", "XSW8"])
def test_wrapping_inside_an_encrypted_assertion_is_refused(
    broker: Broker, client: Client, idp: Any, variant: str
) -> None:
    """The wrapped assertion travels encrypted, hidden from the first (raw) pass: anyone can
    encrypt to the SP's public key, so encryption proves nothing about who wrapped it."""
    answer = tamper(_signed_answer(broker, "assertion-signed"), VARIANTS[variant])

    def wrap(root: ET.Element) -> ET.Element:
        evil = _assertion(root)
        holder = ET.Element(q("saml:EncryptedAssertion"))
        holder.append(evil)
        root.insert(list(root).index(evil), holder)
        root.remove(evil)
        return root

    wrapped = decode(tamper(answer, wrap))
    # Make the encrypted fragment self-contained, as pysaml2 does for its own encryption: the
    # decrypted assertion is later parsed on its own, without the Response's declarations.
    declarations = " ".join(re.findall(r'xmlns:\w+="[^"]+"', wrapped.split(">", 1)[0]))
    wrapped = re.sub(
        r"(<(\w+):EncryptedAssertion>\s*<\w+:Assertion)", rf"\1 {declarations}", wrapped, count=1
    )
    _key, cert = saml.key_files()
    template = pre_encryption_part(
        msg_enc=demo_server.AES256_GCM,
        key_enc=demo_server.RSA_OAEP_MGF1P,
        encrypt_cert=get_pem_wrapped_unwrapped(cert.read_text())[1],
    )
    encrypted = idp.sec.encrypt_assertion(
        wrapped, str(cert), template, key_type="aes-256", node_xpath=ENCRYPTED_ASSERTION_XPATH
    )
    response = broker.post(encode(encrypted))
    assert_refused(response, "structure", "duplicate-id", "assertion-unsigned", "signature")
    assert not User.objects.exists()
    assert client.get("/saml2/session/").status_code == 302
