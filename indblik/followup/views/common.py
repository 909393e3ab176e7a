"""What both halves of the app's views share: the refusal page and cursors."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    """Answer 403 with a plain page that says why (and shows no data)."""
    response = render(request, "followup/forbidden.html", {"message": message}, status=403)
    add_never_cache_headers(response)
    return response


def cursor(value: str | None) -> int | None:
    """Read a paging cursor (an event or case id); anything else means the first page."""
    if value and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None
