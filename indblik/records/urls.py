"""URLs of the FHIR R4 machine API, mounted at ``/fhir/r4/`` by ``indblik.urls``.

Ingestion (``indblik.records.views``, feeds of scope ``ingest``), the audit event search
(``indblik.audit.views``, feeds of scope ``audit-read``), and reads of the local store with
their SMART Backend Services token endpoint (``indblik.records.api``, scope ``record-read``).
"""

from django.urls import path

from indblik.audit import views as audit_views
from indblik.records import views
from indblik.records.api import views as api

app_name = "fhir"

urlpatterns = [
    path("", views.base, name="base"),
    # The audit log, for the hospital's patient portal (read-only; before the generic routes).
    path("AuditEvent", audit_views.audit_event_search, name="audit-event-search"),
    path("AuditEvent/_search", audit_views.audit_event_search_post, name="audit-event-search-post"),
    # Public: what the API offers, and how to get a token for it.
    path("metadata", api.metadata, name="metadata"),
    path(".well-known/smart-configuration", api.smart_configuration, name="smart-configuration"),
    path("auth/token", api.token, name="smart-token"),
    # Each method to its own scope: reads (GET, _search) and ingestion (POST, PUT, DELETE).
    path(
        "<str:resource_type>",
        views.by_method(GET=api.search_type, POST=views.type_endpoint),
        name="type",
    ),
    path("<str:resource_type>/_search", api.search_post, name="search"),
    path(
        "<str:resource_type>/<str:fhir_id>",
        views.by_method(GET=api.read, PUT=views.instance, DELETE=views.instance),
        name="instance",
    ),
]
