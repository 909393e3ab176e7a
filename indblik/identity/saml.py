"""The SAML service provider's configuration, built from settings once and cached.

djangosaml2 calls :func:`config_loader` (setting ``SAML_CONFIG_LOADER``) for every SAML
request; building a pysaml2 ``SPConfig`` reads key files and parses every metadata document,
so the built configuration is kept for ``INDBLIK_SAML_METADATA_REFRESH_MINUTES`` and rebuilt
after that (which also picks up a broker's new metadata). If a rebuild fails (the broker's
metadata URL is down), the previous configuration stays in use and the failure is logged.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import saml2
from defusedxml import ElementTree as DefusedET
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from djangosaml2.middleware import SamlSessionMiddleware as _DjangoSamlSessionMiddleware
from djangosaml2.overrides import Saml2Client
from djangosaml2.utils import available_idps
from saml2 import md
from saml2.config import SPConfig
from saml2.extension import algsupport
from saml2.metadata import entity_descriptor
from saml2.population import Population
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import CryptoBackendXmlSec1, SignatureError
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from indblik.identity import acceptance, keys

logger = logging.getLogger("indblik.identity")

LOA_SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"
METADATA_MAX_BYTES = 20 * 1024 * 1024
METADATA_TIMEOUT_SECONDS = 10
# After a failed rebuild, try again this soon rather than after a whole refresh period.
RETRY_SECONDS = 60

_lock = threading.Lock()
_client_lock = threading.Lock()
_cached: tuple[float, SPConfig] | None = None
_origins_failed_at = -float(RETRY_SECONDS)


def base_url() -> str:
    """Return the external URL Indblik is served at (no trailing slash)."""
    return str(settings.INDBLIK_BASE_URL).rstrip("/")


def entity_id() -> str:
    """Return the SP's entity id: the URL of its metadata."""
    return f"{base_url()}/saml2/metadata/"


def acs_url() -> str:
    """Return the assertion consumer service URL (HTTP-POST)."""
    return f"{base_url()}/saml2/acs/"


def slo_url() -> str:
    """Return the single logout service URL (HTTP-Redirect and HTTP-POST)."""
    return f"{base_url()}/saml2/ls/"


def key_files() -> tuple[Path, Path]:
    """Return the SP's ``(key, certificate)`` files, generating them in demo and test mode."""
    key = Path(settings.INDBLIK_SAML_KEY_FILE)
    cert = Path(settings.INDBLIK_SAML_CERT_FILE)
    if settings.INDBLIK_SAML_GENERATE_KEYS:
        keys.ensure_key_pair(key, cert, common_name="Indblik SAML SP (demo)")
    return key, cert


def next_key_files() -> tuple[Path, Path] | None:
    """Return the rollover ``(key, certificate)`` published beside the current pair, if any."""
    if not settings.INDBLIK_SAML_NEXT_KEY_FILE:
        return None
    return Path(settings.INDBLIK_SAML_NEXT_KEY_FILE), Path(settings.INDBLIK_SAML_NEXT_CERT_FILE)


def configuration_problems() -> list[str]:
    """Return what keeps the SP from working, without network access (empty when fine).

    Checked when the web server loads and by ``indblik check --deploy``: missing or unreadable
    key and certificate files, a key that does not match its certificate, no IdP metadata.
    """
    problems: list[str] = []
    if not settings.INDBLIK_SAML_KEY_FILE or not settings.INDBLIK_SAML_CERT_FILE:
        problems.append("INDBLIK_SAML_KEY_FILE and INDBLIK_SAML_CERT_FILE must be set")
    elif not settings.INDBLIK_SAML_GENERATE_KEYS:
        pairs = [key_files()]
        rollover = next_key_files()
        if rollover:
            pairs.append(rollover)
        for key, cert in pairs:
            problems.extend(_pair_problems(key, cert))
    if not settings.INDBLIK_SAML_IDP_METADATA and not settings.INDBLIK_SAML_DEMO_IDP:
        problems.append("INDBLIK_SAML_IDP_METADATA must name the broker's metadata")
    for source in settings.INDBLIK_SAML_IDP_METADATA:
        if "://" not in source and not Path(source).is_file():
            problems.append(f"INDBLIK_SAML_IDP_METADATA: {source} is not a readable file")
    if not Path(settings.INDBLIK_SAML_XMLSEC_BINARY).is_file():
        problems.append(f"xmlsec1 not found at {settings.INDBLIK_SAML_XMLSEC_BINARY}")
    return problems


