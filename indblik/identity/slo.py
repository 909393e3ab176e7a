"""Single logout: who may end a session from outside, and which sessions end.

pysaml2 obeys an unsigned LogoutRequest when it arrives at a service provider (its
"requests must be signed" switch exists only for identity providers), so the signature is
checked here: over the query string for HTTP-Redirect, enveloped for HTTP-POST, always with
a key from the IdP's metadata and an allowed algorithm.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import saml2
from django.conf import settings
from djangosaml2.utils import get_location
from saml2 import samlp
from saml2.s_utils import status_message_factory, success_status_factory
from saml2.samlp import STATUS_UNKNOWN_PRINCIPAL
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from indblik.identity.acceptance import SIGNATURE_ALGORITHMS, Refusal
from indblik.identity.models import UserSession


def verify_logout_request(client: Any, data: Any, binding: str) -> Any:
    """Return the LogoutRequest in ``data``; raise Refusal unless a trusted IdP signed it."""
    try:
        xml = client.unravel(data["SAMLRequest"], binding, "logout_request")
        message = samlp.logout_request_from_string(xml)
    except Exception:
        raise Refusal("malformed", "unreadable LogoutRequest") from None
    if message is None or message.issuer is None:
        raise Refusal("malformed", "LogoutRequest without issuer")
    issuer = (message.issuer.text or "").strip()
    certs = [cert for _name, cert in client.metadata.certs(issuer, "idpsso", "signing")]
    if not certs:
        raise Refusal("issuer", "LogoutRequest from an unknown IdP")
    if binding == saml2.BINDING_HTTP_REDIRECT:
        sigalg = data.get("SigAlg", "")
        if sigalg not in SIGNATURE_ALGORITHMS or not data.get("Signature"):
            raise Refusal("signature", "LogoutRequest not signed with an allowed algorithm")
        fields = {"SAMLRequest": data["SAMLRequest"], "SigAlg": sigalg}
        fields["Signature"] = data["Signature"]
        if "RelayState" in data:
            fields["RelayState"] = data["RelayState"]
        try:
            verified = any(
                verify_redirect_signature(fields, client.sec.sec_backend, cert) for cert in certs
            )
        except Exception:
            verified = False
        if not verified:
            raise Refusal("signature", "LogoutRequest signature does not verify")
        return message
    if message.signature is None:
        raise Refusal("signature", "LogoutRequest not signed")
    method = message.signature.signed_info.signature_method.algorithm
    if method not in SIGNATURE_ALGORITHMS:
        raise Refusal("signature-algorithm")
    try:
        client.sec.correctly_signed_logout_request(xml, must=True)
    except Exception:
        raise Refusal("signature", "LogoutRequest signature does not verify") from None
    return message


def same_subject(message: Any, subject_id: Any) -> bool:
    """Tell whether the LogoutRequest names the person this browser signed in as."""
    requested = getattr(getattr(message, "name_id", None), "text", None)
    known = getattr(subject_id, "text", None)
    return bool(requested) and requested == known


@dataclass(frozen=True)
class LogoutAnswer:
    """The signed LogoutResponse to send back: a redirect URL, or a form to POST."""

    location: str = ""
    action: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def answer(
    client: Any, message: Any, *, signed_out: bool, binding: str, relay_state: str
) -> LogoutAnswer:
    """Build the signed LogoutResponse to ``message`` in the binding it came by (else the other).

    pysaml2's ``handle_logout_request`` does the same but writes its own HTML page with an
    inline script; Indblik's POST form posts itself from a static file (strict CSP).
    """
    status = (
        success_status_factory()
        if signed_out
        else status_message_factory("Unknown principal", STATUS_UNKNOWN_PRINCIPAL)
    )
    preferred = [binding] + [
        other
        for other in (saml2.BINDING_HTTP_REDIRECT, saml2.BINDING_HTTP_POST)
        if other != binding
    ]
    for candidate in preferred:
        try:
            destination = client.response_args(message, [candidate])["destination"]
        except Exception:  # noqa: S112 - the IdP does not offer this binding: try the next
            continue
        redirect = candidate == saml2.BINDING_HTTP_REDIRECT
        response = client.create_logout_response(
            message,
            bindings=[candidate],
            status=status,
            sign=not redirect,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        if redirect:
            info = client.apply_binding(
                candidate,
                str(response),
                destination,
                relay_state,
                response=True,
                sign=True,
                sigalg=SIG_RSA_SHA256,
            )
            return LogoutAnswer(location=get_location(info))
        fields = {"SAMLResponse": base64.b64encode(str(response).encode()).decode("ascii")}
        if relay_state:
            fields["RelayState"] = relay_state
        return LogoutAnswer(action=destination, fields=fields)
    raise Refusal("invalid", "the IdP offers no single logout binding we can answer on")


def end_sessions_of_saml_session(saml_session_key: str | None) -> int:
    """Delete every Django session signed in through this SAML session; return how many."""
    if not saml_session_key:
        return 0
    store = import_module(settings.SESSION_ENGINE).SessionStore
    rows = list(UserSession.objects.filter(saml_session_key=saml_session_key))
    for row in rows:
        store(row.session_key).delete()
    UserSession.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)
