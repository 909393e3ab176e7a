"""The demo identity provider's URLs, included at ``demo-idp/`` in demo and test mode only."""

from django.urls import path

from indblik.identity.demo_idp import views

app_name = "demo-idp"

urlpatterns = [
    path("metadata/", views.metadata, name="metadata"),
    path("sso/", views.sso, name="sso"),
    path("sso/issue/", views.issue, name="issue"),
    path("slo/", views.slo, name="slo"),
]
