"""A bare Django page (benchmarks only): settings and URLs of an app with no middleware, no
installed apps and no database, serving one page of a given size.

``indblik bench chart`` serves it with the same gunicorn settings beside the product, so the
three pages compare what Django itself costs (this page), what signing in and the
organisation's checks cost (the floor page: the product's middleware, which reads the session,
the user and the organisation), and what the snapshot costs on top. Served as
``gunicorn 'django.core.wsgi:get_wsgi_application()'`` with
``DJANGO_SETTINGS_MODULE=indblik.chart.bench.bare``.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest, HttpResponse
from django.urls import path

SECRET_KEY = secrets.token_urlsafe(32)  # nothing is signed; Django only wants one
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = __name__
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True


def page(request: HttpRequest, size: int) -> HttpResponse:
    """``size`` bytes of HTML, as the floor page (``indblik.chart.bench.urls``) sends."""
    body = b"<!doctype html><title>bare</title>" + b"x" * max(0, min(size, 10_000_000) - 35)
    return HttpResponse(body, content_type="text/html; charset=utf-8")


urlpatterns = [path("bench/bare/<int:size>", page)]
