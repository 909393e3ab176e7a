"""The acceptance rules for a SAML response, checked by Indblik itself around pysaml2.

pysaml2 verifies the XML signatures (with xmlsec1) and decrypts; it does not check everything
an SP must, and some checks only happen when the caller passes the right arguments. So the
ACS runs three passes, each raising :class:`Refusal` with a short reason code:

1. :func:`inspect_raw` on the decoded bytes, *before* any XML library that expands entities
   or any cryptography sees them: no DOCTYPE, no comments or processing instructions, one
   ``Response`` with exactly one (encrypted) assertion in the expected place, unique IDs,
   signatures that are enveloped, reference their parent and use allowed algorithms only.
   This is what makes every signature-wrapping (XSW) variant fail: a wrapped document always
   holds a second assertion, a second response or a signature in the wrong place.
2. pysaml2 verifies signatures against keys from metadata only and decrypts.
3. :func:`inspect_decrypted` and :func:`check_assertion` on the verified (decrypted) result:
   the structure again (an encrypted assertion hides its wrapping from pass 1), a signed
   assertion, issuer, destination, recipient, InResponseTo, audience, time window.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from saml2.saml import NAMEID_FORMAT_PERSISTENT, SCM_BEARER
from saml2.time_util import str_to_time

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XENC = "http://www.w3.org/2001/04/xmlenc#"

RESPONSE = f"{{{NS_SAMLP}}}Response"
ASSERTION = f"{{{NS_SAML}}}Assertion"
ENCRYPTED_ASSERTION = f"{{{NS_SAML}}}EncryptedAssertion"
ISSUER = f"{{{NS_SAML}}}Issuer"
SIGNATURE = f"{{{NS_DS}}}Signature"
SIGNED_INFO = f"{{{NS_DS}}}SignedInfo"
REFERENCE = f"{{{NS_DS}}}Reference"
OBJECT = f"{{{NS_DS}}}Object"
RETRIEVAL_METHOD = f"{{{NS_DS}}}RetrievalMethod"
CIPHER_REFERENCE = f"{{{NS_XENC}}}CipherReference"
ENCRYPTION_METHOD = f"{{{NS_XENC}}}EncryptionMethod"
ENCRYPTED_DATA = f"{{{NS_XENC}}}EncryptedData"
ENCRYPTED_KEY = f"{{{NS_XENC}}}EncryptedKey"

SIGNATURE_ALGORITHMS = (
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
)
DIGEST_ALGORITHMS = (
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
)
CANONICALIZATIONS = (
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
)
TRANSFORMS = ("http://www.w3.org/2000/09/xmldsig#enveloped-signature", *CANONICALIZATIONS)
# Content encryption: AES only (GCM preferred; CBC still sent by some brokers). Key transport:
# RSA-OAEP only - PKCS#1 v1.5 key transport is open to Bleichenbacher-style oracles.
DATA_ENCRYPTION = (
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
)
KEY_TRANSPORT = (
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
)
ID_ATTRIBUTES = ("ID", "Id", "id", "{http://www.w3.org/XML/1998/namespace}id")

MAX_ENCODED_BYTES = 1024 * 1024
MAX_DECODED_BYTES = 700 * 1024


class Refusal(Exception):
    """A SAML response (or message) that must not be accepted; ``reason`` is the audit code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ResponseFacts:
    """What the unverified response claims; used only to route it, never trusted alone."""

    response_id: str
    in_response_to: str
    destination: str
    issuer: str
    encrypted: bool
    response_signed: bool


@dataclass(frozen=True)
class AcceptedAssertion:
    """The facts of a verified assertion that the ACS acts on."""

    assertion_id: str
    name_id: str
    remember_until: datetime.datetime
    issuer: str


def decode(value: str) -> bytes:
    """Return the XML bytes of a base64 ``SAMLResponse`` form value (bounded in size)."""
    if len(value) > MAX_ENCODED_BYTES:
        raise Refusal("malformed", "the response is too large")
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refusal("malformed", "not base64") from None
    if len(data) > MAX_DECODED_BYTES:
        raise Refusal("malformed", "the response is too large")
    return data


def inspect_raw(xml: bytes) -> ResponseFacts:
    """Check the structure of the response as received; return what it claims.

    Runs before pysaml2 parses anything: a DOCTYPE is refused on the raw bytes, before any
    parser could expand an entity.
    """
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal("malformed", "not UTF-8") from None
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise Refusal("doctype")
    root = _parse(xml)
    assertion, encrypted = _check_tree(root, decrypted=False)
    if encrypted is not None:
        _check_encryption(encrypted)
    elif assertion is not None and assertion.find(SIGNATURE) is None:
        # Never an unsigned assertion, whatever signs the response around it.
        raise Refusal("assertion-unsigned")
    issuer = root.find(ISSUER)
    return ResponseFacts(
        response_id=root.get("ID") or "",
        in_response_to=root.get("InResponseTo") or "",
        destination=root.get("Destination") or "",
        issuer=(issuer.text or "").strip() if issuer is not None else "",
        encrypted=encrypted is not None,
        response_signed=root.find(SIGNATURE) is not None,
    )


