"""Enforce the organisation's status and network allowlist on every request of its users.

Which organisation a request acts for comes from a small hook, :func:`organisation_cvr`, so
the identity and launch apps can bind it however suits them:

1. ``request.user.organisation_cvr``, if the authenticated user object has that attribute
   and it is not empty (the identity app's user model or its session-derived user);
2. else ``request.session["indblik_org_cvr"]`` (:data:`SESSION_KEY`), set when a session is
   bound to an organisation (by launch or login).

Requests without an organisation (anonymous visitors, hospital staff in the admin) pass
untouched. A request for an organisation:

- that is not live (suspended, still onboarding, or unknown) ends the session at once (log
  out) and gets a 403 page saying access is closed;
- from an address outside the organisation's allowlist gets a 403 page; the session is kept,
  so a stolen cookie used from elsewhere cannot also be used to log the real user out.

Both refusals are audited (``organisations:access:refused``) and are refused even if the audit
write fails: a refusal shows no data. The client address is
:func:`indblik.audit.net.client_address`, which believes X-Forwarded-For only from
INDBLIK_TRUSTED_PROXIES.

Place it after AuthenticationMiddleware (it needs the session and the user) and after
LocaleMiddleware (its pages are in the user's language).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from indblik import audit
from indblik.audit import Action, Outcome
from indblik.audit.errors import AuditWriteError
from indblik.audit.net import client_address
from indblik.organisations.models import NetworkRange, Organisation, Status
from indblik.organisations.network import address_allowed

logger = logging.getLogger("indblik.organisations")

SESSION_KEY = "indblik_org_cvr"
# Signing out shows no data and must work from anywhere (a user who moved network still
# needs to end the session); health checks and static files carry no data either.
EXEMPT_PATHS = (
    "/saml2/logout/",
    "/saml2/ls/",
    "/saml2/logged-out/",
    "/saml2/session-expired/",
    "/static/",
    "/healthz",
    "/readyz",
)
USER_ATTRIBUTE = "organisation_cvr"


def organisation_cvr(request: HttpRequest) -> str:
    """Return the CVR number of the organisation the request acts for, or ``""`` if none."""
    user = getattr(request, "user", None)
    value: object = ""
    if user is not None and user.is_authenticated:
        value = getattr(user, USER_ATTRIBUTE, "") or ""
    if not value:
        session = getattr(request, "session", None)
        value = session.get(SESSION_KEY, "") if session is not None else ""
    return value.strip() if isinstance(value, str) else ""


class NetworkAllowlistMiddleware:
    """Refuse requests of a non-live organisation's users, and from outside its networks."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cvr = organisation_cvr(request)
        if not cvr or request.path.startswith(EXEMPT_PATHS):
            return self.get_response(request)
        org, cidrs = organisation_and_networks(cvr)
        if org is None or org.status != Status.LIVE:
            return self._closed(request, cvr, org)
        address = client_address(request)
        if not address_allowed(cidrs, address):
            return self._outside(request, org, address)
        # Downstream code (launch, access) can use the organisation without another query.
        request.indblik_organisation = org  # type: ignore[attr-defined]
        return self.get_response(request)

    def _closed(self, request: HttpRequest, cvr: str, org: Organisation | None) -> HttpResponse:
        """End the session of a user whose organisation is not live, and say why."""
        if org is None:
            reason = "organisation-unknown"
        elif org.status == Status.SUSPENDED:
            reason = "organisation-suspended"
        else:
            reason = "organisation-not-live"
        # Audit first: after logout the request no longer names the user.
        _audit_refusal(request, cvr, org, reason, session_ended=True)
        logout(request)
        response = render(
            request,
            "organisations/closed.html",
            {"organisation": org, "suspended": reason == "organisation-suspended"},
            status=403,
        )
        add_never_cache_headers(response)
        return response

    def _outside(self, request: HttpRequest, org: Organisation, address: object) -> HttpResponse:
        """Refuse a request from outside the organisation's networks."""
        _audit_refusal(request, org.cvr, org, "network-not-allowed", session_ended=False)
        response = render(
            request,
            "organisations/network_refused.html",
            {"organisation": org, "address": address},
            status=403,
        )
        add_never_cache_headers(response)
        return response


def organisation_and_networks(cvr: str) -> tuple[Organisation | None, list[str]]:
    """Return the organisation with this CVR number and its allowed networks, read now.

    One query (the ranges joined to their organisation) for an organisation with networks,
    which every organisation in use has; a second only for one without, which is refused
    anyway. Nothing is kept between requests: a suspension or a removed network takes effect
    on the next request.
    """
    ranges = list(
        NetworkRange.objects.filter(organisation__cvr=cvr).select_related("organisation").order_by()
    )
    if ranges:
        return ranges[0].organisation, [item.cidr for item in ranges]
    return Organisation.objects.filter(cvr=cvr).first(), []


def _audit_refusal(
    request: HttpRequest, cvr: str, org: Organisation | None, reason: str, *, session_ended: bool
) -> None:
    # A CVR from a session is data we did not validate: the audit writer refuses anything but
    # eight digits, so keep a malformed one out of the column (the reason code says enough).
    valid = len(cvr) == 8 and cvr.isascii() and cvr.isdigit()
    try:
        audit.record(
            request,
            Action.ORGANISATION_ACCESS_REFUSED,
            outcome=Outcome.REFUSED,
            organisation_cvr=cvr if valid else "",
            organisation_name=org.name if org is not None else "",
            decision_reasons=[reason],
            details={
                "method": request.method or "",
                "path": request.path,
                "session_ended": session_ended,
            },
        )
    except AuditWriteError:
        # Refuse all the same: a refusal shows no data, so it need not wait for the log (the
        # writer has already reported the failure).
        logger.warning("access refusal (%s) could not be audited", reason)
