"""The demo identity provider: a real pysaml2 IdP with its own run-time key (demo mode only).

It signs and encrypts assertions exactly as the federation broker would (OIOSAML 3 attribute
names, NameFormat uri, AES-256-GCM content encryption with RSA-OAEP key transport), so the
service provider's real code path is what the demo and the browser tests exercise.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import saml2
from django.conf import settings
from saml2.attribute_converter import AttributeConverter
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.sigver import get_pem_wrapped_unwrapped, make_temp, pre_encryption_part
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from indblik.identity import attributes, keys

AES256_GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"

_lock = threading.Lock()
_metadata: str | None = None
_server: IdentityProvider | None = None


class IdentityProvider(Server):
    """pysaml2's IdP, encrypting with AES-256-GCM instead of its default triple DES."""

    def _encrypt_assertion(
        self, encrypt_cert: Any, sp_entity_id: Any, response: Any, node_xpath: Any = None
    ) -> Any:
        certs = (
            [(None, encrypt_cert)]
            if encrypt_cert
            else self.metadata.certs(sp_entity_id, "any", "encryption")
        )
        if not certs:
            raise ValueError(f"no encryption certificate for {sp_entity_id}")
        # The SP publishes its current certificate first; during a rollover it publishes the
        # next one too, and either can decrypt.
        _name, cert = certs[0]
        wrapped, unwrapped = get_pem_wrapped_unwrapped(cert)
        cert_file = make_temp(wrapped.encode("ascii"), decode=False)
        template = pre_encryption_part(
            msg_enc=AES256_GCM, key_enc=RSA_OAEP_MGF1P, encrypt_cert=unwrapped
        )
        return self.sec.encrypt_assertion(
            response, cert_file.name, template, key_type="aes-256", node_xpath=node_xpath
        )


def entity_id() -> str:
    """Return the demo IdP's entity id."""
    return f"{settings.INDBLIK_BASE_URL}/demo-idp/metadata/"


def sso_url() -> str:
    """Return the demo IdP's single sign-on endpoint (HTTP-Redirect)."""
    return f"{settings.INDBLIK_BASE_URL}/demo-idp/sso/"


def slo_url() -> str:
    """Return the demo IdP's single logout endpoint (HTTP-Redirect)."""
    return f"{settings.INDBLIK_BASE_URL}/demo-idp/slo/"


def key_files() -> tuple[Path, Path]:
    """Return the demo IdP's ``(key, certificate)``, generated at first use, never committed."""
    directory = Path(settings.DATA_DIR) / "demo-idp"
    key, cert = directory / "idp-key.pem", directory / "idp-cert.pem"
    keys.ensure_key_pair(key, cert, common_name="Indblik demo IdP")
    return key, cert


def uri_converter() -> AttributeConverter:
    """Return an attribute converter that keeps OIOSAML 3 URIs as names (NameFormat uri)."""
    converter = AttributeConverter(NAME_FORMAT_URI)
    names = {name: name for name in attributes.ALL_NAMES}
    converter.from_dict({"identifier": NAME_FORMAT_URI, "fro": names, "to": names})
    return converter


def idp_settings(
    *,
    entity: str,
    sso: str,
    slo: str,
    key_file: Path,
    cert_file: Path,
    sp_metadata: Sequence[str] = (),
) -> dict[str, Any]:
    """Return a pysaml2 IdP configuration (also used by the tests' in-process IdP)."""
    config: dict[str, Any] = {
        "entityid": entity,
        "xmlsec_binary": settings.INDBLIK_SAML_XMLSEC_BINARY,
        "delete_tmpfiles": True,
        "key_file": str(key_file),
        "cert_file": str(cert_file),
        "service": {
            "idp": {
                "name": "Indblik demo IdP",
                "endpoints": {
                    "single_sign_on_service": [(sso, saml2.BINDING_HTTP_REDIRECT)],
                    "single_logout_service": [(slo, saml2.BINDING_HTTP_REDIRECT)],
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "want_authn_requests_signed": True,
                "sign_response": True,
                "sign_assertion": True,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 5},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_URI,
                    }
                },
            }
        },
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
    }
    if sp_metadata:
        config["metadata"] = {"inline": list(sp_metadata)}
    return config


def load_config(settings_dict: Mapping[str, Any]) -> IdPConfig:
    """Return an IdPConfig whose attributes keep their OIOSAML 3 URI names."""
    config = IdPConfig()
    config.load(dict(settings_dict))
    config.attribute_converters = [uri_converter()]
    return config


def _own_settings(sp_metadata: Sequence[str] = ()) -> dict[str, Any]:
    key, cert = key_files()
    return idp_settings(
        entity=entity_id(),
        sso=sso_url(),
        slo=slo_url(),
        key_file=key,
        cert_file=cert,
        sp_metadata=sp_metadata,
    )


def metadata_xml() -> str:
    """Return the demo IdP's metadata (fed to the SP automatically in demo mode)."""
    global _metadata
    with _lock:
        if _metadata is None:
            _metadata = str(entity_descriptor(load_config(_own_settings())))
        return _metadata


def server() -> IdentityProvider:
    """Return the demo IdP, trusting the SP's current metadata (built once, then cached)."""
    global _server
    from indblik.identity import saml

    with _lock:
        if _server is None:
            _server = IdentityProvider(config=load_config(_own_settings([saml.sp_metadata_xml()])))
        return _server


def reset_cache() -> None:
    """Forget the built IdP (settings changed, tests)."""
    global _metadata, _server
    with _lock:
        _metadata = None
        _server = None


@dataclass(frozen=True)
class IssuedResponse:
    """A signed (and encrypted) response, ready to be POSTed to the SP's ACS."""

    destination: str
    saml_response: str
    relay_state: str


def issue(
    idp: Server,
    request: Any,
    *,
    name_id: str,
    attribute_values: Mapping[str, Sequence[str]],
    relay_state: str = "",
    loa_class: str = "https://data.gov.dk/concept/core/nsis/loa/Substantial",
    encrypt: bool = True,
    sign_response: bool = True,
    sign_assertion: bool = True,
    sign_alg: str = SIG_RSA_SHA256,
    digest_alg: str = DIGEST_SHA256,
    **overrides: Any,
) -> IssuedResponse:
    """Answer a parsed AuthnRequest with a signed response for one person.

    ``overrides`` replace the response arguments pysaml2 derives from the request (e.g.
    ``destination`` or ``sp_entity_id``): the tests use them to build hostile responses.
    """
    args = dict(idp.response_args(request.message))
    args.update(overrides)
    xml = idp.create_authn_response(
        identity={name: list(values) for name, values in attribute_values.items()},
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=name_id),
        authn={"class_ref": loa_class, "authn_auth": idp.config.entityid},
        sign_response=sign_response,
        sign_assertion=sign_assertion,
        encrypt_assertion=encrypt,
        encrypt_assertion_self_contained=True,
        sign_alg=sign_alg,
        digest_alg=digest_alg,
        **args,
    )
    return IssuedResponse(
        destination=str(args["destination"]),
        saml_response=base64.b64encode(str(xml).encode("utf-8")).decode("ascii"),
        relay_state=relay_state,
    )
