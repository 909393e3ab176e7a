"""URLs of the FHIR R4 machine API, mounted at ``/fhir/r4/`` by ``indblik.urls``.

Ingestion (``indblik.records.views``, feeds of scope ``ingest``) and the audit event search
(``indblik.audit.views``, feeds of scope ``audit-read``).
"""

from django.urls import path

from indblik.audit import views as audit_views
from indblik.records import views

app_name = "fhir"

urlpatterns = [
    path("", views.base, name="base"),
    # The audit log, for the hospital's patient portal (read-only; before the generic routes).
    path("AuditEvent", audit_views.audit_event_search, name="audit-event-search"),
    path("AuditEvent/_search", audit_views.audit_event_search_post, name="audit-event-search-post"),
    path("<str:resource_type>", views.type_endpoint, name="type"),
    path("<str:resource_type>/<str:fhir_id>", views.instance, name="instance"),
]
