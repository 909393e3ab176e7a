"""Fail closed: a view whose audit write failed answers 503 with a page that holds no data."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers

from indblik.audit.errors import AuditWriteError

RETRY_AFTER_SECONDS = 30


class AuditFailureMiddleware:
    """Turn an AuditWriteError raised by a view into a 503 "try again" page.

    The view raised before it read the record (that is the contract of ``audit.record``), so
    nothing clinical exists to leak; the page is rendered from scratch, without the view's
    context, and must not be cached. Its position in MIDDLEWARE does not matter: Django calls
    ``process_exception`` for exceptions from views and view decorators.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Answer 503 for an audit failure; leave every other exception to Django."""
        if not isinstance(exception, AuditWriteError):
            return None
        return unavailable_response(request)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """Return the 503 page shown when an access could not be logged."""
    body: str
    try:
        body = render_to_string("audit/unavailable.html", request=request)
        content_type = "text/html; charset=utf-8"
    except Exception:
        # The database may be what failed, and a template may touch it: still answer safely.
        body = "Service unavailable: the access could not be logged. Please try again.\n"
        content_type = "text/plain; charset=utf-8"
    response = HttpResponse(body, status=503, content_type=content_type)
    add_never_cache_headers(response)  # Cache-Control: no-cache, no-store, must-revalidate…
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
