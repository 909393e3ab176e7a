"""A real SAML broker in the test process: a pysaml2 IdP with its own run-time key.

Tests start a sign-in through the SP's login view (so the AuthnRequest, its signature and its
id are real), let this IdP answer it, and post the answer to the ACS with the test client.
``Broker.respond`` can change the response *before* it is signed (``mutate``), and the XSW
tests change it *after* (``tamper``).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest
import saml2
from django.test import Client
from django.utils import timezone
from saml2 import samlp
from saml2.metadata import entity_descriptor

from indblik import audit
from indblik.audit.testing import pytest_runtest_teardown  # noqa: F401 - empties the audit log
from indblik.identity import attributes, keys, saml
from indblik.identity.demo_idp import server as demo_server
from indblik.organisations.models import NetworkRange, Organisation

IDP_ENTITY = "https://broker.test.example/idp"
ROLE = "http://demo.indblik.dk/roles/jobrole/indblik-opslag/1"
KK = ("64942212", "Københavns Kommune")
FRB = ("11259979", "Frederiksberg Kommune")
UNKNOWN_CVR = "25052943"

NAMESPACES = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


@dataclass(frozen=True)
class Person:
    """What the test broker asserts about one professional."""

    persistent_id: str = "urn:uuid:0c7e6f1a-4d5b-4d0e-8a8b-2b9f3f0a1c11"
    full_name: str = "Mette Holm"
    email: str = "mette.holm@kk.example.dk"
    cvr: str = KK[0]
    organisation_name: str = KK[1]
    loa: str = "Substantial"
    privileges: str | None = None  # raw attribute value; default: ``roles`` scoped to ``cvr``
    roles: tuple[str, ...] = (ROLE,)
    authorisation_id: str = "5D2K9"
    cpr: str = ""

    def values(self) -> dict[str, list[str]]:
        """Return the attribute values the broker sends."""
        values = {
            attributes.LOA: [self.loa],
            attributes.FULL_NAME: [self.full_name],
            attributes.EMAIL: [self.email],
        }
        if self.cpr:
            values[attributes.CPR] = [self.cpr]
            return values
        privileges = self.privileges
        if privileges is None:
            privileges = attributes.encode_privileges({self.cvr: self.roles})
        values.update(
            {
                attributes.PERSISTENT_ID: [self.persistent_id],
                attributes.CVR: [self.cvr],
                attributes.ORGANISATION_NAME: [self.organisation_name],
                attributes.PRIVILEGES: [privileges],
                attributes.DEFAULT_AUTHORISATION: [self.authorisation_id],
            }
        )
        return values

    @property
    def name_id(self) -> str:
        """Return the persistent NameID."""
        return "https://data.gov.dk/model/core/eid/professional/uuid/" + self.persistent_id[9:]

    def but(self, **changes: Any) -> Person:
        """Return a copy with some fields changed."""
        return replace(self, **changes)


NURSE = Person()


class TestIdentityProvider(demo_server.IdentityProvider):
    """The demo IdP's class with a hook that edits each response before it is signed."""

    mutators: list[Callable[[samlp.Response], None]]

    def _add_info(self, msg: Any, **kwargs: Any) -> None:
        super()._add_info(msg, **kwargs)
        for mutate in getattr(self, "mutators", []):
            mutate(msg)


@pytest.fixture(scope="session")
def idp_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Return the broker's key pair and metadata file (plus a rogue pair), made once."""
    directory = tmp_path_factory.mktemp("broker")
    paths = {
        "key": directory / "idp-key.pem",
        "cert": directory / "idp-cert.pem",
        "rogue_key": directory / "rogue-key.pem",
        "rogue_cert": directory / "rogue-cert.pem",
    }
    keys.ensure_key_pair(paths["key"], paths["cert"], common_name="test broker")
    keys.ensure_key_pair(paths["rogue_key"], paths["rogue_cert"], common_name="rogue")
    config = demo_server.load_config(_idp_settings(paths["key"], paths["cert"]))
    paths["metadata"] = directory / "idp-metadata.xml"
    paths["metadata"].write_text(str(entity_descriptor(config)), encoding="utf-8")
    return paths


