"""Re-authentication before sensitive admin changes ("sudo mode").

A hospital administrator may change the organisation registry, users and groups in
``/admin/`` only within ``INDBLIK_ADMIN_REAUTH_MINUTES`` of having authenticated. The session
remembers when that was (``AUTHENTICATED_AT``, seconds since the epoch):

- a password sign-in (local accounts, demo and test only) stamps the time of the sign-in;
- a broker sign-in stamps the assertion's ``AuthnInstant`` — when the person actually proved
  who they are at the broker, which may be long before, if the broker answered from its own
  single sign-on session;
- re-authentication stamps it anew: the password again (local accounts), or a fresh broker
  sign-in with ``ForceAuthn="true"`` (broker users), whose ``AuthnInstant`` must then be fresh.

:class:`ReauthenticationMiddleware` sends an administrator whose stamp is older to
:func:`reauthenticate` before any POST to the admin and before any admin form that could
change something; every re-authentication, successful or refused, is audited
(``identity:session:reauthenticate``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import saml2
from django import forms
from django.conf import settings
from django.contrib import admin, auth, messages
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from djangosaml2.conf import get_config
from djangosaml2.utils import get_location
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from indblik import audit
from indblik.audit.middleware import unavailable_response
from indblik.identity import outstanding, saml, sessions

logger = logging.getLogger("indblik.identity")

AUTHENTICATED_AT = "indblik_authenticated_at"
AUTHENTICATED_BY = "indblik_authenticated_by"
FAILURES = "indblik_reauth_failures"
# Wrong passwords in a row before the session is ended: the attacker at an unlocked screen
# gets a few guesses, not a brute force.
MAX_FAILURES = 5
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Admin views that never need it: signing in and out, and the JavaScript catalogue.
EXEMPT_ADMIN_VIEWS = frozenset({"login", "logout", "jsi18n"})
# Admin form pages (GET) that need it when the user may change something there, so that
# nobody fills in a form only to be sent away when saving it.
_FORM_PERMISSIONS = (
    ("_add", "has_add_permission"),
    ("_change", "has_change_permission"),  # also <app>_<model>_password_change
    ("_delete", "has_delete_permission"),
)


def _minutes() -> int:
    return int(settings.INDBLIK_ADMIN_REAUTH_MINUTES)


def stamp(request: HttpRequest, *, at: float, by: str) -> None:
    """Remember in the session that its user authenticated at ``at`` (seconds) by ``by``."""
    request.session[AUTHENTICATED_AT] = float(at)
    request.session[AUTHENTICATED_BY] = by
    request.session.pop(FAILURES, None)


def authenticated_at(request: HttpRequest) -> float | None:
    """Return when the session's user last authenticated (seconds), or None if unknown."""
    value = getattr(request, "session", {}).get(AUTHENTICATED_AT)
    return float(value) if isinstance(value, int | float) else None


def is_fresh(request: HttpRequest, *, now: float | None = None) -> bool:
    """Tell whether the session's user authenticated within INDBLIK_ADMIN_REAUTH_MINUTES."""
    at = authenticated_at(request)
    if at is None:
        return False
    now = time.time() if now is None else now
    return now - at < _minutes() * 60


def record_broker_authentication(request: HttpRequest, response: Any) -> None:
    """Stamp the session with the verified assertion's ``AuthnInstant`` (broker sign-in).

    Called by the ACS right after ``auth.login``. An instant that is missing or unreadable
    counts as long ago: the next sensitive change asks for a fresh sign-in. An instant in
    the future (clock skew) counts as now.
    """
    statements = getattr(getattr(response, "assertion", None), "authn_statement", None) or []
    instant = _instant(getattr(statements[0], "authn_instant", None)) if statements else None
    at = min(instant.timestamp(), time.time()) if instant is not None else 0.0
    stamp(request, at=at, by="broker")


