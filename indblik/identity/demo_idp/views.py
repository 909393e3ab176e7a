"""The demo identity provider's pages: metadata, the persona page, issuing, logout.

Available only while ``INDBLIK_SAML_DEMO_IDP`` is on (demo and test mode; production refuses
to start with it). The AuthnRequest is verified (signature included) when it arrives and
again when a persona is chosen, because the second step only carries a handle.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import saml2
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST, require_safe
from djangosaml2.utils import get_location
from saml2.xmldsig import SIG_RSA_SHA256

from indblik.identity import sessions
from indblik.identity.demo_idp import personas, server

logger = logging.getLogger("indblik.identity.demo_idp")

PENDING = "demo_idp_pending"
MAX_PENDING = 5


def _enabled() -> None:
    if not settings.INDBLIK_SAML_DEMO_IDP:
        raise Http404


def _parse_request(params: dict[str, str]) -> Any:
    return server.server().parse_authn_request(
        params["SAMLRequest"],
        saml2.BINDING_HTTP_REDIRECT,
        relay_state=params.get("RelayState"),
        sigalg=params.get("SigAlg"),
        signature=params.get("Signature"),
    )


@require_safe
def metadata(request: HttpRequest) -> HttpResponse:
    """Return the demo IdP's metadata."""
    _enabled()
    return HttpResponse(server.metadata_xml(), content_type="application/samlmetadata+xml")


@require_safe
def sso(request: HttpRequest) -> HttpResponse:
    """Receive a signed AuthnRequest and show the persona page."""
    _enabled()
    params = {
        name: request.GET[name]
        for name in ("SAMLRequest", "RelayState", "SigAlg", "Signature")
        if name in request.GET
    }
    if "SAMLRequest" not in params:
        return _bad_request(request)
    try:
        _parse_request(params)
    except Exception:
        logger.warning("demo IdP: refused an AuthnRequest", exc_info=True)
        return _bad_request(request)
    handle = secrets.token_urlsafe(16)
    pending = dict(request.session.get(PENDING, {}))
    pending[handle] = params
    request.session[PENDING] = dict(list(pending.items())[-MAX_PENDING:])
    response = render(
        request,
        "identity/demo_idp/personas.html",
        {"handle": handle, "personas": personas.all_personas()},
    )
    add_never_cache_headers(response)
    return sessions.allow_same_origin_posts(response)


@require_POST
def issue(request: HttpRequest) -> HttpResponse:
    """Answer the pending request as the chosen persona: a signed, encrypted response."""
    _enabled()
    params = request.session.get(PENDING, {}).pop(request.POST.get("handle", ""), None)
    request.session.modified = True
    chosen = personas.persona(request.POST.get("persona", ""))
    if params is None or chosen is None:
        return _bad_request(request)
    idp = server.server()
    parsed = _parse_request(params)
    issued = server.issue(
        idp,
        parsed,
        name_id=chosen.name_id,
        attribute_values=chosen.attribute_values(),
        relay_state=params.get("RelayState", ""),
    )
    fields = {"SAMLResponse": issued.saml_response}
    if issued.relay_state:
        fields["RelayState"] = issued.relay_state
    response = render(
        request, "identity/post_form.html", {"action": issued.destination, "fields": fields}
    )
    add_never_cache_headers(response)
    return response


@require_safe
def slo(request: HttpRequest) -> HttpResponse:
    """Answer the SP's signed LogoutRequest with a signed LogoutResponse."""
    _enabled()
    if "SAMLRequest" not in request.GET:
        return _bad_request(request)
    idp = server.server()
    try:
        parsed = idp.parse_logout_request(
            request.GET["SAMLRequest"],
            saml2.BINDING_HTTP_REDIRECT,
            relay_state=request.GET.get("RelayState"),
            sigalg=request.GET.get("SigAlg"),
            signature=request.GET.get("Signature"),
        )
    except Exception:
        logger.warning("demo IdP: refused a LogoutRequest", exc_info=True)
        return _bad_request(request)
    answer = idp.create_logout_response(parsed.message, [saml2.BINDING_HTTP_REDIRECT])
    destination = idp.metadata.single_logout_service(
        parsed.message.issuer.text, saml2.BINDING_HTTP_REDIRECT, "spsso"
    )[0]["location"]
    info = idp.apply_binding(
        saml2.BINDING_HTTP_REDIRECT,
        str(answer),
        destination,
        request.GET.get("RelayState", ""),
        response=True,
        sign=True,
        sigalg=SIG_RSA_SHA256,
    )
    return HttpResponseRedirect(get_location(info))


def _bad_request(request: HttpRequest) -> HttpResponse:
    return render(request, "identity/demo_idp/bad_request.html", status=400)
