"""Prometheus metrics at ``/metrics``: request latency, audit writes, forwarder lag, launches.

No label ever holds personal data: views are named by their route name (``chart:section``),
never by path; launch refusals by their fixed reason code; record-source errors by source
and kind. See docs/operations.md, "Metrics".

gunicorn runs several worker processes. ``indblik serve`` points them all at one directory
(``PROMETHEUS_MULTIPROC_DIR``, made empty at every start: indblik.core.server), where each
process keeps its values in a memory-mapped file, and a scrape of any worker adds up all of
them. Without that variable (tests, ``runserver``, commands) the values live in this process.

The endpoint is off (404) unless ``INDBLIK_METRICS_TOKEN_FILE`` (a bearer token) and/or
``INDBLIK_METRICS_NETWORKS`` (the scraper's networks, checked against the client address as
the trusted proxies report it) are set; with both, a scrape needs both.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

logger = logging.getLogger("indblik.metrics")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# --- the metrics --------------------------------------------------------------------------
REQUEST_SECONDS = Histogram(
    "indblik_http_request_duration_seconds",
    "Time from the request reaching the application to its response, by route name.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
AUDIT_WRITE_SECONDS = Histogram(
    "indblik_audit_write_duration_seconds",
    "Time to insert (and, outside a transaction, commit) one audit row.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
AUDIT_WRITE_FAILURES = Counter(
    "indblik_audit_write_failures",
    "Audit rows that could not be written (each one a refused request: fail closed).",
)
LAUNCH_OUTCOMES = Counter(
    "indblik_launch_outcomes",
    "Launches from the care systems by stage (token, bind, decide), outcome and reason code.",
    ["stage", "outcome", "reason"],
)
SOURCE_ERRORS = Counter(
    "indblik_record_source_errors",
    "Failed reads of the record source by source (local, fhir) and kind of failure.",
    ["source", "kind"],
)

SOURCES = ("local", "fhir")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# A code, not free text: anything else is counted as "other" so no caller can grow a label.
_CODE = re.compile(r"[a-z0-9][a-z0-9:._-]{0,47}")


def _code(value: str) -> str:
    return value if _CODE.fullmatch(value) else "other"


def _quietly(what: str, observe: Callable[[], None]) -> None:
    # A metric that cannot be written (a full disk under the multiprocess directory) must not
    # turn a served request into an error: note it and carry on.
    try:
        observe()
    except Exception:
        logger.exception("could not update the %s metric", what)


def source_error(source: str, kind: str) -> None:
    """Count one failed read of the record source.

    ``source`` is ``"local"`` or ``"fhir"``; ``kind`` a short code such as ``"timeout"``,
    ``"unavailable"``, ``"http-5xx"``, ``"malformed"`` or ``"circuit-open"`` (never an error
    message: it may quote the request).
    """
    labels = (source if source in SOURCES else "other", _code(kind))
    _quietly("source error", lambda: SOURCE_ERRORS.labels(*labels).inc())


def launch_outcome(stage: str, outcome: str, reason: str = "") -> None:
    """Count one launch decision: ``stage`` token/bind/decide, ``outcome``, a reason code."""
    labels = (_code(stage), _code(outcome), _code(reason) if reason else "none")
    _quietly("launch", lambda: LAUNCH_OUTCOMES.labels(*labels).inc())


def audit_write(seconds: float) -> None:
    """Record how long one successful audit write took."""
    _quietly("audit write", lambda: AUDIT_WRITE_SECONDS.observe(seconds))


def audit_write_failed() -> None:
    """Count one audit write that failed."""
    _quietly("audit write failure", AUDIT_WRITE_FAILURES.inc)


# --- request latency ----------------------------------------------------------------------
def method_label(method: str | None) -> str:
    """Return the HTTP method, or ``"other"`` for anything outside the usual ones."""
    return method if method in METHODS else "other"


def route_name(request: HttpRequest) -> str:
    """Return the route name of the request's view (``chart:section``); never its path.

    ``<static>`` for static files (answered by whitenoise before any view) and ``<unmatched>``
    for a path no route matches. A request answered by a middleware before its view (a rate
    limit, a redirect to https) is still named after the view it was meant for.
    """
    cached = getattr(request, "indblik_route", None)
    if isinstance(cached, str):
        return cached
    match = getattr(request, "resolver_match", None)
    if match is None:
        if request.path_info.startswith(settings.STATIC_URL):
            name = "<static>"
        else:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                match = None
            name = "<unmatched>"
    if match is not None:
        name = match.view_name or "<unnamed>"
    request.indblik_route = name  # type: ignore[attr-defined]
    return name


class MetricsMiddleware:
    """Observe every request's duration by route name, method and status class."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        labels = (
            route_name(request),
            method_label(request.method),
            f"{response.status_code // 100}xx",
        )
        _quietly("request", lambda: REQUEST_SECONDS.labels(*labels).observe(elapsed))
        return response