def _instant(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """A sign-in is an authentication: stamp it (the ACS then corrects it to AuthnInstant)."""
    if request is not None and hasattr(request, "session"):
        stamp(request, at=time.time(), by="sign-in")


def connect_signals() -> None:
    """Connect the login receiver (called once from the app config)."""
    user_logged_in.connect(_on_login, dispatch_uid="indblik.identity.reauth.login")


# --- the guard ----------------------------------------------------------------------------


def needs_reauthentication(request: HttpRequest, view_func: Callable[..., Any]) -> bool:
    """Tell whether this admin request changes (or offers to change) something."""
    match = request.resolver_match
    if match is None or "admin" not in match.namespaces:
        return False
    if match.url_name in EXEMPT_ADMIN_VIEWS:
        return False
    if request.method not in SAFE_METHODS:
        return True
    name = match.url_name or ""
    model_admin = getattr(view_func, "model_admin", None)
    for suffix, permission in _FORM_PERMISSIONS:
        if name.endswith(suffix) and model_admin is not None:
            return bool(getattr(model_admin, permission)(request))
    return name == "password_change"  # the site's own password change form


class ReauthenticationMiddleware:
    """Send a staff user who authenticated too long ago to re-authenticate first.

    Applies to ``/admin/`` only: any POST (a save, an action, a deletion) and the GET of a
    form the user could save. A refused POST is not carried out; the user comes back to the
    page and submits again. Belongs after AuthenticationMiddleware (it reads the session and
    the user) and before the views.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return None  # the admin itself asks anonymous and non-staff users to sign in
        if not needs_reauthentication(request, view_func) or is_fresh(request):
            return None
        back = request.get_full_path() if request.method in SAFE_METHODS else request.path
        if request.method not in SAFE_METHODS:
            messages.warning(
                request,
                _("Nothing was saved: confirm who you are first, then make the change again."),
            )
        target = reverse("identity:reauthenticate") + "?" + urlencode({"next": back})
        response = HttpResponseRedirect(target)
        add_never_cache_headers(response)
        return response


# --- the pages ----------------------------------------------------------------------------


class PasswordForm(forms.Form):
    """The password of the signed-in local account, once more."""

    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


def _safe_next(request: HttpRequest, value: str) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return resolve_url("admin:index")


def _is_broker_user(user: Any) -> bool:
    return bool(getattr(user, "persistent_id", None))


def _page(request: HttpRequest, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    full = {
        **admin.site.each_context(request),
        "title": _("Confirm who you are"),
        "minutes": _minutes(),
        **context,
    }
    response = render(request, "identity/reauthenticate.html", full, status=status)
    add_never_cache_headers(response)
    return sessions.allow_same_origin_posts(response)


def _audit(request: HttpRequest, *, method: str, refused: str = "") -> None:
    details = {"method": method, "minutes": _minutes()}
    if refused:
        details["reason"] = refused
    audit.record(
        request,
        audit.Action.REAUTHENTICATE,
        outcome=audit.Outcome.REFUSED if refused else audit.Outcome.SUCCESS,
        details=details,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def reauthenticate(request: HttpRequest) -> HttpResponse:
    """Ask the signed-in user to prove who they are again: password, or the broker."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    broker = _is_broker_user(request.user)
    usable = broker or request.user.has_usable_password()
    form = PasswordForm(request.POST if request.method == "POST" and not broker else None)
    context = {"next_url": next_url, "broker": broker, "usable": usable, "form": form}
    if request.method != "POST" or broker or not usable:
        return _page(request, context)
    if not form.is_valid():
        return _page(request, context, status=400)
    try:
        return _check_password(request, form.cleaned_data["password"], next_url, context)
    except audit.AuditWriteError:
        return unavailable_response(request)


def _check_password(
    request: HttpRequest, password: str, next_url: str, context: dict[str, Any]
) -> HttpResponse:
    user = request.user
    # Through the configured backends: in production there is no password backend at all.
    checked = auth.authenticate(request, username=user.get_username(), password=password)
    if checked is not None and checked.pk == user.pk:
        _audit(request, method="password")
        stamp(request, at=time.time(), by="password")
        return HttpResponseRedirect(next_url)
    failures = int(request.session.get(FAILURES, 0)) + 1
    request.session[FAILURES] = failures
    if failures >= MAX_FAILURES:
        _audit(request, method="password", refused="too-many-attempts")
        sessions.record_session_end(
            request, audit.Action.LOGOUT, {"initiated_by": "reauthentication"}
        )
        auth.logout(request)
        return sessions.signed_out(HttpResponseRedirect(reverse("identity:logged-out")))
    _audit(request, method="password", refused="wrong-password")
    context["error"] = _("That password is not right.")
    return _page(request, context, status=400)


@never_cache
@require_safe
def reauthenticate_at_broker(request: HttpRequest) -> HttpResponse:
    """Send a broker user to the broker with ``ForceAuthn``: a sign-in, not a session reuse."""
    if not request.user.is_authenticated or not _is_broker_user(request.user):
        return HttpResponseRedirect(reverse("identity:reauthenticate"))
    next_url = _safe_next(request, request.GET.get("next", ""))
    try:
        config = get_config(request=request)
        idp = saml.idp_entity_id(config)
        request_id, info = saml.client(config).prepare_for_authenticate(
            entityid=idp,
            binding=saml2.BINDING_HTTP_REDIRECT,
            sign=True,
            sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            force_authn="true",
        )
    except Exception:
        logger.exception("cannot start a SAML re-authentication")
        return render(request, "identity/unavailable.html", status=503)
    done = reverse("identity:reauthenticate-done") + "?" + urlencode({"next": next_url})
    outstanding.add(
        request.saml_session,  # type: ignore[attr-defined]
        request_id=request_id,
        idp=idp,
        next_url=done,
    )
    response = HttpResponseRedirect(get_location(info))
    add_never_cache_headers(response)
    return response


@never_cache
@require_safe
def reauthenticated(request: HttpRequest) -> HttpResponse:
    """Where the broker's answer to a re-authentication lands: fresh enough, or not?"""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
    next_url = _safe_next(request, request.GET.get("next", ""))
    try:
        if is_fresh(request) and request.session.get(AUTHENTICATED_BY) == "broker":
            _audit(request, method="broker")
            return HttpResponseRedirect(next_url)
        # The broker answered from an old single sign-on session, ignoring ForceAuthn.
        _audit(request, method="broker", refused="authn-instant-too-old")
    except audit.AuditWriteError:
        return unavailable_response(request)
    context = {
        "next_url": next_url,
        "broker": True,
        "usable": True,
        "form": None,
        "error": _(
            "The identity provider did not ask you to sign in again. Sign out of the identity "
            "provider, or contact support."
        ),
    }
    return _page(request, context, status=403)
