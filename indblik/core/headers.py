"""The browser protections of every response, in one place: CSP, referrer, isolation, caching.

Settings hold the values (``CONTENT_SECURITY_POLICY``, ``SECURE_*``,
``INDBLIK_PERMISSIONS_POLICY``); these two middlewares apply them. Django's SecurityMiddleware
adds HSTS, ``nosniff``, COOP and the default ``Referrer-Policy``; XFrameOptionsMiddleware adds
``X-Frame-Options: DENY`` for old browsers. See docs/security-model.md, "Browser protections".

- :class:`ContentSecurityPolicyMiddleware` is django-csp's middleware with a nonce on every
  response and the identity provider's origins added to ``form-action``.
- :class:`SecurityHeadersMiddleware` adds CORP and Permissions-Policy, chooses the referrer
  policy (``same-origin`` on a page that rendered a CSRF token, ``no-referrer`` elsewhere) and
  keeps every page shown to a signed-in user out of caches.
"""

from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import add_never_cache_headers

# The policy for pages with a POST form. Under ``no-referrer`` Chromium sends ``Origin: null``
# with a same-origin form POST and Django's CSRF check refuses it; ``same-origin`` sends the
# real origin to us and still nothing to any other site.
FORM_REFERRER_POLICY = "same-origin"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's CSP header, with a fresh nonce on every response and the IdP in form-action.

    django-csp adds ``'nonce-…'`` only when a template used ``request.csp_nonce``; making one
    always keeps the policy the same shape on every page (and an inline script added later
    fails loudly unless it carries the nonce). A response that has its own
    ``Content-Security-Policy`` (a document from the chart, sandboxed) keeps it: django-csp
    never overwrites a header that is already there. ``@csp_exempt()`` is not used there on
    purpose: it would also strip the policy from that view's HTML error pages.
    """

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        self._make_nonce(request)

    def get_policy_parts(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        report_only: bool = False,
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origins = _identity_provider_origins()
        if origins and not report_only:
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), *origins]
            parts.update = update
        return parts


def _identity_provider_origins() -> tuple[str, ...]:
    # The sign-out form is answered with a redirect to the broker, and the SAML POST binding
    # auto-submits forms to it: Chromium checks form-action on the target and every redirect.
    from indblik.identity import saml

    return saml.idp_origins()


class SecurityHeadersMiddleware:
    """Add CORP and Permissions-Policy, pick the referrer policy, and never cache a user's page.

    Sits just inside SecurityMiddleware so that it sees every response, including the pages of
    the session and organisation middlewares and the CSRF cookie that CsrfViewMiddleware set.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.setdefault("Permissions-Policy", settings.INDBLIK_PERMISSIONS_POLICY)
        if not getattr(response, "xframe_options_exempt", False):
            # What XFrameOptionsMiddleware gives a view's page, for what never reaches it
            # (static files, pages of the outer middlewares).
            response.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        if "Referrer-Policy" not in response and rendered_a_csrf_token(request, response):
            response["Referrer-Policy"] = FORM_REFERRER_POLICY
        # SessionPolicyMiddleware does this for the pages it wraps; a page answered before it
        # (or by an inner middleware after the user was signed out) is covered here too.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


def rendered_a_csrf_token(request: HttpRequest, response: HttpResponse) -> bool:
    """Tell whether the response carries a CSRF token (so a POST form or a script may post).

    ``get_token`` (``{% csrf_token %}``) flags the request; CsrfViewMiddleware then sends the
    cookie and clears the flag, so from outside it the cookie on the response is the sign.
    """
    return bool(request.META.get("CSRF_COOKIE_NEEDS_UPDATE")) or (
        settings.CSRF_COOKIE_NAME in response.cookies
    )
