"""Rate limits per client address on sign-in, launch and SCIM, shared by every app server.

Each limited view belongs to a bucket (:data:`BUCKETS`); a bucket allows
``INDBLIK_RATE_LIMIT_<BUCKET>`` requests per client address in each fixed window of
``INDBLIK_RATE_LIMIT_WINDOW_SECONDS``. The counters live in the database (one atomic upsert
per request, :class:`indblik.core.models.RateCounter`), so several app servers share them and a
restart forgets nothing. The client address is :func:`indblik.audit.net.client_ip`, which
believes X-Forwarded-For only from INDBLIK_TRUSTED_PROXIES.

A request over the limit gets 429 with ``Retry-After`` (the end of the window). The first one
of each client and window is audited (``security:rate-limit:exceeded``); the rest are not, so
a flood cannot fill the audit log.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers

from indblik import audit
from indblik.audit.net import client_ip
from indblik.core.models import RateCounter

logger = logging.getLogger("indblik.ratelimit")

# URL name (namespace:name) or namespace -> bucket.
BUCKETS = {
    "identity:login": "login",
    "identity:acs": "login",
    "access:launch": "launch",
    "access:resume": "launch",
    "scim": "scim",
    "fhir:smart-token": "token",  # SMART Backend Services token endpoint (records.api)
}
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def bucket_of(request: HttpRequest) -> str | None:
    """Return the bucket the request's view belongs to, or None if it is not limited."""
    match = request.resolver_match
    if match is None:
        return None
    return BUCKETS.get(match.view_name) or BUCKETS.get(match.namespace)


def limit_of(bucket: str) -> int:
    """Return the bucket's limit per window (0: no limit)."""
    return int(getattr(settings, f"INDBLIK_RATE_LIMIT_{bucket.upper()}"))


def hit(bucket: str, client: str, *, now: float | None = None) -> tuple[int, float]:
    """Count one request; return the requests counted in this window and the seconds left.

    One statement, atomic on PostgreSQL and SQLite alike: concurrent requests on any number of
    app servers each get their own count.
    """
    window = settings.INDBLIK_RATE_LIMIT_WINDOW_SECONDS
    now = time.time() if now is None else now
    start = int(now) - int(now) % window
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, client, window_start, hits) "  # noqa: S608
            f"VALUES (%s, %s, %s, 1) ON CONFLICT (bucket, client, window_start) "
            f"DO UPDATE SET hits = {table}.hits + 1 RETURNING hits",
            [bucket, client, start],
        )
        row = cursor.fetchone()
    hits = int(row[0]) if row else 1
    if hits == 1:
        # A new window for this client: clear out the windows that are over (cheap, indexed).
        RateCounter.objects.filter(window_start__lt=start - window).delete()
    return hits, start + window - now


class RateLimitMiddleware:
    """Answer 429 when a client address has used up its bucket in the current window."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        """Count the request if its view is limited; refuse it when over the limit."""
        bucket = bucket_of(request)
        if bucket is None:
            return None
        limit = limit_of(bucket)
        if limit <= 0:
            return None
        client = client_key(client_ip(request))
        try:
            hits, remaining = hit(bucket, client)
        except DatabaseError:
            # The view needs the database too and will fail on its own; a counter that cannot
            # be written must not turn every sign-in into an error page.
            logger.exception("rate limit %s: the counter could not be written", bucket)
            return None
        if hits <= limit:
            return None
        if hits == limit + 1:
            logger.warning("rate limit %s exceeded by %s", bucket, client)
            # Refused either way; a failed audit write has been logged by the writer.
            with contextlib.suppress(audit.AuditWriteError):
                audit.record(
                    request,
                    audit.Action.RATE_LIMITED,
                    outcome=audit.Outcome.REFUSED,
                    details={
                        "limit": bucket,
                        "requests": limit,
                        "window_seconds": settings.INDBLIK_RATE_LIMIT_WINDOW_SECONDS,
                    },
                )
        return too_many_requests(request, bucket, retry_after=max(1, math.ceil(remaining)))


def too_many_requests(request: HttpRequest, bucket: str, *, retry_after: int) -> HttpResponse:
    """Return the 429 answer: a SCIM error for SCIM clients, a short page for browsers."""
    if bucket == "scim":
        body = orjson.dumps(
            {"schemas": [SCIM_ERROR], "status": "429", "detail": "too many requests"}
        )
        response = HttpResponse(body, status=429, content_type="application/scim+json")
    elif bucket == "token":
        body = orjson.dumps({"error": "invalid_request", "error_description": "too many requests"})
        response = HttpResponse(body, status=429, content_type="application/json")
    else:
        page = render_to_string("core/too_many_requests.html", request=request)
        response = HttpResponse(page, status=429)
    response["Retry-After"] = str(retry_after)
    add_never_cache_headers(response)
    return response


def client_key(address: str | None) -> str:
    """Whom a limit counts: an IPv4 address, or an IPv6 client's /64.

    One IPv6 host is given a whole /64 and can send each request from another address in it;
    counting addresses would let it rotate past every limit.
    """
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
