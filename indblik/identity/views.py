"""The SAML service provider's endpoints, on top of djangosaml2's views.

djangosaml2 provides the plumbing (SAML session, pysaml2 client, caches); these subclasses
replace the request handling where Indblik needs stricter rules: the ACS checks every
acceptance rule itself (see :mod:`indblik.identity.acceptance`) and answers any failure with
a refusal page, never a server error; logout is POST-only and ends the local session first;
IdP-initiated logout requests must be signed by the IdP.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from typing import Any

import saml2
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from django.views.generic import View
from djangosaml2 import views as djangosaml2_views
from djangosaml2.cache import IdentityCache, StateCache
from djangosaml2.utils import get_location
from saml2.response import (
    StatusAuthnFailed,
    StatusError,
    StatusNoAuthnContext,
    StatusRequestDenied,
    UnsolicitedResponse,
)
from saml2.sigver import CertificateError, MissingKey, SignatureError
from saml2.validate import ResponseLifetimeExceed, ToEarly
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from indblik import audit
from indblik.audit.middleware import unavailable_response
from indblik.audit.sanitize import clean_text
from indblik.identity import (
    acceptance,
    attributes,
    outstanding,
    reauth,
    replay,
    saml,
    sessions,
    slo,
)
from indblik.identity.acceptance import Refusal
from indblik.identity.audit_actor import actor_for_user
from indblik.identity.models import User
from indblik.identity.users import LoginRefused, deactivate

logger = logging.getLogger("indblik.identity")

# What the refusal page says, by reason code. Technical reasons share one message: telling an
# attacker which check failed helps nobody else.
MESSAGES = {
    "unsolicited": _(
        "The sign-in was not started from this browser, or it took too long. "
        "Please start again from Indblik."
    ),
    "loa": _(
        "Your sign-in does not have a high enough level of assurance. Indblik requires "
        "NSIS level Substantial or High."
    ),
    "role-missing": _(
        "You do not have the role that gives access to Indblik for your organisation. Ask "
        "your organisation's user administrator to give you the role."
    ),
    "organisation-unknown": _("Your organisation is not connected to Indblik."),
    "organisation-not-live": _(
        "Your organisation is being connected to Indblik, but it is not live yet."
    ),
    "organisation-suspended": _("Your organisation's access to Indblik is suspended."),
    "privileges": _(
        "The roles sent by your organisation's identity provider could not be read. Please "
        "contact your organisation's IT support."
    ),
    "attributes": _(
        "The identity provider did not send the information Indblik needs about you. "
        "Please contact your organisation's IT support."
    ),
    "idp-status": _("The sign-in was cancelled or refused at the identity provider."),
    "authorisation-revoked": _(
        "According to the register of authorised health personnel, your authorisation has "
        "been revoked, so you cannot use Indblik. Please contact your manager."
    ),
    "authorisation-restricted": _(
        "According to the register of authorised health personnel, your authorisation is "
        "restricted, so you cannot use Indblik. Please contact your manager."
    ),
    "user-deactivated": _(
        "Your user in Indblik has been deactivated. Please contact your organisation's "
        "user administrator."
    ),
}
GENERIC_MESSAGE = _(
    "The answer from the identity provider could not be accepted. Please try again; if it "
    "keeps happening, contact support and quote the reference below."
)


def refusal_response(
    request: HttpRequest,
    refusal: Refusal,
    *,
    actor: audit.Actor | None = None,
    organisation_cvr: str = "",
) -> HttpResponse:
    """Audit a refused sign-in and answer with the refusal page (403, never cached)."""
    # The detail may quote attacker-controlled XML (algorithm URIs): one clean line only.
    logger.warning("sign-in refused: %s %s", refusal.reason, clean_text(refusal.detail, 200))
    try:
        event = audit.record(
            request,
            audit.Action.LOGIN_REFUSED,
            outcome=audit.Outcome.REFUSED,
            actor=actor,
            organisation_cvr=organisation_cvr,
            details={"reason": refusal.reason},
        )
    except audit.AuditWriteError:
        return unavailable_response(request)
    context = {
        "message": MESSAGES.get(refusal.reason, GENERIC_MESSAGE),
        "reason": refusal.reason,
        "reference": event.pk,
    }
    response = render(request, "identity/refused.html", context, status=403)
    add_never_cache_headers(response)
    return response


def unavailable(request: HttpRequest) -> HttpResponse:
    """Answer 503 when sign-in cannot work (configuration or metadata missing)."""
    response = render(request, "identity/unavailable.html", status=503)
    add_never_cache_headers(response)
    return response


def _safe_next(request: HttpRequest) -> str:
    candidate = request.GET.get("next", "")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


class LoginView(djangosaml2_views.LoginView):
    """Send the browser to the broker with a signed AuthnRequest (HTTP-Redirect).

    The request asks for a persistent NameID and at least NSIS Substantial; its id is kept
    in this browser's SAML session with the IdP asked and the page to return to, so no
    RelayState needs to be trusted when the answer comes back.
    """

    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Start a sign-in (or go straight on if already signed in)."""
        next_url = _safe_next(request)
        if request.user.is_authenticated:
            return HttpResponseRedirect(next_url)
        try:
            config = self.get_sp_config(request)
            idp = saml.idp_entity_id(config)
            request_id, info = saml.client(config).prepare_for_authenticate(
                entityid=idp,
                binding=saml2.BINDING_HTTP_REDIRECT,
                sign=True,
                sigalg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
            )
        except Exception:
            logger.exception("cannot start a SAML sign-in")
            return unavailable(request)
        outstanding.add(
            request.saml_session,  # type: ignore[attr-defined]
            request_id=request_id,
            idp=idp,
            next_url=next_url,
        )
        response = HttpResponseRedirect(get_location(info))
        add_never_cache_headers(response)
        return response