def _pair_problems(key: Path, cert: Path) -> list[str]:
    try:
        if not keys.key_matches_certificate(key, cert):
            return [f"the SAML key {key} does not belong to the certificate {cert}"]
    except (OSError, ValueError, TypeError) as exc:
        return [f"cannot read the SAML key pair {key} / {cert}: {exc}"]
    return []


def sp_settings(*, with_metadata: bool = True) -> dict[str, Any]:
    """Return the pysaml2 SP configuration dictionary built from Django settings.

    Security-relevant choices, each also checked again by the ACS itself: assertions must be
    signed; unsolicited responses are refused; keys are taken from metadata only, never from
    a certificate inside the message; requests are signed with RSA-SHA256.
    """
    key, cert = key_files()
    encryption = [{"key_file": str(key), "cert_file": str(cert)}]
    rollover = next_key_files()
    if rollover:
        encryption.append({"key_file": str(rollover[0]), "cert_file": str(rollover[1])})
    config: dict[str, Any] = {
        "entityid": entity_id(),
        "xmlsec_binary": settings.INDBLIK_SAML_XMLSEC_BINARY,
        "crypto_backend": "xmlsec1",
        "delete_tmpfiles": True,
        "allow_unknown_attributes": True,
        "accepted_time_diff": settings.INDBLIK_SAML_CLOCK_SKEW_SECONDS,
        "only_use_keys_in_metadata": True,
        "key_file": str(key),
        "cert_file": str(cert),
        "encryption_keypairs": encryption,
        # During a rollover both certificates are published for signing and for encryption.
        "additional_cert_files": [str(rollover[1])] if rollover else None,
        "service": {
            "sp": {
                "name": "Indblik",
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "name_id_policy_format": NAMEID_FORMAT_PERSISTENT,
                "name_id_format_allow_create": True,
                "endpoints": {
                    "assertion_consumer_service": [(acs_url(), saml2.BINDING_HTTP_POST)],
                    "single_logout_service": [
                        (slo_url(), saml2.BINDING_HTTP_REDIRECT),
                        (slo_url(), saml2.BINDING_HTTP_POST),
                    ],
                },
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "logout_responses_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": settings.INDBLIK_SAML_REQUIRE_RESPONSE_SIGNATURE,
                "want_assertions_or_response_signed": False,
                "allow_unsolicited": False,
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
                "requested_authn_context": {
                    "authn_context_class_ref": [LOA_SUBSTANTIAL],
                    "comparison": "minimum",
                },
            }
        },
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
    }
    if with_metadata:
        config["metadata"] = {"inline": idp_metadata_documents()}
    return config


def idp_metadata_documents() -> list[str]:
    """Return the IdP metadata documents to trust: the configured ones and the demo IdP's."""
    documents = [_read_metadata(source) for source in settings.INDBLIK_SAML_IDP_METADATA]
    if settings.INDBLIK_SAML_DEMO_IDP:
        from indblik.identity.demo_idp import server as demo_idp

        documents.append(demo_idp.metadata_xml())
    return documents


def _read_metadata(source: str) -> str:
    if source.startswith("https://"):
        with httpx.Client(timeout=METADATA_TIMEOUT_SECONDS, follow_redirects=False) as http:
            response = http.get(source)
        if response.status_code != 200:
            raise ImproperlyConfigured(f"IdP metadata {source}: HTTP {response.status_code}")
        data = response.content
    else:
        data = Path(source).read_bytes()
    if len(data) > METADATA_MAX_BYTES:
        raise ImproperlyConfigured(f"IdP metadata {source} is larger than {METADATA_MAX_BYTES}")
    text = data.decode("utf-8")
    if settings.INDBLIK_SAML_IDP_METADATA_CERT:
        _verify_metadata_signature(source, text, Path(settings.INDBLIK_SAML_IDP_METADATA_CERT))
    return text


