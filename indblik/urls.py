from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from indblik import views
from indblik.core import metrics

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),  # off unless configured
    path("admin/", admin.site.urls),
    path("saml2/", include("indblik.identity.urls")),
    path("scim/v2/", include("indblik.identity.scim_urls")),
    path("fhir/r4/", include("indblik.records.urls")),
    path("chart/", include("indblik.chart.urls")),
    path("", include("indblik.access.urls")),
    path("", include("indblik.followup.urls")),  # min-log/ and follow-up/
    path("", include("indblik.usage.urls")),  # organisation/, reports/, feedback/
]
if not settings.PRODUCTION:  # the demo IdP (its views answer 404 unless INDBLIK_SAML_DEMO_IDP)
    urlpatterns.append(path("demo-idp/", include("indblik.identity.demo_idp.urls")))
    urlpatterns.append(path("demo-eoj/", include("indblik.access.demo_eoj_urls")))
