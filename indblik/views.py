"""Project-level pages: front page, liveness and readiness."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


def mode_context(request: HttpRequest) -> dict[str, object]:
    """Tell every template whether this is a demo server (shown in the page header)."""
    return {"indblik_demo": settings.DEMO, "indblik_mode": settings.INDBLIK_MODE}


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches no database."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: the database answers, its schema is migrated, the launch key is usable."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM records_patient LIMIT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    # Without the launch key no care-system link can be opened (production has no generated one).
    from indblik.access.launch_keys import configuration_problems

    checks["launch_key"] = "error: not usable" if configuration_problems() else "ok"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
