"""The record pages (namespace ``chart``): one granted citizen, read-only."""

from __future__ import annotations

from django.urls import path, register_converter

from indblik.chart import views
from indblik.records.sections import PAGES, Section

app_name = "chart"


class HandleConverter:
    """A grant handle: 16 to 64 URL-safe characters (access.grants checks the rest)."""

    regex = "[A-Za-z0-9_-]{16,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class PageConverter:
    """One of the 17 pages beside the snapshot (which lives at the handle itself)."""

    regex = "|".join(section.value for section in PAGES if section != Section.SNAPSHOT)

    def to_python(self, value: str) -> Section:
        return Section(value)

    def to_url(self, value: str) -> str:
        return str(value)


class AnyPageConverter(PageConverter):
    """Any of the 18 pages (the print view exists for the snapshot too)."""

    regex = "|".join(section.value for section in PAGES)


class FhirIdConverter:
    """A FHIR logical id (``[A-Za-z0-9\\-\\.]{1,64}``)."""

    regex = r"[A-Za-z0-9\-\.]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(HandleConverter, "handle")
register_converter(PageConverter, "page")
register_converter(AnyPageConverter, "anypage")
register_converter(FhirIdConverter, "fhirid")

urlpatterns = [
    path("rules/", views.rules, name="rules"),
    path("language/", views.language, name="language"),
    path("<handle:handle>/", views.page, name="snapshot"),
    # Before documents/<id>/: "print" is a print view, never a document id.
    path("<handle:handle>/<anypage:section>/print/", views.print_page, name="print"),
    path("<handle:handle>/documents/<fhirid:resource_id>/", views.document, name="document"),
    path("<handle:handle>/<page:section>/", views.page, name="section"),
]
