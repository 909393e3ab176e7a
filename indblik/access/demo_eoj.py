"""The care-system simulator (demo and test only): a municipal care system's Indblik button.

``/demo-eoj/`` lists the demo organisations; ``/demo-eoj/<cvr>/`` shows that organisation's
citizens from the local store, the way its care system would: a municipality its residents,
the emergency line anyone who calls, every other organisation the citizens whose records
reference it. "Åbn i Indblik" posts here (the citizen travels in the form body, never in a
URL); the simulator builds a fresh launch token with the organisation's demo key
(:mod:`indblik.access.demo`) for the chosen demo persona and answers with a page that posts it
to ``/launch`` — the same path a real care system takes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST, require_safe

from indblik.access import launch_keys, tokens
from indblik.access.demo import demo_signing_key
from indblik.identity.demo_idp.personas import Persona, all_personas
from indblik.identity.sessions import allow_same_origin_posts
from indblik.organisations.demo import DEMO_ORGANISATIONS
from indblik.organisations.models import Organisation, OrganisationType
from indblik.records.models import OrganisationReference, Patient

MAX_CITIZENS = 50
REASON_MAX_LENGTH = tokens.MAX_REASON


@dataclass(frozen=True)
class Citizen:
    """One row of the simulator's citizen list (no CPR number: the page never shows it)."""

    id: int
    name: str
    birth_date: dt.date | None
    age: int | None
    deceased: bool


def _enabled() -> None:
    if settings.PRODUCTION:
        raise Http404


def _organisation(cvr: str) -> Organisation:
    if cvr not in {spec.cvr for spec in DEMO_ORGANISATIONS}:
        raise Http404
    organisation = Organisation.objects.filter(cvr=cvr).first()
    if organisation is None:
        raise Http404
    return organisation


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """List the demo organisations, each with a link to its simulated care system."""
    _enabled()
    cvrs = [spec.cvr for spec in DEMO_ORGANISATIONS]
    organisations = sorted(
        Organisation.objects.filter(cvr__in=cvrs), key=lambda org: cvrs.index(org.cvr)
    )
    return render(request, "access/demo_eoj/index.html", {"organisations": organisations})


@require_safe
def citizens(request: HttpRequest, cvr: str) -> HttpResponse:
    """Show one organisation's citizens, each with the "Åbn i Indblik" button."""
    _enabled()
    organisation = _organisation(cvr)
    response = _citizens_page(request, organisation)
    return allow_same_origin_posts(response)


@require_POST
def open_in_indblik(request: HttpRequest, cvr: str) -> HttpResponse:
    """Build a launch token for the chosen citizen and persona; post it to ``/launch``."""
    _enabled()
    organisation = _organisation(cvr)
    persona = next(
        (p for p in personas_of(organisation) if p.key == request.POST.get("persona")), None
    )
    patient = _citizen_queryset(organisation).filter(pk=_int(request.POST.get("citizen"))).first()
    if persona is None or patient is None or not patient.cpr:
        raise Http404
    emergency = organisation.type == OrganisationType.EMERGENCY_LINE
    reason = " ".join(request.POST.get("reason", "").split())[:REASON_MAX_LENGTH]
    if emergency and not reason:
        response = _citizens_page(request, organisation, error=True, status=400)
        return allow_same_origin_posts(response)
    token = tokens.build_token(
        signing_key=demo_signing_key(organisation),
        encryption_key=launch_keys.public_jwk(launch_keys.current_key()),
        iss=f"urn:indblik:demo-eoj:{organisation.cvr}",
        aud=settings.INDBLIK_BASE_URL,
        org=organisation.cvr,
        sub=persona.persistent_id,
        patient=patient.cpr,
        purpose="emergency" if emergency else "treatment",
        reason=reason or None,
    )
    response = render(
        request,
        "access/demo_eoj/launch.html",
        {"organisation": organisation, "action": reverse("access:launch"), "token": token},
    )
    # The token is single-use and short-lived, but it is a credential: keep it out of caches.
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    return response


def personas_of(organisation: Organisation) -> list[Persona]:
    """Return the demo personas who work for ``organisation``."""
    return [p for p in all_personas() if p.organisation[0] == organisation.cvr]


def citizens_of(organisation: Organisation, *, today: dt.date | None = None) -> list[Citizen]:
    """Return up to 50 citizens the organisation's care system would have, by name."""
    day = today or timezone.localdate()
    rows = _citizen_queryset(organisation).order_by("family", "given", "pk")[:MAX_CITIZENS]
    return [
        Citizen(
            id=row.pk,
            name=row.name or "—",
            birth_date=row.birth_date,
            age=_age(row.birth_date, day) if row.birth_date else None,
            deceased=row.deceased,
        )
        for row in rows
    ]


def _citizen_queryset(organisation: Organisation) -> QuerySet[Patient]:
    patients = Patient.objects.filter(deleted=False, cpr__isnull=False)
    if organisation.type == OrganisationType.MUNICIPALITY:
        return patients.filter(municipality_code=organisation.municipality_code)
    if organisation.type == OrganisationType.EMERGENCY_LINE:
        return patients  # anyone can call 1813
    references = [f"cvr:{organisation.cvr}"]
    if organisation.sor_code:
        references.append(f"sor:{organisation.sor_code}")
    referenced = OrganisationReference.objects.filter(organisation__in=references)
    return patients.filter(pk__in=referenced.values("patient"))


def _citizens_page(
    request: HttpRequest, organisation: Organisation, *, error: bool = False, status: int = 200
) -> HttpResponse:
    response = render(
        request,
        "access/demo_eoj/citizens.html",
        {
            "organisation": organisation,
            "citizens": citizens_of(organisation),
            "personas": personas_of(organisation),
            "emergency": organisation.type == OrganisationType.EMERGENCY_LINE,
            "reason_error": error,
            "reason_max_length": REASON_MAX_LENGTH,
            "max_citizens": MAX_CITIZENS,
        },
        status=status,
    )
    add_never_cache_headers(response)
    return response


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise Http404 from None
