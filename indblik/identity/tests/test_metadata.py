"""The SP metadata the broker is given, and key rotation without downtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.test import Client

from indblik.identity import keys, saml
from indblik.identity.models import User
from indblik.identity.tests.conftest import Broker

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
ALG = "{urn:oasis:names:tc:SAML:metadata:algsupport}"


def metadata(client: Client) -> ET.Element:
    response = client.get("/saml2/metadata/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    return ET.fromstring(response.content)  # noqa: S314 - our own metadata


def certificates(root: ET.Element, use: str) -> list[str]:
    return [
        "".join((cert.text or "").split())
        for descriptor in root.iter(f"{MD}KeyDescriptor")
        if descriptor.get("use") == use
        for cert in descriptor.iter(f"{DS}X509Certificate")
    ]


def body(path: Path) -> str:
    return keys.certificate_body(keys.load_certificate(path))


def test_the_metadata_describes_the_sp(client: Client, sp_settings: Any) -> None:
    root = metadata(client)
    assert root.get("entityID") == "http://127.0.0.1:8000/saml2/metadata/"
    sp = root.find(f"{MD}SPSSODescriptor")
    assert sp is not None
    assert sp.get("AuthnRequestsSigned") == "true" and sp.get("WantAssertionsSigned") == "true"
    acs = sp.find(f"{MD}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    assert acs.get("Location") == "http://127.0.0.1:8000/saml2/acs/"
    slo = {
        s.get("Binding", "").rsplit(":", 1)[-1]: s.get("Location")
        for s in sp.iter(f"{MD}SingleLogoutService")
    }
    assert slo == {"HTTP-Redirect": saml.slo_url(), "HTTP-POST": saml.slo_url()}
    formats = [f.text for f in sp.iter(f"{MD}NameIDFormat")]
    assert formats == ["urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"]
    _key, cert = saml.key_files()
    assert certificates(root, "signing") == [body(cert)]
    assert certificates(root, "encryption") == [body(cert)]


def test_the_metadata_advertises_no_weak_algorithm(client: Client, sp_settings: Any) -> None:
    root = metadata(client)
    advertised = [
        e.get("Algorithm", "")
        for e in root.iter()
        if e.tag in (f"{ALG}DigestMethod", f"{ALG}SigningMethod")
    ]
    assert advertised
    assert not [a for a in advertised if "sha1" in a or "md5" in a or "ripemd" in a]
    assert "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" in advertised


def test_the_sp_keys_are_rsa_3072_generated_at_run_time(sp_settings: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key, cert = saml.key_files()
    assert str(key).startswith(str(sp_settings.DATA_DIR))
    assert key.stat().st_mode & 0o077 == 0
    public = keys.load_certificate(cert).public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 3072


@pytest.fixture
def next_pair(tmp_path: Path) -> tuple[Path, Path]:
    key_pem, cert_pem = keys.new_key_pair("Indblik SAML SP (next)")
    key, cert = tmp_path / "next-key.pem", tmp_path / "next-cert.pem"
    key.write_bytes(key_pem)
    cert.write_bytes(cert_pem)
    return key, cert


def test_during_a_rollover_both_certificates_are_published(
    client: Client, sp_settings: Any, next_pair: tuple[Path, Path]
) -> None:
    sp_settings.INDBLIK_SAML_NEXT_KEY_FILE, sp_settings.INDBLIK_SAML_NEXT_CERT_FILE = map(
        str, next_pair
    )
    root = metadata(client)
    _key, cert = saml.key_files()
    expected = [body(cert), body(next_pair[1])]
    assert certificates(root, "signing") == expected
    assert certificates(root, "encryption") == expected


@pytest.mark.django_db
def test_an_assertion_encrypted_to_the_next_certificate_is_accepted(
    broker: Broker, sp_settings: Any, next_pair: tuple[Path, Path], idp_keys: dict[str, Any]
) -> None:
    from indblik.identity.tests.conftest import make_idp

    sp_settings.INDBLIK_SAML_NEXT_KEY_FILE, sp_settings.INDBLIK_SAML_NEXT_CERT_FILE = map(
        str, next_pair
    )
    sp_settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = True
    broker.idp = make_idp(idp_keys["key"], idp_keys["cert"])  # sees the new SP metadata
    request = broker.start()
    answer = broker.respond(request, encrypt=True, encrypt_cert_assertion=next_pair[1].read_text())
    assert broker.post(answer).status_code == 302
    assert User.objects.filter(is_active=True).count() == 1


@pytest.mark.django_db
def test_after_the_swap_an_assertion_for_the_old_certificate_still_decrypts(
    broker: Broker, sp_settings: Any, next_pair: tuple[Path, Path]
) -> None:
    old_key, old_cert = saml.key_files()
    request = broker.start()  # the broker still encrypts to the old certificate ...
    answer = broker.respond(request, encrypt=True)
    # ... while the SP has switched: the new pair is current, the old one still published.
    sp_settings.INDBLIK_SAML_GENERATE_KEYS = False
    sp_settings.INDBLIK_SAML_KEY_FILE, sp_settings.INDBLIK_SAML_CERT_FILE = map(str, next_pair)
    sp_settings.INDBLIK_SAML_NEXT_KEY_FILE = str(old_key)
    sp_settings.INDBLIK_SAML_NEXT_CERT_FILE = str(old_cert)
    assert broker.post(answer).status_code == 302
