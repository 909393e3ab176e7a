"""URLs of the usage app (namespace ``usage``), included at the site's root."""

from __future__ import annotations

from django.urls import path

from indblik.usage import views

app_name = "usage"

urlpatterns = [
    path("organisation/", views.organisation, name="organisation"),
    path("organisation/users/<int:pk>/deactivate/", views.deactivate, name="deactivate"),
    path("reports/", views.reports, name="reports"),
    path("reports/rollout.csv", views.rollout_csv, name="rollout-csv"),
    path("reports/feedback.csv", views.feedback_csv, name="feedback-csv"),
    path("feedback/", views.answer, name="feedback"),
]
