"""SCIM 2.0 URLs, included at ``scim/v2/``."""

from django.urls import path

from indblik.identity import scim

app_name = "scim"

urlpatterns = [
    path("Users", scim.users_endpoint, name="users"),
    path("Users/<str:user_id>", scim.user_endpoint, name="user"),
]