def _idp_settings(
    key: Path, cert: Path, entity: str = IDP_ENTITY, sp_metadata: Iterable[str] = ()
) -> dict[str, Any]:
    return demo_server.idp_settings(
        entity=entity,
        sso=f"{entity}/sso",
        slo=f"{entity}/slo",
        key_file=key,
        cert_file=cert,
        sp_metadata=list(sp_metadata),
    )


@pytest.fixture
def sp_settings(settings: Any, idp_keys: dict[str, Path]) -> Any:
    """Point the SP at the test broker only (demo IdP off, plain assertions allowed)."""
    settings.INDBLIK_SAML_IDP_METADATA = [str(idp_keys["metadata"])]
    settings.INDBLIK_SAML_DEMO_IDP = False
    settings.INDBLIK_SAML_REQUIRE_ENCRYPTION = False
    settings.INDBLIK_SAML_REQUIRE_RESPONSE_SIGNATURE = False
    saml.reset_cache()
    return settings


def make_idp(
    key: Path, cert: Path, *, entity: str = IDP_ENTITY, cls: type = TestIdentityProvider
) -> Any:
    """Return an IdP trusting the SP's current metadata."""
    config = demo_server.load_config(_idp_settings(key, cert, entity, [saml.sp_metadata_xml()]))
    idp = cls(config=config)
    idp.mutators = []
    return idp


@pytest.fixture
def organisations(db: None) -> dict[str, Organisation]:
    """Register the organisations of the tests: two live, one suspended, one onboarding."""
    rows = {
        "kk": Organisation(
            cvr=KK[0], name=KK[1], type="municipality", municipality_code="0101", role_uri=ROLE
        ),
        "frb": Organisation(
            cvr=FRB[0], name=FRB[1], type="municipality", municipality_code="0147", role_uri=ROLE
        ),
        "hospice": Organisation(
            cvr="30416031", name="Hospice Sjælland", type="hospice", role_uri=ROLE
        ),
        "amager": Organisation(
            cvr="29190909", name="Nærklinik Amager", type="near-clinic", role_uri=ROLE
        ),
    }
    statuses = {"kk": "live", "frb": "live", "hospice": "suspended", "amager": "onboarding"}
    for key, row in rows.items():
        row.status = statuses[key]
        row.save()
        # The test client (and the live server) connect from loopback: the organisations'
        # network allowlist middleware must let them through.
        NetworkRange.objects.create(organisation=row, cidr="127.0.0.0/8", added_at=timezone.now())
    return rows


class Broker:
    """Drive sign-ins: the SP's real login view, the test IdP, the SP's real ACS."""

    def __init__(self, idp: Any, client: Client) -> None:
        self.idp = idp
        self.client = client

    def start(self, client: Client | None = None, next_url: str = "/saml2/session/") -> Any:
        """Start a sign-in through the SP; return the AuthnRequest as the IdP parsed it."""
        response = (client or self.client).get("/saml2/login/", {"next": next_url})
        assert response.status_code == 302, response.content[:500]
        query = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
        # The IdP verifies the SP's signature on the redirect (want_authn_requests_signed).
        return self.idp.parse_authn_request(
            query["SAMLRequest"],
            saml2.BINDING_HTTP_REDIRECT,
            sigalg=query.get("SigAlg"),
            signature=query.get("Signature"),
        )

    def respond(
        self,
        request: Any,
        person: Person = NURSE,
        *,
        encrypt: bool = False,
        mutate: Callable[[samlp.Response], None] | None = None,
        **options: Any,
    ) -> str:
        """Return the IdP's base64 answer to ``request`` for ``person``."""
        self.idp.mutators = [mutate] if mutate else []
        try:
            issued = demo_server.issue(
                self.idp,
                request,
                name_id=options.pop("name_id", person.name_id),
                attribute_values=person.values(),
                encrypt=encrypt,
                **options,
            )
        finally:
            self.idp.mutators = []
        return issued.saml_response

    def post(self, saml_response: str, client: Client | None = None) -> Any:
        """Post an answer to the ACS."""
        return (client or self.client).post("/saml2/acs/", {"SAMLResponse": saml_response})

    def login(self, person: Person = NURSE, client: Client | None = None, **options: Any) -> Any:
        """Sign in from start to end; return the ACS response."""
        request = self.start(client)
        return self.post(self.respond(request, person, **options), client)


