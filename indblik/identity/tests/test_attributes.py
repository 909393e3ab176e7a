"""OIOSAML 3 attribute mapping and OIO-BPP privileges, and the raw-XML acceptance pass."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indblik.identity import acceptance, attributes
from indblik.identity.acceptance import Refusal
from indblik.identity.attributes import AttributeProblem, identity_from, parse_privileges

ROLE = "http://demo.indblik.dk/roles/jobrole/indblik-opslag/1"
DIGST = "http://digst.dk/oiosaml/basic_privilege_profile"
ITST = "http://itst.dk/oiosaml/basic_privilege_profile"


def b64(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def test_privileges_are_scoped_per_cvr() -> None:
    value = b64(
        f'<bpp:PrivilegeList xmlns:bpp="{DIGST}">'
        '<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:64942212">'
        f"<Privilege>{ROLE}</Privilege><Privilege>http://x.dk/roles/jobrole/y/1</Privilege>"
        "</PrivilegeGroup>"
        '<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:11259979">'
        "<Privilege>http://x.dk/roles/jobrole/z/1</Privilege></PrivilegeGroup>"
        '<PrivilegeGroup Scope="urn:dk:gov:saml:productionUnitIdentifier:1003388394">'
        f"<Privilege>{ROLE}</Privilege></PrivilegeGroup>"
        "</bpp:PrivilegeList>"
    )
    assert parse_privileges(value) == {
        "64942212": frozenset({ROLE, "http://x.dk/roles/jobrole/y/1"}),
        "11259979": frozenset({"http://x.dk/roles/jobrole/z/1"}),
    }


@pytest.mark.parametrize("namespace", [DIGST, ITST])
def test_both_namespaces_and_qualified_children_are_accepted(namespace: str) -> None:
    value = b64(
        f'<p:PrivilegeList xmlns:p="{namespace}"><p:PrivilegeGroup '
        'Scope="urn:dk:gov:saml:cvrNumberIdentifier:64942212">'
        '<p:Constraint Name="urn:dk:kombit:KLE">29.*</p:Constraint>'
        f"<p:Privilege> {ROLE} </p:Privilege>"
        "</p:PrivilegeGroup></p:PrivilegeList>"
    )
    assert parse_privileges(value) == {"64942212": frozenset({ROLE})}


def test_line_wrapped_base64_is_accepted() -> None:
    value = attributes.encode_privileges({"64942212": [ROLE]})
    wrapped = "\n".join(value[i : i + 60] for i in range(0, len(value), 60))
    assert parse_privileges(wrapped) == {"64942212": frozenset({ROLE})}


def bpp(inner: str, namespace: str = DIGST) -> str:
    return f'<bpp:PrivilegeList xmlns:bpp="{namespace}">{inner}</bpp:PrivilegeList>'


KK_SCOPE = 'Scope="urn:dk:gov:saml:cvrNumberIdentifier:64942212"'


@pytest.mark.parametrize(
    "xml",
    [
        bpp("<PrivilegeGroup><Privilege>x</Privilege></PrivilegeGroup>"),
        bpp(f"<PrivilegeGroup {KK_SCOPE}><Privilege/></PrivilegeGroup>"),
        bpp(
            '<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:123">'
            "<Privilege>x</Privilege></PrivilegeGroup>"
        ),
        bpp("<Other/>"),
        bpp("", namespace="urn:evil"),
        '<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + bpp(""),
        "<unclosed",
    ],
    ids=[
        "no-scope",
        "empty",
        "bad-cvr",
        "unknown-child",
        "wrong-namespace",
        "external-entity",
        "broken",
    ],
)
def test_malformed_privileges_are_refused(xml: str) -> None:
    with pytest.raises(AttributeProblem) as problem:
        parse_privileges(b64(xml))
    assert problem.value.reason == "privileges"


@given(st.text(max_size=200))
def test_privilege_parsing_never_fails_other_than_cleanly(value: str) -> None:
    try:
        parse_privileges(value)
    except AttributeProblem as problem:
        assert problem.reason == "privileges"


def values(**changes: list[str]) -> dict[str, list[str]]:
    base = {
        attributes.LOA: ["Substantial"],
        attributes.FULL_NAME: ["Mette Holm"],
        attributes.EMAIL: ["mette@kk.example.dk"],
        attributes.CVR: ["64942212"],
        attributes.PERSISTENT_ID: ["urn:uuid:1"],
        attributes.PRIVILEGES: [attributes.encode_privileges({"64942212": [ROLE]})],
        attributes.DEFAULT_AUTHORISATION: ["5D2K9"],
    }
    base.update(changes)
    return base


def test_a_professional_is_read_from_the_attributes() -> None:
    identity = identity_from(values(), name_id="nid")
    assert identity.kind == "professional"
    assert (identity.persistent_id, identity.cvr, identity.authorisation_id) == (
        "urn:uuid:1",
        "64942212",
        "5D2K9",
    )
    assert (
        identity.roles_for("64942212") == {ROLE} and identity.roles_for("11259979") == frozenset()
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({attributes.LOA: ["Low"]}, "loa"),
        ({attributes.LOA: []}, "loa"),
        ({attributes.CVR: ["6494221"]}, "attributes"),
        ({attributes.CVR: ["64942212", "11259979"]}, "attributes"),
        ({attributes.PERSISTENT_ID: []}, "attributes"),
        ({attributes.FULL_NAME: ["Mette\u0000Holm"]}, "attributes"),
        ({attributes.DEFAULT_AUTHORISATION: ["5D2-K9"]}, "attributes"),
        ({attributes.PRIVILEGES: ["!!"]}, "privileges"),
    ],
)
def test_bad_attributes_are_refused_with_a_reason(
    changes: dict[str, list[str]], reason: str
) -> None:
    with pytest.raises(AttributeProblem) as problem:
        identity_from(values(**changes), name_id="nid")
    assert problem.value.reason == reason


def test_a_malformed_email_is_dropped_not_refused() -> None:
    assert identity_from(values(**{attributes.EMAIL: ["not-an-address"]}), name_id="n").email == ""


def response(assertions: str, *, root_extra: str = "") -> bytes:
    return (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="r1" Version="2.0" '
        f'InResponseTo="q1" Destination="https://sp/acs"{root_extra}>'
        "<saml:Issuer>https://idp</saml:Issuer>"
        f"{assertions}</samlp:Response>"
    ).encode()


def signature(ref: str, method: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256") -> str:
    return (
        "<ds:Signature><ds:SignedInfo>"
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        f'<ds:SignatureMethod Algorithm="{method}"/>'
        f'<ds:Reference URI="#{ref}"><ds:Transforms>'
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        "</ds:Transforms>"
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        "<ds:DigestValue>x</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        "<ds:SignatureValue>x</ds:SignatureValue></ds:Signature>"
    )


def assertion(aid: str = "a1", ref: str | None = None, inner: str = "") -> str:
    return (
        f'<saml:Assertion ID="{aid}" Version="2.0">{signature(ref or aid)}{inner}</saml:Assertion>'
    )


def test_a_well_formed_response_passes_the_raw_pass_and_says_what_it_claims() -> None:
    facts = acceptance.inspect_raw(response(assertion()))
    assert (facts.response_id, facts.in_response_to, facts.destination, facts.issuer) == (
        "r1",
        "q1",
        "https://sp/acs",
        "https://idp",
    )
    assert not facts.encrypted and not facts.response_signed


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (response(assertion() + assertion("a2")), "structure"),
        (response(assertion(inner=assertion("a2"))), "structure"),
        (response(assertion("a1") + assertion("a1")), "duplicate-id"),
        (response(assertion(ref="elsewhere")), "structure"),
        (response(assertion(inner="<!-- hi -->")), "xml-comment"),
        (response(assertion(inner="<?pi x?>")), "xml-comment"),
        (response('<saml:Assertion ID="a1" Version="2.0"/>'), "assertion-unsigned"),
        (response(""), "structure"),
        (
            response(
                f'<saml:Assertion ID="a1" Version="2.0">{signature("a1", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")}</saml:Assertion>'
            ),
            "signature-algorithm",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r/>', "doctype"),
        (b"<samlp:Response", "malformed"),
        ("<r>æ</r>".encode("latin-1"), "malformed"),
    ],
    ids=[
        "two",
        "nested",
        "dup-id",
        "foreign-ref",
        "comment",
        "pi",
        "unsigned",
        "none",
        "sha1",
        "doctype",
        "broken",
        "latin1",
    ],
)
def test_the_raw_pass_refuses_what_it_must(document: bytes, reason: str) -> None:
    with pytest.raises(Refusal) as refusal:
        acceptance.inspect_raw(document)
    assert refusal.value.reason == reason


def test_the_decrypted_pass_refuses_a_wrapped_assertion_on_its_own() -> None:
    # What an attacker could hide inside an EncryptedAssertion (XSW4 shape).
    evil = assertion("evil", inner=assertion("a1"))
    wrapped = response(f"<saml:EncryptedAssertion>{evil}</saml:EncryptedAssertion>")
    with pytest.raises(Refusal) as refusal:
        acceptance.inspect_decrypted(wrapped.decode())
    assert refusal.value.reason == "structure"
    acceptance.inspect_decrypted(
        response(f"<saml:EncryptedAssertion>{assertion()}</saml:EncryptedAssertion>").decode()
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [("!!!", "malformed"), ("A" * (acceptance.MAX_ENCODED_BYTES + 4), "malformed")],
)
def test_decoding_refuses_garbage_and_giants(value: str, reason: str) -> None:
    with pytest.raises(Refusal) as refusal:
        acceptance.decode(value)
    assert refusal.value.reason == reason
