"""The HTTP side of the live source: one pooled httpx client per process, used by many threads.

Every call is a read (GET, or a POST ``_search``, which is a read too) and therefore safe to
repeat: a connection failure or a 502/503/504 is tried once more while the time allows. A 401
fetches a new access token and tries once more. Each network wait lasts at most
``INDBLIK_FHIR_TIMEOUT_MS``, and a call as a whole (its token, every attempt, headers and body)
ends at one deadline, twice that after it began (:mod:`~indblik.records.live.wire`), however
slowly the server sends. Answers larger than ``INDBLIK_FHIR_MAX_BYTES`` are abandoned while
they stream in. After ``BREAKER_FAILURES`` failures in a row the circuit opens: for
``BREAKER_COOLDOWN`` seconds pages say at once that the hospital record cannot be reached,
instead of every nurse waiting for the timeout; then one trial request decides.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from indblik.core import metrics
from indblik.records.live import wire
from indblik.records.live.smart import TokenError, TokenProvider
from indblik.records.source import SourceUnavailable

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_PAUSE = 0.05  # seconds before the one retry
BREAKER_FAILURES = 5
BREAKER_COOLDOWN = 15.0  # seconds


class CircuitBreaker:
    """Closed → open after consecutive failures → one trial after the cooldown → closed."""

    def __init__(self, failures: int = BREAKER_FAILURES, cooldown: float = BREAKER_COOLDOWN):
        self.threshold = failures
        self.cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._last_failure = -float("inf")  # when the latest counted failure was seen
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def before(self) -> float:
        """Raise SourceUnavailable('circuit-open') unless a request may go out now.

        Returns the request's start, for :meth:`failure`.
        """
        with self._lock:
            now = time.monotonic()
            if self._opened_at is None:
                return now
            if now - self._opened_at < self.cooldown or self._trial_running:
                raise SourceUnavailable("circuit-open", "the hospital record was unreachable")
            self._trial_running = True  # half-open: this request is the trial
            return now

    def success(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.warning("live record source: circuit closed again")
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def failure(self, started: float | None = None) -> None:
        """Count a failed request that went out at ``started`` (:meth:`before`'s answer).

        Requests that were already in flight when an earlier failure was counted fail with it
        (one slow page's dozen searches time out together): they are one failure, not a dozen,
        so a single bad moment does not open the circuit for everyone.
        """
        with self._lock:
            if started is not None and started < self._last_failure and not self._trial_running:
                return
            self._last_failure = time.monotonic()
            self._failures += 1
            if self._trial_running or (
                self._opened_at is None and self._failures >= self.threshold
            ):
                if self._opened_at is None or self._trial_running:
                    log.warning("live record source: circuit open for %.0f s", self.cooldown)
                self._opened_at = time.monotonic()
            self._trial_running = False

    def reset(self) -> None:
        self.success()


def report(kind: str) -> None:
    """Count a source error for the operators (metrics; no personal data)."""
    metrics.source_error("fhir", kind)


class FhirHttp:
    """Reads JSON from one FHIR server's base URL, authenticated with SMART Backend Services."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenProvider,
        *,
        timeout_ms: int,
        max_bytes: int,
        ca_file: str = "",
        cert: tuple[str, str] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self.tokens = tokens
        self.max_bytes = max_bytes
        self.timeout = httpx.Timeout(timeout_ms / 1000)
        self.breaker = breaker or CircuitBreaker()
        self.requests = 0  # requests sent (tests and the benchmark read it)
        # One TLS context: the CA that verifies the server (the system's when ``ca_file`` is
        # empty; never unverified) and, for mutual TLS, our client certificate.
        context = ssl.create_default_context(cafile=ca_file or None)
        if cert is not None:
            context.load_cert_chain(cert[0], cert[1])
        self.http = httpx.Client(
            # Connections that end every wait at the deadline of the request they serve.
            transport=wire.Transport(
                verify=context,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            ),
            timeout=self.timeout,
            headers={"User-Agent": "Indblik"},
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self.http.close()

    def budget(self) -> float:
        """Seconds a call may take in all: twice the timeout (room for its one retry)."""
        return 2 * (self.timeout.read or 0.0)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def same_server(self, url: str) -> bool:
        """Tell whether ``url`` (e.g. a ``next`` link) is under this server's base URL."""
        try:
            origin = _origin(url)
        except ValueError:  # e.g. a port that is not a number
            return False
        path = urlsplit(url).path
        base = urlsplit(self.base_url).path.rstrip("/")
        # The server decodes the path before it resolves it: ``%2e%2e`` is ``..`` to it, and
        # ``%2f`` a slash. Decoded (over and over, for a server that decodes twice), the path
        # must have no dot segment, no backslash and no slash it did not have as such.
        decoded = path
        for _ in range(4):
            once = unquote(decoded)
            if once == decoded:
                break
            decoded = once
        else:
            return False  # still encoded after four rounds: nobody's honest link
        segments = decoded.split("/")
        return (
            origin == self._origin
            and (path == base or path.startswith(base + "/"))
            and decoded.count("/") == path.count("/")
            and "\\" not in decoded
            and ".." not in segments
            and "." not in segments
        )

    def get(
        self, url: str, params: Mapping[str, str] | None = None, *, missing_ok: bool = False
    ) -> dict[str, Any] | None:
        """GET ``url`` (absolute, on this server) and return its JSON object.

        ``missing_ok``: a 404 or 410 returns None (a read of a resource that is not there).
        """
        return self._send("GET", url, params=params, missing_ok=missing_ok)

    def search_post(self, resource_type: str, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST <base>/<Type>/_search`` with a form body: keeps identifiers out of URLs."""
        result = self._send("POST", self.url(f"{resource_type}/_search"), form=form)
        assert result is not None
        return result

    def post_bundle(self, bundle: Mapping[str, Any]) -> dict[str, Any]:
        """POST a batch Bundle of reads to the base URL (each entry a GET: safe to repeat)."""
        result = self._send("POST", self.base_url + "/", body=orjson.dumps(bundle))
        assert result is not None
        return result

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        body: bytes | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        if not self.same_server(url):
            # A next link (or anything else) must not send our token to another host.
            raise SourceUnavailable("malformed", "a link pointed away from the FHIR server")
        started = self.breaker.before()
        try:
            result = self._attempts(method, url, params, form, body, missing_ok)
        except SourceUnavailable as exc:
            if exc.kind in ("timeout", "unavailable", "http-5xx", "circuit-open"):
                self.breaker.failure(started)
            else:
                self.breaker.success()  # the server is up; it answered something we refuse
            report(exc.kind)
            raise
        except Exception as exc:
            # Anything else (an unreadable key file, a URL httpx refuses…) is still "the record
            # cannot be read now" to the page: never a 500, and never a breaker stuck half-open.
            self.breaker.failure(started)
            report("unavailable")
            log.warning("live record source: unexpected %s", type(exc).__name__)
            raise SourceUnavailable("unavailable", f"unexpected {type(exc).__name__}") from None
        self.breaker.success()
        return result

    def _attempts(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        body: bytes | None,
        missing_ok: bool,
    ) -> dict[str, Any] | None:
        # One deadline for the whole call: the token, every attempt, headers and body.
        deadline = time.monotonic() + self.budget()
        renewed = False
        retried = False
        while True:
            try:
                token = self.tokens.token(self.http, timeout=self.timeout, deadline=deadline)
            except TokenError as exc:
                raise SourceUnavailable(exc.kind, str(exc)) from None
            try:
                status, answer = self._once(method, url, params, form, body, token, deadline)
            except SourceUnavailable as exc:
                if exc.kind == "unavailable" and not retried and _time_left(deadline):
                    retried = True
                    time.sleep(RETRY_PAUSE)
                    continue
                raise
            if status == 401 and not renewed:
                self.tokens.invalidate(token)
                renewed = True
                continue
            if status in RETRY_STATUSES and not retried and _time_left(deadline):
                retried = True
                time.sleep(RETRY_PAUSE)
                continue
            return interpret(status, answer, missing_ok=missing_ok)

    def _once(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        body: bytes | None,
        token: str,
        deadline: float,
    ) -> tuple[int, bytes]:
        headers = {"Accept": FHIR_JSON, "Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = FHIR_JSON
        self.requests += 1
        try:
            # Every socket wait of this request ends at the deadline (wire.Transport): a
            # server that drips its status line, headers or body is cut there.
            with (
                wire.deadline(deadline),
                self.http.stream(
                    method,
                    url,
                    params=params,
                    data=form,
                    content=body,
                    headers=headers,
                    timeout=wire.request_timeout(self.timeout, deadline),
                ) as response,
            ):
                return response.status_code, wire.read_capped(response, self.max_bytes, deadline)
        except wire.TooLarge:
            raise SourceUnavailable("oversized", "the answer is larger than allowed") from None
        except httpx.TimeoutException:
            raise SourceUnavailable("timeout", "the FHIR server did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SourceUnavailable(
                "unavailable", f"the FHIR server could not be reached ({type(exc).__name__})"
            ) from None


def interpret(status: int, body: bytes, *, missing_ok: bool) -> dict[str, Any] | None:
    if status in (404, 410) and missing_ok:
        return None
    if status == 401:
        raise SourceUnavailable("auth", "the FHIR server did not accept Indblik's credentials")
    if status == 403:
        raise SourceUnavailable("forbidden", "the FHIR server refused Indblik this read")
    if status >= 500 or status == 429:
        raise SourceUnavailable("http-5xx", f"the FHIR server answered {status}", status=status)
    if status != 200:
        raise SourceUnavailable("http-4xx", f"the FHIR server answered {status}", status=status)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SourceUnavailable("malformed", "the FHIR server's answer is not JSON") from None
    if not isinstance(document, dict):
        raise SourceUnavailable("malformed", "the FHIR server's answer is not a JSON object")
    return document


def _time_left(deadline: float) -> bool:
    return time.monotonic() < deadline


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, (parts.hostname or "").lower(), port)