def _verify_metadata_signature(source: str, text: str, cert: Path) -> None:
    """Require the metadata to carry a valid enveloped signature by ``cert`` on its root."""
    root = DefusedET.fromstring(text.encode("utf-8"), forbid_dtd=True)
    root_id = root.get("ID")
    signature = root.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    reference = (
        signature.find(".//{http://www.w3.org/2000/09/xmldsig#}Reference")
        if signature is not None
        else None
    )
    # pysaml2 accepts unsigned metadata even when a certificate is configured: we do not.
    if not root_id or reference is None or reference.get("URI") != f"#{root_id}":
        raise ImproperlyConfigured(f"IdP metadata {source} is not signed on its root element")
    node = f"{root.tag.split('}')[0].lstrip('{')}:{root.tag.split('}')[1]}"
    crypto = CryptoBackendXmlSec1(settings.INDBLIK_SAML_XMLSEC_BINARY)
    try:
        valid = crypto.validate_signature(text, str(cert), "pem", node, root_id)
    except SignatureError:
        valid = False
    if not valid:
        raise ImproperlyConfigured(f"IdP metadata {source}: the signature does not verify")


def build_config() -> SPConfig:
    """Return a freshly built pysaml2 SP configuration (uncached)."""
    config = SPConfig()
    config.load(sp_settings())
    return config


def config_loader(request: HttpRequest | None = None) -> SPConfig:
    """Return the cached SP configuration (djangosaml2's ``SAML_CONFIG_LOADER``)."""
    global _cached
    now = time.monotonic()
    cached = _cached
    refresh = settings.INDBLIK_SAML_METADATA_REFRESH_MINUTES * 60
    if cached is not None and now - cached[0] < refresh:
        return cached[1]
    with _lock:
        cached = _cached
        if cached is not None and now - cached[0] < refresh:
            return cached[1]
        try:
            config = build_config()
        except Exception:
            if cached is None:
                raise
            logger.exception("rebuilding the SAML configuration failed; keeping the previous one")
            _cached = (now - refresh + RETRY_SECONDS, cached[1])
            return cached[1]
        _cached = (now, config)
        return config


def idp_origins() -> tuple[str, ...]:
    """Return the origins (``https://host[:port]``) of the IdPs' sign-in and logout services.

    The Content-Security-Policy's ``form-action`` must allow them (indblik.core.headers): the
    sign-out form is answered with a redirect to the IdP, and the POST binding auto-submits a
    form to it. Computed once per built configuration. Empty while the configuration cannot be
    built (then nobody can sign in either); a failed build is not retried for a minute, so a
    broker whose metadata URL is down does not slow every page.
    """
    global _origins_failed_at
    cached = _cached
    if cached is None:
        if time.monotonic() - _origins_failed_at < RETRY_SECONDS:
            return ()
        try:
            config = config_loader()
        except Exception:
            _origins_failed_at = time.monotonic()
            return ()
    else:
        config = cached[1]
    origins = getattr(config, "_indblik_idp_origins", None)
    if origins is None:
        found: set[str] = set()
        for idp in available_idps(config):
            for url in _service_locations(config, idp):
                parts = urlsplit(url)
                if parts.scheme in ("https", "http") and parts.netloc:
                    found.add(f"{parts.scheme}://{parts.netloc}")
        origins = tuple(sorted(found))
        config._indblik_idp_origins = origins
    return tuple(origins)


def _service_locations(config: SPConfig, idp: str) -> list[str]:
    """Return the locations of the IdP's sign-in and logout services, any binding."""
    locations: list[str] = []
    # Asked per metadata source: the store's own lookup logs an error for every binding or
    # service an IdP does not offer.
    for source in config.metadata.metadata.values():
        for service in ("single_sign_on_service", "single_logout_service"):
            by_binding = source.service(idp, "idpsso_descriptor", service) or {}
            for services in by_binding.values():
                locations.extend(str(item.get("location", "")) for item in services)
    return locations


