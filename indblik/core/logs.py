"""Log lines: one JSON object per line in production, a request id on every line of a request.

- :class:`RequestLogMiddleware` (outermost) gives each request its id - the trusted proxy's
  ``X-Request-ID`` or a new one (:func:`indblik.audit.net.request_id`, the id the audit rows
  carry too) - returns it in the response's ``X-Request-ID`` and writes one line per request
  (method, route name, status, duration): never the path or its query string, which can hold
  a launch token.
- :class:`RequestIdFilter` (on the handler) copies the id, kept in a context variable for the
  duration of the request, onto every log record, whichever logger wrote it.
- :class:`JsonFormatter` (``INDBLIK_LOG_FORMAT=json``, the production default) and
  :class:`TextFormatter` (``text``, demo and test) both mask anything that looks like a CPR
  number in the message, its arguments and tracebacks: code must never log one, and this is
  the second line of defence.

Nothing here touches Django at import time: gunicorn's master process loads the formatters
for its own log lines before any settings exist (indblik.core.server).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# Ten digits standing alone (not part of a longer number or of a hex id such as a request
# id), or DDMMYY-XXXX. Deliberately wider than a valid CPR number: a masked telephone number
# costs less than a leaked CPR number.
CPR_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{6}-?\d{4}(?![0-9A-Za-z])")
CPR_MASK = "[cpr-masked]"

# The fields a request line adds to the record (``extra=``), in this order.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms")

_request_id: ContextVar[str | None] = ContextVar("indblik_request_id", default=None)

request_logger = logging.getLogger("indblik.request")


def mask_cpr(text: str) -> str:
    """Return ``text`` with everything that looks like a CPR number replaced."""
    return CPR_PATTERN.sub(CPR_MASK, text)


def _record_request_id(record: logging.LogRecord) -> str | None:
    value = getattr(record, "request_id", None) or _request_id.get()
    if value is None:
        # Django logs 4xx/5xx answers ("Not Found: …") after the middlewares have returned,
        # with the request on the record.
        value = getattr(getattr(record, "request", None), "indblik_request_id", None)
    return value if isinstance(value, str) else None


class RequestIdFilter(logging.Filter):
    """Put the current request's id on every record (``record.request_id``, None outside)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _record_request_id(record)
        return True


def _message(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # a bad format string must not lose the line
        text = f"{record.msg!r} {record.args!r}"
    return mask_cpr(text)


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: ts, level, logger, message, request_id, [fields].

    Only these keys, the request fields of :data:`REQUEST_FIELDS` and a masked traceback
    (``exc``) are written: other attributes a library puts on a record (Django's ``request``
    object, for one) never reach the log.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
            "request_id": _record_request_id(record),
            "pid": record.process,
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = mask_cpr(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = mask_cpr(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``, with CPR numbers masked like the JSON."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # Format a copy: the record is shared with every other handler.
        copy = logging.makeLogRecord(record.__dict__)
        copy.msg, copy.args = _message(record), None
        copy.request_id = _record_request_id(record) or "-"
        copy.exc_info, copy.exc_text, copy.stack_info = None, None, None
        text = super().format(copy)
        if record.exc_info:
            text += "\n" + mask_cpr(self.formatException(record.exc_info))
        if record.stack_info:
            text += "\n" + mask_cpr(self.formatStack(record.stack_info))
        return text


class RequestLogMiddleware:
    """Give every request an id (response header and log records) and log one line for it.

    Outermost in MIDDLEWARE, so the id is set before anything else can log and the line
    covers the whole stack, redirects and refusals of the other middlewares included.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from indblik.audit.net import request_id
        from indblik.core.metrics import method_label, route_name

        rid = request_id(request)
        token = _request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            method, route = method_label(request.method), route_name(request)
            request_logger.info(
                "%s %s %s %.1f ms",
                method,
                route,
                response.status_code,
                duration_ms,
                extra={
                    "method": method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
            return response
        finally:
            _request_id.reset(token)


def configure(config: dict[str, Any]) -> None:
    """Apply ``LOGGING`` (Django's ``LOGGING_CONFIG``), and log Python's warnings through it.

    Without this a library's warning would reach stderr as bare text, between the JSON lines.
    """
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def gunicorn_logging(log_format: str, level: str = "INFO") -> dict[str, Any] | None:
    """Return gunicorn's ``logconfig_dict`` for ``log_format`` (None: gunicorn's own format).

    Used by gunicorn's master (``--config python:indblik.core.server``), so its start-up,
    worker and timeout messages come in the same JSON as the application's.
    """
    if log_format != "json":
        return None
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "indblik.core.logs.JsonFormatter"}},
        "filters": {"request_id": {"()": "indblik.core.logs.RequestIdFilter"}},
        "handlers": {"console": handler},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["console"], "propagate": False},
            # The access log is off (`indblik serve` has no --access-logfile): request lines
            # come from RequestLogMiddleware, without paths.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