@method_decorator(csrf_exempt, name="dispatch")
class AssertionConsumerServiceView(djangosaml2_views.AssertionConsumerServiceView):
    """Accept the broker's answer (HTTP-POST) only if every acceptance rule holds.

    Any failure, expected or not, is audited and answered with the refusal page: the ACS
    never answers 500, whatever is posted to it.
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Consume a SAMLResponse."""
        try:
            return self._consume(request)
        except Refusal as refusal:
            return refusal_response(request, refusal)
        except audit.AuditWriteError:
            return unavailable_response(request)
        except Exception:
            logger.exception("unexpected error while consuming a SAML response")
            return refusal_response(request, Refusal("error"))

    def _consume(self, request: HttpRequest) -> HttpResponse:
        saml_session = request.saml_session  # type: ignore[attr-defined]
        encoded = request.POST.get("SAMLResponse", "")
        if not encoded:
            raise Refusal("malformed", "no SAMLResponse")
        # Order matters: the cheap structural checks on the raw bytes run before pysaml2 (and
        # xmlsec1) see anything, and nothing signature-related runs for a response that no
        # request of this browser is waiting for.
        facts = acceptance.inspect_raw(acceptance.decode(encoded))
        pending = outstanding.find(saml_session, facts.in_response_to)
        if pending is None:
            raise Refusal("unsolicited")
        if facts.destination != saml.acs_url():
            raise Refusal("destination")
        if facts.issuer != pending.idp:
            raise Refusal("issuer")
        if settings.INDBLIK_SAML_REQUIRE_ENCRYPTION and not facts.encrypted:
            raise Refusal("not-encrypted")

        config = self.get_sp_config(request)
        client = saml.client(config, identity_cache=IdentityCache(saml_session))
        response = _parse(client, encoded, pending)
        acceptance.inspect_decrypted(response.xmlstr)
        accepted = acceptance.check_assertion(
            response,
            expected_issuer=pending.idp,
            request_id=pending.request_id,
            acs_url=saml.acs_url(),
            audience=saml.entity_id(),
            requested_at=pending.at,
            now=timezone.now(),
            skew=datetime.timedelta(seconds=settings.INDBLIK_SAML_CLOCK_SKEW_SECONDS),
        )
        # Remembered only once verified (nobody can fill the cache with made-up ids), and
        # before anything else happens: two workers racing with one response cannot both win.
        if not replay.remember(accepted.assertion_id, accepted.remember_until):
            raise Refusal("replay")
        outstanding.consume(saml_session, pending.request_id)
        # A new SAML session id too (auth.login renews the main one): nothing an attacker
        # planted before the sign-in stays attached to the signed-in person.
        saml_session.cycle_key()

        # An AttributeProblem is a Refusal: it reaches the same refusal page.
        identity = attributes.identity_from(
            attributes.attribute_values(response.assertion), name_id=accepted.name_id
        )
        return self._sign_in(request, identity, response, pending.next_url)

    def _sign_in(
        self,
        request: HttpRequest,
        identity: attributes.BrokerIdentity,
        response: Any,
        next_url: str,
    ) -> HttpResponse:
        try:
            # The user row and the login's audit row commit together: a login that cannot be
            # audited leaves no trace and no session.
            with transaction.atomic():
                user = auth.authenticate(request, broker_identity=identity)
                if not isinstance(user, User):
                    raise Refusal("error", "no backend accepted the identity")
                audit.record(
                    request,
                    audit.Action.LOGIN,
                    actor=actor_for_user(user),
                    details={"loa": identity.loa, "kind": identity.kind},
                )
        except LoginRefused as refused:
            actor = None
            if refused.user is not None:
                if refused.deactivate and refused.user.is_active:
                    deactivate(refused.user, reason=refused.reason, request=request)
                actor = actor_for_user(refused.user)
            return refusal_response(
                request, Refusal(refused.reason), actor=actor, organisation_cvr=identity.cvr
            )
        # auth.login gives the browser a new session id (no fixation), and the login signal
        # indexes the session by user so that deactivation can end it.
        auth.login(request, user)
        # When the person proved who they are at the broker (not now, if it reused its own
        # single sign-on session): sensitive admin changes need that to be recent.
        reauth.record_broker_authentication(request, response)
        djangosaml2_views._set_subject_id(
            request.saml_session,  # type: ignore[attr-defined]
            response.name_id,
        )
        redirect = HttpResponseRedirect(next_url)
        add_never_cache_headers(redirect)
        return redirect


