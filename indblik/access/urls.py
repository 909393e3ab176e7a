"""The deep link from the care system (namespace ``access``)."""

from django.urls import path

from indblik.access import launch

app_name = "access"

urlpatterns = [
    path("launch", launch.launch, name="launch"),
    path("launch/resume", launch.resume, name="resume"),
]
