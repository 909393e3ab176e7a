"""A chart-like page for the fail-closed tests: audit first, then read the record."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from indblik import audit
from indblik.audit import Action

PATIENT_CPR = "0101701234"
CLINICAL_DATA = "Allergi: penicillin (svær reaktion)"
reads: list[str] = []


def read_record(cpr: str) -> str:
    """Stand in for the record source; remembers that it was asked."""
    reads.append(cpr)
    return CLINICAL_DATA


def snapshot(request: HttpRequest) -> HttpResponse:
    # Write the audit row before reading the record: fail closed.
    audit.record(request, Action.PATIENT_READ, patient_cpr=PATIENT_CPR, section="snapshot")
    return HttpResponse(f"<p>{PATIENT_CPR}: {read_record(PATIENT_CPR)}</p>")


urlpatterns = [path("chart/snapshot/", snapshot)]