def _parse(client: Any, encoded: str, pending: outstanding.Outstanding) -> Any:
    """Let pysaml2 verify and decrypt; translate its exceptions into refusal reasons."""
    try:
        response = client.parse_authn_request_response(
            encoded,
            saml2.BINDING_HTTP_POST,
            {pending.request_id: pending.next_url},
            conv_info={"entity_id": saml.entity_id()},
        )
    except (StatusAuthnFailed, StatusRequestDenied, StatusNoAuthnContext, StatusError) as exc:
        raise Refusal("idp-status", str(exc)[:200]) from None
    except (SignatureError, MissingKey, CertificateError) as exc:
        raise Refusal("signature", type(exc).__name__) from None
    except ResponseLifetimeExceed:
        raise Refusal("expired") from None
    except ToEarly:
        raise Refusal("not-yet-valid") from None
    except UnsolicitedResponse:
        raise Refusal("unsolicited") from None
    except Exception as exc:
        raise Refusal(_classify(exc), f"{type(exc).__name__}: {exc}"[:200]) from None
    if response is None:
        raise Refusal("invalid", "pysaml2 returned no response")
    return response


# pysaml2 reports several failed checks with a plain Exception or VerificationError; its
# message is the only way to tell them apart for the audit log. Anything unrecognised is
# still refused, as "invalid".
_PYSAML2_MESSAGES = (
    ("recipient", "recipient"),
    ("audiencerestriction", "audience"),
    ("came from", "unsolicited"),
    ("combination of session id", "unsolicited"),
)


def _classify(exc: Exception) -> str:
    text = str(exc).lower()
    return next((reason for needle, reason in _PYSAML2_MESSAGES if needle in text), "invalid")


class LogoutView(djangosaml2_views.SPConfigMixin, View):
    """Sign out (POST with CSRF token): end the local session, then tell the broker.

    The local session ends first and unconditionally: whether or not the broker answers,
    Indblik is signed out. (djangosaml2's LogoutInitView is a GET, which any page could
    trigger; this one is not.)
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Sign the user out here and at the broker (single logout)."""
        if not request.user.is_authenticated:
            return sessions.signed_out(HttpResponseRedirect(reverse("identity:logged-out")))
        sessions.record_session_end(request, audit.Action.LOGOUT, {"initiated_by": "user"})
        saml_session = request.saml_session  # type: ignore[attr-defined]
        subject_id = djangosaml2_views._get_subject_id(saml_session)
        location = None
        if subject_id is not None:
            try:
                state = StateCache(saml_session)
                client = saml.client(
                    self.get_sp_config(request),
                    state_cache=state,
                    identity_cache=IdentityCache(saml_session),
                )
                result = client.global_logout(subject_id, sign=True, sign_alg=SIG_RSA_SHA256)
                state.sync()
                for info in result.values():
                    if isinstance(info, tuple) and info[0] == saml2.BINDING_HTTP_REDIRECT:
                        location = get_location(info[1])
                        break
            except Exception:
                logger.exception("single logout at the IdP could not be started")
        auth.logout(request)
        target = location or reverse("identity:logged-out")
        return sessions.signed_out(HttpResponseRedirect(target))


