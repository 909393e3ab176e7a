"""The product's URLs plus two benchmark pages (benchmarks only; never in production).

- ``/bench/floor/<bytes>``: a page of that size behind the full middleware stack (the
  framework floor: session, user, organisation and networks).
- ``/bench/guarded/<handle>/<bytes>``: the same page behind what every chart page must do
  before it may answer, whatever it shows: the grant's re-check (the citizen looked up again,
  their blocks read), the rules-of-use check and the audit row, written before the response.
  It reads no section and renders no template, so the snapshot's distance from it is the
  cost of showing the record, and its own distance from the floor is the cost of the
  per-lookup checks the access policy requires.
"""

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from indblik import audit
from indblik.access.grants import active_grant
from indblik.chart import rules as rules_of_use

_HEAD = b"<!doctype html><title>floor</title>"


def _body(size: int) -> bytes:
    return _HEAD + b"x" * max(0, min(size, 10_000_000) - len(_HEAD))


@require_safe
def floor(request: HttpRequest, size: int) -> HttpResponse:
    """A page of ``size`` bytes behind the full middleware stack: the framework floor."""
    return HttpResponse(_body(size), content_type="text/html; charset=utf-8")


@require_safe
@never_cache
def guarded(request: HttpRequest, handle: str, size: int) -> HttpResponse:
    """The floor page behind a chart page's mandatory checks and audit row."""
    grant = active_grant(request, handle)
    if not rules_of_use.acknowledged_by(request):
        raise Http404
    audit.record(
        request,
        audit.Action.PATIENT_READ,
        patient_cpr=grant.patient.cpr,
        section="bench-guarded",
        resource_ids=[],
        purpose=grant.purpose,
        organisation_cvr=grant.organisation.cvr,
        organisation_name=grant.organisation.name,
    )
    return HttpResponse(_body(size), content_type="text/html; charset=utf-8")


urlpatterns = [
    path("bench/floor/<int:size>", floor),
    path("bench/guarded/<str:handle>/<int:size>", guarded),
    path("", include("indblik.urls")),
]