@pytest.fixture
def idp(sp_settings: Any, idp_keys: dict[str, Path]) -> Any:
    """Return the test broker's IdP (trusting the SP's current metadata)."""
    return make_idp(idp_keys["key"], idp_keys["cert"])


@pytest.fixture
def broker(idp: Any, client: Client, organisations: dict[str, Organisation]) -> Broker:
    """Return the sign-in driver for the default test client."""
    return Broker(idp, client)


# --- helpers for assertions and tampering ---------------------------------------------------


def decode(saml_response: str) -> str:
    """Return the XML of a base64 SAMLResponse."""
    return base64.b64decode(saml_response).decode("utf-8")


def encode(xml: str) -> str:
    """Return the base64 SAMLResponse of ``xml``."""
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


def tamper(saml_response: str, change: Callable[[ET.Element], ET.Element | None]) -> str:
    """Parse a *signed* response with ElementTree, apply ``change``, serialise it again.

    Namespace prefixes come out as pysaml2 wrote them (exclusive c14n renders prefixes, so a
    renamed prefix would break the signature by itself); the ``xs`` prefix, used only inside
    ``xsi:type`` values, is declared again where pysaml2 declared it.
    """
    xml = decode(saml_response)
    for prefix, uri in re.findall(r'xmlns:(\w+)="([^"]+)"', xml):
        # ElementTree numbers the others (ns0, ns1, ...) in document order, as pysaml2's
        # serialiser (also ElementTree) did.
        if not re.fullmatch(r"ns\d+", prefix):
            ET.register_namespace(prefix, uri)
    root = ET.fromstring(xml)  # noqa: S314 - our own test IdP's output
    root = change(root) or root
    text = ET.tostring(root, encoding="unicode")
    # Put back the declaration pysaml2 wrote on each AttributeValue (ElementTree dropped it:
    # the prefix appears only inside a value). Not rendered by exclusive c14n: signatures hold.
    text = text.replace(
        'xsi:type="xs:string"', 'xmlns:xs="http://www.w3.org/2001/XMLSchema" xsi:type="xs:string"'
    )
    return encode(text)


def q(name: str) -> str:
    """Return ``{namespace}local`` for ``prefix:local``."""
    prefix, local = name.split(":")
    return f"{{{NAMESPACES[prefix]}}}{local}"


def refusals() -> list[str]:
    """Return the reason codes of the refused sign-ins audited so far, oldest first."""
    events = audit.AuditEvent.objects.filter(action=audit.Action.LOGIN_REFUSED).order_by("pk")
    return [event.details.get("reason") for event in events]


def assert_refused(response: Any, *reasons: str) -> None:
    """Assert a clean refusal page (403, Danish, not cached) audited with one of ``reasons``."""
    assert response.status_code == 403, (response.status_code, response.content[:300])
    assert "no-store" in response["Cache-Control"]
    assert "Du kunne ikke logges ind" in response.content.decode()
    assert refusals(), "the refusal was not audited"
    assert refusals()[-1] in reasons, refusals()


def new_id() -> str:
    """Return a fresh XML id."""
    return f"id-{uuid.uuid4().hex}"


def now() -> Any:
    """Return the current time (the clock tests travel with)."""
    return timezone.now()


@pytest.fixture(autouse=True)
def _fresh_saml_cache() -> Iterator[None]:
    saml.reset_cache()
    yield
    saml.reset_cache()