def inspect_decrypted(xml: str) -> None:
    """Check the structure again after decryption, and that the assertion itself is signed."""
    root = _parse(xml.encode("utf-8"))
    assertion, _ = _check_tree(root, decrypted=True)
    if assertion is None or assertion.find(SIGNATURE) is None:
        raise Refusal("assertion-unsigned")


def check_assertion(
    response: Any,
    *,
    expected_issuer: str,
    request_id: str,
    acs_url: str,
    audience: str,
    requested_at: datetime.datetime,
    now: datetime.datetime,
    skew: datetime.timedelta,
) -> AcceptedAssertion:
    """Check the verified assertion field by field; return what the ACS needs.

    ``response`` is pysaml2's verified ``AuthnResponse``. Every rule is checked here even
    where pysaml2 checks it too: pysaml2 skips Destination when absent and Recipient unless
    told the conversation, and treats missing Conditions as valid.
    """
    message = response.response
    assertion = response.assertion
    if message is None or assertion is None:
        raise Refusal("invalid", "no assertion")
    if assertion.signature is None:
        raise Refusal("assertion-unsigned")
    if _text(message.issuer) != expected_issuer or _text(assertion.issuer) != expected_issuer:
        raise Refusal("issuer")
    if message.destination != acs_url:
        raise Refusal("destination")
    if message.in_response_to != request_id:
        raise Refusal("unsolicited")
    issued = _time(assertion.issue_instant)
    if issued is None or issued < requested_at - skew or issued > now + skew:
        raise Refusal("expired", "issued outside the request's lifetime")

    subject = assertion.subject
    confirmations = list(subject.subject_confirmation or []) if subject is not None else []
    if len(confirmations) != 1 or confirmations[0].method != SCM_BEARER:
        raise Refusal("subject", "exactly one bearer confirmation is required")
    data = confirmations[0].subject_confirmation_data
    if data is None or data.recipient != acs_url:
        raise Refusal("recipient")
    if data.in_response_to != request_id:
        raise Refusal("unsolicited")
    confirmation_until = _window(data.not_before, data.not_on_or_after, now=now, skew=skew)

    conditions = assertion.conditions
    if conditions is None:
        raise Refusal("conditions", "no Conditions")
    conditions_until = _window(
        conditions.not_before, conditions.not_on_or_after, now=now, skew=skew
    )
    restrictions = list(conditions.audience_restriction or [])
    # Every AudienceRestriction must name us (SAML core 2.5.1.4); at least one must exist.
    if not restrictions or any(
        audience not in [_text(item) for item in restriction.audience or []]
        for restriction in restrictions
    ):
        raise Refusal("audience")
    if len(assertion.authn_statement or []) != 1:
        raise Refusal("invalid", "exactly one AuthnStatement is required")
    session_end = assertion.authn_statement[0].session_not_on_or_after
    if session_end is not None:
        end = _time(session_end)
        if end is None or now >= end + skew:
            raise Refusal("expired", "the IdP session has ended")

    name_id = subject.name_id
    if name_id is None or not _text(name_id) or name_id.format != NAMEID_FORMAT_PERSISTENT:
        raise Refusal("name-id", "a persistent NameID is required")
    if not assertion.id or len(assertion.id) > 255:
        raise Refusal("invalid", "the assertion id is missing or too long")
    return AcceptedAssertion(
        assertion_id=assertion.id,
        name_id=_text(name_id),
        remember_until=max(confirmation_until, conditions_until) + skew,
        issuer=expected_issuer,
    )


def _window(
    not_before: str | None,
    not_on_or_after: str | None,
    *,
    now: datetime.datetime,
    skew: datetime.timedelta,
) -> datetime.datetime:
    """Check ``now`` against a validity window (with skew); return its end."""
    end = _time(not_on_or_after)
    if end is None:
        raise Refusal("expired", "no NotOnOrAfter")
    if now >= end + skew:
        raise Refusal("expired")
    if not_before is not None:
        start = _time(not_before)
        if start is None or now < start - skew:
            raise Refusal("not-yet-valid")
    return end


def _time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = str_to_time(value)
    except (ValueError, TypeError, AttributeError):
        return None
    if parsed is None or isinstance(parsed, int):
        return None
    return datetime.datetime.fromtimestamp(calendar.timegm(parsed), tz=datetime.UTC)


def _text(element: Any) -> str:
    return str(getattr(element, "text", "") or "").strip()


def _parse(xml: bytes) -> ET.Element:
    # Comments and processing instructions are kept in the tree so that they can be refused:
    # a comment inside a signed value (``user<!---->@evil``) does not change the signature but
    # does change what a parser returns as the text.
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(insert_comments=True, insert_pis=True),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(xml)
        root: ET.Element = parser.close()
    except DefusedXmlException:
        raise Refusal("doctype") from None
    except (ET.ParseError, ValueError):
        raise Refusal("malformed", "not well-formed XML") from None
    return root