@method_decorator(csrf_exempt, name="dispatch")
class SingleLogoutServiceView(djangosaml2_views.LogoutView):
    """The broker's single logout messages (HTTP-Redirect and HTTP-POST).

    A ``LogoutResponse`` ends our SP-initiated logout. A ``LogoutRequest`` (the user signed
    out elsewhere) is obeyed only if the IdP signed it; then every session of this browser's
    SAML session ends and a signed ``LogoutResponse`` goes back to the IdP.
    """

    http_method_names = ["get", "post"]

    def do_logout_service(
        self, request: HttpRequest, data: Any, binding: str, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        """Handle one SLO message; never answer 500."""
        try:
            if "SAMLResponse" in data:
                return self._logout_response(request)
            if "SAMLRequest" in data:
                return self._logout_request(request, data, binding)
            raise Refusal("malformed", "no SAML message")
        except Refusal as refusal:
            response = render(
                request,
                "identity/refused.html",
                {"message": GENERIC_MESSAGE, "reason": refusal.reason, "reference": ""},
                status=403,
            )
            add_never_cache_headers(response)
            return response
        except audit.AuditWriteError:
            return unavailable_response(request)
        except Exception:
            logger.exception("single logout failed")
            return sessions.signed_out(HttpResponseRedirect(reverse("identity:logged-out")))

    def _logout_response(self, request: HttpRequest) -> HttpResponse:
        # Our own logout already ended the local session; whatever the IdP answers, the
        # user is signed out here, so the answer only decides nothing but the page.
        if request.user.is_authenticated:
            auth.logout(request)
        return sessions.signed_out(HttpResponseRedirect(reverse("identity:logged-out")))

    def _logout_request(self, request: HttpRequest, data: Any, binding: str) -> HttpResponse:
        saml_session = request.saml_session  # type: ignore[attr-defined]
        config = self.get_sp_config(request)
        state = StateCache(saml_session)
        client = saml.client(config, state_cache=state, identity_cache=IdentityCache(saml_session))
        message = slo.verify_logout_request(client, data, binding)
        subject_id = djangosaml2_views._get_subject_id(saml_session)
        # Only the person the IdP names is signed out: a genuine LogoutRequest for someone
        # else, replayed into this browser, must not end this browser's session.
        signed_out = slo.same_subject(message, subject_id)
        if signed_out:
            if request.user.is_authenticated:
                sessions.record_session_end(request, audit.Action.LOGOUT, {"initiated_by": "idp"})
            slo.end_sessions_of_saml_session(saml_session.session_key)
            with contextlib.suppress(KeyError):  # pysaml2's identity cache may not know it
                client.local_logout(subject_id)
            if request.user.is_authenticated:
                auth.logout(request)
        answer = slo.answer(
            client,
            message,
            signed_out=signed_out,
            binding=binding,
            relay_state=data.get("RelayState", ""),
        )
        state.sync()
        if answer.location:
            response: HttpResponse = HttpResponseRedirect(answer.location)
        else:
            response = render(
                request,
                "identity/post_form.html",
                {"action": answer.action, "fields": answer.fields},
            )
        return sessions.signed_out(response) if signed_out else response


class MetadataView(djangosaml2_views.MetadataView):
    """The SP's metadata document (give it to the broker at onboarding)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Return the metadata XML."""
        try:
            document = saml.sp_metadata_xml()
        except (ImproperlyConfigured, OSError, ValueError):
            logger.exception("cannot build the SP metadata")
            return unavailable(request)
        return HttpResponse(document, content_type="application/samlmetadata+xml")


@require_safe
def session(request: HttpRequest) -> HttpResponse:
    """Show who is signed in (as the broker asserted it) with the sign-out button."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("identity:login"))
    response = render(request, "identity/session.html", {"person": request.user})
    return sessions.allow_same_origin_posts(response)


@require_safe
def logged_out(request: HttpRequest) -> HttpResponse:
    """The page after sign-out: browser data cleared, nothing cached."""
    return sessions.signed_out(render(request, "identity/logged_out.html"))


@require_safe
def session_expired(request: HttpRequest) -> HttpResponse:
    """The page after an idle or absolute timeout."""
    return sessions.signed_out(render(request, "identity/session_expired.html"))
