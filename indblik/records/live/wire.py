"""One deadline for a whole request, and a cap on the bytes of its answer.

httpx's timeouts bound each network wait on its own: a server that sends one byte of its
status line or headers every few tenths of a second never trips the read timeout, and the
request lasts as long as the server likes. Here every wait of the socket (connect, TLS
handshake, each write, each read) is also bounded by the time left until the deadline of the
request it serves (:func:`deadline`), so the request as a whole ends at that deadline, whatever
the server does, in headers or body. The bound is held in a context variable of the calling
thread (the sync httpx client does its network I/O in the thread that sends the request), so
the pool's connections stay shared and reused; no thread watches the clock.

:class:`Transport` is an ``httpx.HTTPTransport`` whose connections obey that deadline;
:func:`read_capped` reads an answer as it streams in and gives up past a size or the deadline.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

_deadline: ContextVar[float | None] = ContextVar("indblik_fhir_deadline", default=None)


class TooLarge(Exception):
    """The answer is larger than allowed (declared, or while it streamed in)."""


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Bound every network wait of this thread's requests to ``at`` (``time.monotonic()``).

    Nested calls keep the earlier of the two deadlines.
    """
    outer = _deadline.get()
    token = _deadline.set(at if outer is None else min(outer, at))
    try:
        yield
    finally:
        _deadline.reset(token)


def _bounded(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout``, shortened to the time left until the current deadline (if any)."""
    at = _deadline.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        # Never a timeout of 0: that would make the socket non-blocking, not time out.
        raise error("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own socket backend, every wait bounded by the current deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class Transport(httpx.HTTPTransport):
    """httpx's HTTP/1.1 transport over connections that obey :func:`deadline`."""

    def __init__(self, *, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx takes no network backend of its own: its pool is replaced by the same pool
        # over the bounded backend. Should a new httpx keep its pool elsewhere, fail here, at
        # start-up, rather than run without the deadline.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx.HTTPTransport changed: cannot bound its connections")
        self._pool = httpcore.ConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


def request_timeout(timeout: httpx.Timeout, at: float) -> httpx.Timeout:
    """``timeout`` for one request with the deadline ``at``: no wait longer than the time left
    (also the wait for a free connection of the pool, which is no socket wait)."""
    left = at - time.monotonic()
    if left <= 0:
        raise httpx.PoolTimeout("the request's deadline has passed")
    return httpx.Timeout(
        connect=_shorter(timeout.connect, left),
        read=_shorter(timeout.read, left),
        write=_shorter(timeout.write, left),
        pool=_shorter(timeout.pool, left),
    )


def _shorter(value: float | None, left: float) -> float:
    return left if value is None else min(value, left)


def read_capped(response: httpx.Response, max_bytes: int, at: float) -> bytes:
    """The body of ``response`` (decoded), read as it streams in.

    :class:`TooLarge` as soon as it is declared or read to be larger than ``max_bytes``;
    ``httpx.ReadTimeout`` past the deadline ``at`` (also checked here between chunks, for a
    client whose transport is not :class:`Transport`).
    """
    declared = response.headers.get("Content-Length")
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 15 or int(declared) > max_bytes)
    ):
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if time.monotonic() > at:
            raise httpx.ReadTimeout("the answer took too long", request=response.request)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
