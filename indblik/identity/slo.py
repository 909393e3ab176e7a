"""Single logout: who may end a session from outside, and which sessions end.

pysaml2 obeys an unsigned LogoutRequest when it arrives at a service provider (its
"requests must be signed" switch exists only for identity providers), so the signature is
checked here: over the query string for HTTP-Redirect, enveloped for HTTP-POST, always with
a key from the IdP's metadata and an allowed algorithm.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import saml2
from django.conf import settings
from saml2 import samlp
from saml2.sigver import verify_redirect_signature

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