def _check_tree(
    root: ET.Element, *, decrypted: bool
) -> tuple[ET.Element | None, ET.Element | None]:
    """Refuse anything but one Response holding exactly one assertion where it belongs."""
    if root.tag != RESPONSE or root.get("Version") != "2.0":
        raise Refusal("malformed", "not a SAML 2.0 Response")
    parents: dict[ET.Element, ET.Element] = {}
    seen_ids: set[str] = set()
    for element in root.iter():
        if element.tag is ET.Comment or element.tag is ET.ProcessingInstruction:
            raise Refusal("xml-comment")
        for child in element:
            parents[child] = element
        for name in ID_ATTRIBUTES:
            value = element.get(name)
            if value is None:
                continue
            # xmlsec1 resolves a reference by id: two elements with one id are the classic
            # way to make it verify one element while the application reads the other.
            if value in seen_ids:
                raise Refusal("duplicate-id")
            seen_ids.add(value)
    if len(list(root.iter(RESPONSE))) != 1:
        raise Refusal("structure", "a nested Response")
    assertions = list(root.iter(ASSERTION))
    encrypted = list(root.iter(ENCRYPTED_ASSERTION))
    assertion = assertions[0] if len(assertions) == 1 else None
    enc = encrypted[0] if len(encrypted) == 1 else None
    if decrypted:
        # After decryption the assertion sits where its EncryptedAssertion was.
        valid = (
            assertion is not None
            and len(encrypted) <= 1
            and (
                parents.get(assertion) is root
                or (enc is not None and parents.get(assertion) is enc and parents.get(enc) is root)
            )
        )
    else:
        valid = len(assertions) + len(encrypted) == 1 and (
            (assertion is not None and parents.get(assertion) is root)
            or (enc is not None and parents.get(enc) is root)
        )
    if not valid:
        raise Refusal("structure", "the response must hold exactly one assertion")
    for element in root.iter():
        if element.tag in (RETRIEVAL_METHOD, CIPHER_REFERENCE, OBJECT):
            # Would make xmlsec1 fetch or dereference data outside the signed element.
            raise Refusal("structure", "external or detached reference")
    signed_parents: set[int] = set()
    for signature in root.iter(SIGNATURE):
        parent = parents.get(signature)
        if parent is None or (parent is not root and parent is not assertion):
            raise Refusal("structure", "a signature outside the Response or Assertion")
        if id(parent) in signed_parents:
            raise Refusal("structure", "two signatures on one element")
        signed_parents.add(id(parent))
        _check_signature(signature, parent)
    return assertion, enc


def _check_signature(signature: ET.Element, parent: ET.Element) -> None:
    """Refuse a signature that is not enveloped, not on its parent, or uses a weak algorithm."""
    signed_info = signature.findall(SIGNED_INFO)
    if len(signed_info) != 1:
        raise Refusal("structure", "SignedInfo")
    info = signed_info[0]
    c14n = info.find(f"{{{NS_DS}}}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALIZATIONS:
        raise Refusal("signature-algorithm", "canonicalisation")
    method = info.find(f"{{{NS_DS}}}SignatureMethod")
    if method is None or method.get("Algorithm") not in SIGNATURE_ALGORITHMS:
        raise Refusal(
            "signature-algorithm", str(method.get("Algorithm") if method is not None else "")
        )
    references = info.findall(REFERENCE)
    parent_id = parent.get("ID")
    if len(references) != 1 or not parent_id or references[0].get("URI") != f"#{parent_id}":
        raise Refusal("structure", "the signature must reference its own parent")
    reference = references[0]
    for transform in reference.iter(f"{{{NS_DS}}}Transform"):
        if transform.get("Algorithm") not in TRANSFORMS:
            raise Refusal("signature-algorithm", "transform")
    digest = reference.find(f"{{{NS_DS}}}DigestMethod")
    if digest is None or digest.get("Algorithm") not in DIGEST_ALGORITHMS:
        raise Refusal("signature-algorithm", "digest")


def _check_encryption(encrypted: ET.Element) -> None:
    """Refuse encryption algorithms outside the allow-list (3DES, RSA PKCS#1 v1.5)."""
    parents = {child: parent for parent in encrypted.iter() for child in parent}
    found = False
    for method in encrypted.iter(ENCRYPTION_METHOD):
        algorithm = method.get("Algorithm")
        owner = parents.get(method)
        if owner is not None and owner.tag == ENCRYPTED_DATA:
            found = True
            if algorithm not in DATA_ENCRYPTION:
                raise Refusal("encryption-algorithm", str(algorithm))
        elif owner is not None and owner.tag == ENCRYPTED_KEY:
            if algorithm not in KEY_TRANSPORT:
                raise Refusal("encryption-algorithm", str(algorithm))
        else:
            raise Refusal("structure", "EncryptionMethod out of place")
    if not found:
        raise Refusal("encryption-algorithm", "no content encryption method")
