"""The care-system simulator's URLs, included at ``demo-eoj/`` outside production only."""

from django.urls import path

from indblik.access import demo_eoj

app_name = "demo-eoj"

urlpatterns = [
    path("", demo_eoj.index, name="index"),
    path("<str:cvr>/", demo_eoj.citizens, name="citizens"),
    path("<str:cvr>/open/", demo_eoj.open_in_indblik, name="open"),
]
