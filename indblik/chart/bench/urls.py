"""The product's URLs plus ``/bench/floor/<bytes>`` (benchmarks only)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_safe


@require_safe
def floor(request: HttpRequest, size: int) -> HttpResponse:
    """A page of ``size`` bytes behind the full middleware stack: the framework floor."""
    body = b"<!doctype html><title>floor</title>" + b"x" * max(0, min(size, 10_000_000) - 36)
    return HttpResponse(body, content_type="text/html; charset=utf-8")


urlpatterns = [
    path("bench/floor/<int:size>", floor),
    path("", include("indblik.urls")),
]
