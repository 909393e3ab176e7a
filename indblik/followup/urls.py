"""URLs of the app (namespace ``followup``), included at the site's root."""

from __future__ import annotations

from django.urls import path

from indblik.followup.views import citizen, reviewer

app_name = "followup"

urlpatterns = [
    path("min-log/", citizen.min_log, name="citizen-log"),
    path("min-log/block/", citizen.block, name="block"),
    path("min-log/unblock/", citizen.unblock, name="unblock"),
    path("follow-up/", reviewer.overview, name="overview"),
    path("follow-up/cases/<int:pk>/", reviewer.case, name="case"),
    path("follow-up/search/", reviewer.search_log, name="search"),
    path("follow-up/search/export/", reviewer.export, name="export"),
]
