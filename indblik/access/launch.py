"""The deep link from the care system: ``/launch`` verifies a launch token, binds it to the
signed-in user, asks the access policy and opens a grant for that one citizen.

1. ``/launch`` (POST form field ``launch_token``, or GET ``?launch_token=``) verifies the whole
   token before any redirect (:func:`indblik.access.tokens.verify_token`: encryption, signature
   with the organisation's registered key, audience, lifetime, replay, CPR), then checks that
   the organisation is live and the browser's address is in its allowlist.
2. The verified launch is kept in this browser's SAML session (the cookie that survives the
   broker's cross-site POST back to the ACS) and the browser goes through the sign-in, which is
   a no-op for a user who is already signed in.
3. ``/launch/resume`` binds: the signed-in user's organisation must be the token's ``org``, the
   user's persistent id its ``sub``, and the user must hold the organisation's role. Then the
   access policy decides; an allowed decision opens a grant and the browser goes to the
   citizen's snapshot at ``/chart/<handle>/``.

Every refusal is audited and answered with a plain page. A refusal about the citizen (unknown,
deceased, blocked, no treatment relationship) is one and the same 404 page: nobody learns
from it whether the citizen exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from indblik import audit
from indblik.access import grants, policy, tokens
from indblik.audit.middleware import unavailable_response
from indblik.audit.net import client_address
from indblik.core import metrics
from indblik.organisations.models import Organisation
from indblik.organisations.network import is_allowed
from indblik.records.source import AmbiguousPatient, SourceUnavailable, source

logger = logging.getLogger("indblik.access")

PENDING_KEY = "indblik_pending_launch"
# How long a verified launch waits for the sign-in to come back.
PENDING_MINUTES = 10

# What each refusal page says. Token problems share one message: telling the sender which
# check failed helps an attacker and not the nurse, whose care system must be fixed anyway.
TOKEN_MESSAGE = _(
    "The link from your care system could not be used. Open the citizen in your care system "
    "and press the Indblik button again. If it keeps happening, contact your IT support and "
    "quote the reference below."
)
MESSAGES: dict[str, Any] = {
    "missing-token": _(
        "Indblik is opened from your care system: open the citizen there and press the "
        "Indblik button."
    ),
    "expired": _(
        "The link from your care system has expired. Press the Indblik button in your care "
        "system again."
    ),
    "replayed": _(
        "This link has already been used. Press the Indblik button in your care system again "
        "to open the citizen."
    ),
    "organisation-unknown": _("Your organisation is not connected to Indblik."),
    "organisation-not-live": _("Your organisation's access to Indblik is not open."),
    "network": _(
        "Indblik cannot be used from the network you are on. Use a computer on your "
        "organisation's network."
    ),
    "launch-expired": _(
        "The sign-in took too long, or the link was opened in another browser. Press the "
        "Indblik button in your care system again."
    ),
    "wrong-user": _(
        "The link from your care system was made for another user than the one signed in to "
        "Indblik. Sign out, then press the Indblik button again."
    ),
    "organisation-mismatch": _(
        "You are signed in for another organisation than the one your care system sent. Sign "
        "out, then press the Indblik button again."
    ),
    "role-missing": _(
        "You do not have the role that gives access to Indblik for your organisation. Ask "
        "your organisation's user administrator."
    ),
    "reason-missing": _(
        "Emergency access needs a reason. Give the reason in your care system and press the "
        "Indblik button again."
    ),
    "emergency-not-allowed": _("Your organisation does not have emergency access."),
    "source-unavailable": _(
        "The hospital record could not be reached just now, so the citizen was not opened. "
        "Press the Indblik button in your care system again in a moment."
    ),
}
STATUS = {
    "organisation-unknown": 403,
    "organisation-not-live": 403,
    "network": 403,
    "wrong-user": 403,
    "organisation-mismatch": 403,
    "role-missing": 403,
    "user-inactive": 403,
    "emergency-not-allowed": 403,
    "source-unavailable": 503,
}
# Refusals about the citizen: all the same "not available" page.
NOT_AVAILABLE = {
    "patient-unknown",
    # Several citizens with the CPR number at the hospital: as good as unknown to the user
    # (saying more would tell that the citizen is there); audited with its own reason.
    "patient-ambiguous",
    "patient-deceased",
    "blocked",
    "no-treatment-relationship",
    "no-launch-context",
}


@dataclass(frozen=True)
class PendingLaunch:
    """A verified launch waiting for its user (kept in the SAML session as a dict)."""

    jti: str
    org: str
    sub: str
    patient: str
    purpose: str
    reason: str
    deadline: float

    @classmethod
    def from_claims(cls, claims: tokens.LaunchClaims) -> PendingLaunch:
        deadline = timezone.now() + dt.timedelta(minutes=PENDING_MINUTES)
        return cls(
            jti=claims.jti,
            org=claims.org,
            sub=claims.sub,
            patient=claims.patient,
            purpose=claims.purpose or policy.TREATMENT,
            reason=claims.reason or "",
            deadline=deadline.timestamp(),
        )

    @classmethod
    def load(cls, value: Any) -> PendingLaunch | None:
        if not isinstance(value, dict):
            return None
        try:
            pending = cls(**{key: value[key] for key in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None
        if (
            not isinstance(pending.deadline, int | float)
            or pending.deadline < timezone.now().timestamp()
        ):
            return None
        return pending


@csrf_exempt  # posted by the care system's page; the token itself is the proof
@require_http_methods(["GET", "POST"])
def launch(request: HttpRequest) -> HttpResponse:
    """Verify a launch token, then sign the user in (if needed) and bind it."""
    token = (request.POST if request.method == "POST" else request.GET).get("launch_token", "")
    if not token:
        return refused(request, "missing-token", stage="token")
    try:
        claims = tokens.verify_token(token)
    except tokens.LaunchRefused as refusal:
        return refused(
            request,
            refusal.reason,
            stage="token",
            organisation_cvr=getattr(refusal, "org", "") or "",
        )
    organisation = (
        Organisation.objects.prefetch_related("network_ranges").filter(cvr=claims.org).first()
    )
    if organisation is None:
        return refused(request, "organisation-unknown", stage="token", claims=claims)
    if not organisation.is_live:
        return refused(request, "organisation-not-live", stage="token", claims=claims)
    if not is_allowed(organisation, client_address(request)):
        return refused(request, "network", stage="token", claims=claims)
    try:
        audit.record(
            request,
            audit.Action.LAUNCH_ACCEPTED,
            patient_cpr=claims.patient,
            purpose=claims.purpose or policy.TREATMENT,
            reason=claims.reason or "",
            organisation_cvr=organisation.cvr,
            organisation_name=organisation.name,
            details={"stage": "token", "kid": claims.kid, "iss": claims.iss},
        )
    except audit.AuditWriteError:
        return unavailable_response(request)
    metrics.launch_outcome("token", "accepted")
    pending = PendingLaunch.from_claims(claims)
    saml_session = request.saml_session  # type: ignore[attr-defined]
    saml_session[PENDING_KEY] = asdict(pending)
    resume = reverse("access:resume")
    # Signed in already: the sign-in view sends the browser straight on to ``resume``.
    response = HttpResponseRedirect(reverse("identity:login") + "?" + urlencode({"next": resume}))
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"  # the token was in this URL for a GET launch
    return response


@require_safe
def resume(request: HttpRequest) -> HttpResponse:
    """Bind the pending launch to the signed-in user, decide, and open the grant."""
    if not request.user.is_authenticated:
        return HttpResponseRedirect(
            reverse("identity:login") + "?" + urlencode({"next": request.path})
        )
    saml_session = request.saml_session  # type: ignore[attr-defined]
    pending = PendingLaunch.load(saml_session.pop(PENDING_KEY, None))
    if pending is None:
        return refused(request, "launch-expired", stage="bind")
    user = request.user
    if getattr(user, "persistent_id", None) != pending.sub:
        return refused(request, "wrong-user", stage="bind", pending=pending)
    if getattr(user, "organisation_cvr", "") != pending.org:
        return refused(request, "organisation-mismatch", stage="bind", pending=pending)
    organisation = getattr(request, "indblik_organisation", None)
    if organisation is None or organisation.cvr != pending.org:
        # NetworkAllowlistMiddleware sets it for every live organisation's user on an
        # allowed network; without it the organisation is not usable now.
        return refused(request, "organisation-not-live", stage="bind", pending=pending)
    reader = source()
    try:
        patient = reader.find_patient(pending.patient)
        decision = policy.decide(
            user,
            organisation,
            patient,
            pending.purpose,
            reason=pending.reason,
            contextual=True,
            record_source=reader,
        )
    except SourceUnavailable as exc:
        # A live record source is down, slow or ambiguous: nothing decided, nothing opened.
        reason = "patient-ambiguous" if isinstance(exc, AmbiguousPatient) else "source-unavailable"
        return refused(request, reason, stage="decide", pending=pending)
    metrics.launch_outcome("decide", "allowed" if decision.allowed else "denied", decision.refusal)
    try:
        audit.record(
            request,
            audit.Action.ACCESS_ALLOWED if decision.allowed else audit.Action.ACCESS_DENIED,
            outcome=audit.Outcome.SUCCESS if decision.allowed else audit.Outcome.REFUSED,
            patient_cpr=pending.patient,
            purpose=decision.purpose,
            reason=pending.reason,
            decision_reasons=decision.reasons,
            organisation_cvr=organisation.cvr,
            organisation_name=organisation.name,
            details={"stage": "decide", "jti": pending.jti[:64]},
        )
        if not decision.allowed:
            return _refusal_page(request, decision.refusal, reference=None)
        grant = grants.open_grant(
            request,
            organisation=organisation,
            patient=patient,  # type: ignore[arg-type]  # allowed implies found
            decision=decision,
            reason=pending.reason,
            launch_jti=pending.jti,
        )
    except audit.AuditWriteError:
        return unavailable_response(request)
    response = HttpResponseRedirect(f"/chart/{grant.handle}/")
    add_never_cache_headers(response)
    return response


def refused(
    request: HttpRequest,
    reason: str,
    *,
    stage: str,
    claims: tokens.LaunchClaims | None = None,
    pending: PendingLaunch | None = None,
    organisation_cvr: str = "",
) -> HttpResponse:
    """Audit a refused launch and answer with the refusal page."""
    logger.warning("launch refused at %s: %s", stage, reason)
    metrics.launch_outcome(stage, "refused", reason)
    cvr = (claims.org if claims else "") or (pending.org if pending else "") or organisation_cvr
    cpr = (claims.patient if claims else "") or (pending.patient if pending else "")
    try:
        event = audit.record(
            request,
            audit.Action.LAUNCH_REFUSED,
            outcome=audit.Outcome.REFUSED,
            patient_cpr=cpr,
            organisation_cvr=cvr if cvr.isdigit() and len(cvr) == 8 else "",
            decision_reasons=[f"deny:{reason}"],
            details={"stage": stage, "reason": reason},
        )
    except audit.AuditWriteError:
        return unavailable_response(request)
    return _refusal_page(request, reason, reference=event.pk)


def _refusal_page(request: HttpRequest, reason: str, *, reference: int | None) -> HttpResponse:
    if reason in NOT_AVAILABLE:
        status, template = 404, "access/not_available.html"
        context: dict[str, Any] = {}
    else:
        status = STATUS.get(reason, 400)
        template = "access/refused.html"
        context = {
            "message": MESSAGES.get(reason, TOKEN_MESSAGE),
            "reason": reason,
            "reference": reference,
        }
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)
    # No Referrer-Policy of its own: the page may hold the sign-out form, whose POST needs a
    # real Origin; indblik.core.headers picks "same-origin" for it (nothing leaves the site).
    return response
