"""Session policy: idle and absolute timeouts, no caching of signed-in pages, clean sign-out.

A session ends after ``INDBLIK_SESSION_IDLE_MINUTES`` without a request and, whatever the
activity, ``INDBLIK_SESSION_MAX_HOURS`` after sign-in. Pages shown to a signed-in user are
never stored by the browser (``Cache-Control: no-store``), so Back after sign-out or expiry
shows nothing; sign-out also tells the browser to drop cache, cookies and storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from indblik import audit
from indblik.identity.models import UserSession

logger = logging.getLogger("indblik.identity")

LOGIN_AT = "indblik_login_at"
LAST_SEEN = "indblik_last_seen"
# The idle clock is written at most this often: a session write per page would cost every page
# a database write. The idle timeout can then end a session up to this much early.
LAST_SEEN_RESOLUTION_SECONDS = 30
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


def signed_out(response: HttpResponse) -> HttpResponse:
    """Mark ``response`` as the end of a session: browser data cleared, nothing cached."""
    response["Clear-Site-Data"] = CLEAR_SITE_DATA
    add_never_cache_headers(response)
    return response


def allow_same_origin_posts(response: HttpResponse) -> HttpResponse:
    """Let the browser send ``Origin`` with the POST forms of ``response`` (CSRF needs it).

    Under the project-wide ``Referrer-Policy: no-referrer``, Chromium sends ``Origin: null``
    with every form POST, and Django's CSRF check refuses that. ``same-origin`` still sends
    nothing to other sites. A page that renders a CSRF token gets it without asking
    (indblik.core.headers); this is for the rest. (SecurityMiddleware keeps a view's policy.)
    """
    response["Referrer-Policy"] = "same-origin"
    return response


def record_session_end(request: HttpRequest, action: audit.Action, details: dict[str, str]) -> None:
    """Audit the end of a session; if the log cannot be written, end the session anyway.

    Unlike a page read (which fails closed), ending a session is the safe direction: refusing
    to sign someone out because the log is down would leave the session open.
    """
    try:
        audit.record(request, action, details=details)
    except audit.AuditWriteError:
        logger.error("%s of user %s could not be audited", action, request.user.pk)


def expiry_reason(session: Any, now: float | None = None) -> str:
    """Return ``"idle"``, ``"absolute"`` or ``""`` for a signed-in session."""
    now = time.time() if now is None else now
    login_at = session.get(LOGIN_AT)
    last_seen = session.get(LAST_SEEN)
    # A signed-in session without our stamps did not come through a login we saw: end it.
    if not isinstance(login_at, int | float) or not isinstance(last_seen, int | float):
        return "unstamped"
    if now - login_at >= settings.INDBLIK_SESSION_MAX_HOURS * 3600:
        return "absolute"
    if now - last_seen >= settings.INDBLIK_SESSION_IDLE_MINUTES * 60:
        return "idle"
    return ""


class SessionPolicyMiddleware:
    """End sessions past their idle or absolute limit; keep signed-in pages out of caches.

    Sits right after AuthenticationMiddleware, before anything that acts on the user (the
    organisation's network allowlist, the views), so an expired session is never used.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            reason = expiry_reason(request.session)
            if reason:
                return self._expire(request, reason)
            now = time.time()
            last_seen = request.session.get(LAST_SEEN)
            if not isinstance(last_seen, int | float) or (
                now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS
            ):
                request.session[LAST_SEEN] = now
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response

    def _expire(self, request: HttpRequest, reason: str) -> HttpResponse:
        record_session_end(request, audit.Action.SESSION_EXPIRED, {"reason": reason})
        auth.logout(request)
        return signed_out(HttpResponseRedirect(reverse("identity:session-expired")))


def _on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """Stamp the session's clock and index the session by user (any kind of login)."""
    now = time.time()
    request.session[LOGIN_AT] = now
    request.session[LAST_SEEN] = now
    if request.session.session_key is None:
        request.session.save()
    saml_session = getattr(request, "saml_session", None)
    saml_key = getattr(saml_session, "session_key", None) or ""
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={"user": user, "saml_session_key": saml_key},
    )


def _on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()


def connect_signals() -> None:
    """Connect the login/logout receivers (called once from the app config)."""
    user_logged_in.connect(_on_login, dispatch_uid="indblik.identity.sessions.login")
    user_logged_out.connect(_on_logout, dispatch_uid="indblik.identity.sessions.logout")
