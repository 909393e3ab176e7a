"""The SAML service provider's URLs, included at ``saml2/`` (namespace ``identity``)."""

from django.urls import path

from indblik.identity import reauth, views

app_name = "identity"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("acs/", views.AssertionConsumerServiceView.as_view(), name="acs"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("ls/", views.SingleLogoutServiceView.as_view(), name="ls"),
    path("metadata/", views.MetadataView.as_view(), name="metadata"),
    path("session/", views.session, name="session"),
    path("logged-out/", views.logged_out, name="logged-out"),
    path("session-expired/", views.session_expired, name="session-expired"),
    path("reauthenticate/", reauth.reauthenticate, name="reauthenticate"),
    path("reauthenticate/broker/", reauth.reauthenticate_at_broker, name="reauthenticate-broker"),
    path("reauthenticate/done/", reauth.reauthenticated, name="reauthenticate-done"),
]
