"""URLs of the FHIR R4 machine API, mounted at ``/fhir/r4/`` by ``indblik.urls``."""

from django.urls import path

from indblik.records import views

app_name = "fhir"

urlpatterns = [
    path("", views.base, name="base"),
    path("<str:resource_type>", views.type_endpoint, name="type"),
    path("<str:resource_type>/<str:fhir_id>", views.instance, name="instance"),
]