# --- forwarder lag, computed at scrape time -------------------------------------------------
# Up to this many unforwarded rows are counted exactly; beyond it the difference of ids is
# reported (ids are a sequence, so the count can only be smaller) to keep a scrape cheap.
EXACT_LAG_LIMIT = 100_000


def configured_receivers() -> list[str]:
    """Return the names of the forwarder's receivers configured in the settings."""
    names = []
    if settings.INDBLIK_AUDIT_SYSLOG_URL:
        names.append("syslog")
    if settings.INDBLIK_AUDIT_FHIR_URL:
        names.append("fhir")
    return names


class ForwarderLagCollector:
    """Read the forwarder's cursors and the audit table when scraped, one query per gauge."""

    def collect(self) -> Iterator[Metric]:
        receivers = configured_receivers()
        if not receivers:
            return
        from django.db import DatabaseError
        from django.utils import timezone

        from indblik.audit.models import AuditEvent, ForwardingCursor

        events = GaugeMetricFamily(
            "indblik_audit_forward_lag_events",
            "Audit events not yet delivered to the receiver.",
            labels=["receiver"],
        )
        age = GaugeMetricFamily(
            "indblik_audit_forward_lag_seconds",
            "Age of the oldest audit event not yet delivered to the receiver (0 when none).",
            labels=["receiver"],
        )
        failures = GaugeMetricFamily(
            "indblik_audit_forward_failed_attempts",
            "Failed delivery attempts in a row to the receiver (0 after a success).",
            labels=["receiver"],
        )
        try:
            cursors = {
                row.receiver: row for row in ForwardingCursor.objects.filter(receiver__in=receivers)
            }
            last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            now = timezone.now()
            for name in receivers:
                cursor = cursors.get(name)
                after = cursor.last_id if cursor else 0
                pending = max(last - after, 0)
                if 0 < pending <= EXACT_LAG_LIMIT:
                    pending = AuditEvent.objects.filter(pk__gt=after).count()
                oldest = (
                    AuditEvent.objects.filter(pk__gt=after)
                    .order_by("pk")
                    .values_list("at", flat=True)
                    .first()
                )
                events.add_metric([name], pending)
                age.add_metric([name], (now - oldest).total_seconds() if oldest else 0.0)
                failures.add_metric([name], cursor.attempts if cursor else 0)
        except DatabaseError:
            logger.warning("forwarder lag not available: the database did not answer")
            return
        yield events
        yield age
        yield failures


class _InProcess:
    """This process's registry plus the scrape-time collectors (no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from ForwarderLagCollector().collect()


def scrape_registry() -> Collector:
    """Return what a scrape exposes: every worker's values under gunicorn, else this process's."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(ForwarderLagCollector())
        return registry
    return _InProcess()


# --- the endpoint -------------------------------------------------------------------------
def _refused(status: int, reason: str) -> HttpResponse:
    logger.warning("metrics scrape refused: %s", reason)
    response = HttpResponse(f"{reason}\n", status=status, content_type="text/plain")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Expose the metrics to a scraper from INDBLIK_METRICS_NETWORKS with the bearer token."""
    token: str = settings.INDBLIK_METRICS_TOKEN
    networks = settings.INDBLIK_METRICS_NETWORKS
    if not token and not networks:
        raise Http404("metrics are not configured")
    if networks:
        from indblik.audit.net import client_address

        address = client_address(request)
        if address is None or not any(address in network for network in networks):
            return _refused(403, "not from a metrics network")
    if token:
        scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return _refused(401, "bearer token missing or wrong")
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