def reset_cache() -> None:
    """Forget the built configuration (settings changed, keys rotated, tests)."""
    global _cached, _origins_failed_at
    with _lock:
        _cached = None
        _origins_failed_at = -float(RETRY_SECONDS)
    from indblik.identity.demo_idp import server as demo_idp

    demo_idp.reset_cache()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(("INDBLIK_SAML_", "INDBLIK_BASE_URL")):
        reset_cache()


class _XmlSec1(CryptoBackendXmlSec1):
    """pysaml2's xmlsec1 backend, asking for xmlsec1's version once instead of before every
    operation (five extra processes per response otherwise)."""

    @functools.cached_property
    def version(self) -> str:
        """Return xmlsec1's version (cached for the process)."""
        return str(super().version)


def client(
    config: SPConfig | None = None,
    *,
    identity_cache: Any = None,
    state_cache: Any = None,
) -> Saml2Client:
    """Return a pysaml2 client on the cached configuration (djangosaml2's binding override).

    Building a client loads the SP's private key (``security_context``): with RSA 3072 that
    alone costs ~200 ms, because the key is validated on load. So one client is built per
    configuration and each request gets a shallow copy with its own per-browser caches; the
    shared parts (configuration, metadata, security context) are read-only while serving.
    """
    config = config or config_loader()
    base = getattr(config, "_indblik_client", None)
    if base is None:
        with _client_lock:
            base = getattr(config, "_indblik_client", None)
            if base is None:
                base = Saml2Client(config)
                base.sec.crypto = _XmlSec1(
                    settings.INDBLIK_SAML_XMLSEC_BINARY, delete_tmpfiles=True
                )
                config._indblik_client = base
    fresh = copy.copy(base)
    fresh.users = Population(identity_cache)
    fresh.state = state_cache if state_cache is not None else {}
    fresh.lock = threading.Lock()
    return fresh


def idp_entity_id(config: SPConfig) -> str:
    """Return the entity id of the IdP to send users to.

    ``INDBLIK_SAML_IDP_ENTITY_ID`` when set, else the only IdP in the metadata; several IdPs
    without a choice is a configuration error rather than a guess.
    """
    idps = sorted(available_idps(config))
    chosen = settings.INDBLIK_SAML_IDP_ENTITY_ID
    if chosen:
        if chosen not in idps:
            raise ImproperlyConfigured(f"INDBLIK_SAML_IDP_ENTITY_ID {chosen} is not in metadata")
        return str(chosen)
    if len(idps) != 1:
        raise ImproperlyConfigured(
            f"the metadata names {len(idps)} identity providers: set INDBLIK_SAML_IDP_ENTITY_ID"
        )
    return str(idps[0])


def sp_metadata_xml() -> str:
    """Return the SP's metadata document (what the broker is given at onboarding).

    pysaml2 advertises every algorithm xmlsec1 knows (MD5 and SHA-1 included); the list is
    replaced by the ones the ACS accepts, so the broker is never invited to use a weak one.
    """
    config = SPConfig()
    config.load(sp_settings(with_metadata=False))
    descriptor = entity_descriptor(config)
    extensions = md.Extensions()
    for digest in acceptance.DIGEST_ALGORITHMS:
        extensions.add_extension_element(algsupport.DigestMethod(algorithm=digest))
    for method in acceptance.SIGNATURE_ALGORITHMS:
        extensions.add_extension_element(algsupport.SigningMethod(algorithm=method))
    descriptor.extensions = extensions
    return str(descriptor)


class SamlSessionMiddleware(_DjangoSamlSessionMiddleware):
    """djangosaml2's SAML session cookie, and the start-up check of the SP configuration.

    Django builds the middleware chain when the web server loads the application (not for
    management commands), so in production a server whose SAML keys or metadata are missing
    refuses to start here instead of failing at the first sign-in.
    """

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if settings.PRODUCTION:
            problems = configuration_problems()
            if problems:
                raise ImproperlyConfigured("SAML: " + "; ".join(problems))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Save the SAML session like djangosaml2 does (kept for the type checker)."""
        result: HttpResponse = super().process_response(request, response)
        return result
