"""Log lines: a request id on every line of a request (the one the response shows), JSON with
a fixed set of keys, never a path with its query string, and CPR-like numbers masked."""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from indblik.audit import Action
from indblik.audit.models import AuditEvent
from indblik.core.logs import (
    CPR_MASK,
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    gunicorn_logging,
    mask_cpr,
)

CPR = "0101504444"
Lines = Callable[[], list[dict[str, Any]]]
PROXY_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # what nginx's $request_id looks like


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Return a reader of every line logged so far, as the production handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def record(message: str, *args: Any, **fields: Any) -> logging.LogRecord:
    made = logging.LogRecord("indblik.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(fields)
    return made


# --- request ids ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_every_line_of_a_request_carries_the_id_the_response_shows(log_lines: Lines) -> None:
    response = Client().get("/launch", {"launch_token": "secret.launch.token"})
    collected = log_lines()
    request_id = response["X-Request-ID"]
    assert request_id
    mine = [line for line in collected if line["request_id"] == request_id]
    loggers = {line["logger"] for line in mine}
    # A line from the view, the request line, and Django's own line about the 400.
    assert {"indblik.access", "indblik.request", "django.request"} <= loggers, collected
    (request_line,) = [line for line in mine if line["logger"] == "indblik.request"]
    assert request_line["method"] == "GET"
    assert request_line["route"] == "access:launch"
    assert request_line["status"] == 400
    assert isinstance(request_line["duration_ms"], float)
    assert set(request_line) == {
        "ts",
        "level",
        "logger",
        "message",
        "request_id",
        "pid",
        "method",
        "route",
        "status",
        "duration_ms",
    }
    # Neither the token nor the query string reaches any line.
    assert not any("secret.launch.token" in json.dumps(line) for line in collected)
    assert not any("launch_token" in json.dumps(line) for line in collected)
    # The audit row of the refusal carries the same id.
    refused = AuditEvent.objects.filter(action=Action.LAUNCH_REFUSED).latest("pk")
    assert refused.request_id == request_id


@pytest.mark.django_db
def test_the_trusted_proxys_request_id_is_used_and_anyone_elses_is_not(settings: Any) -> None:
    settings.INDBLIK_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]
    proxied = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_REQUEST_ID=PROXY_ID).get("/healthz")
    assert proxied["X-Request-ID"] == PROXY_ID
    direct = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_REQUEST_ID=PROXY_ID).get("/healthz")
    assert direct["X-Request-ID"] != PROXY_ID
    # From the proxy too, something that is not an id is replaced.
    for forged in ("short", "x" * 65, "abc def ghi jkl", 'a"}\n{"level":"CRITICAL"'):
        answer = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_REQUEST_ID=forged).get("/healthz")
        assert answer["X-Request-ID"] != forged


@pytest.mark.django_db
def test_a_line_logged_outside_a_request_has_no_request_id(log_lines: Lines) -> None:
    response = Client().get("/healthz")
    logging.getLogger("indblik.test").warning("after the request")
    *during, after = log_lines()
    assert during[-1]["request_id"] == response["X-Request-ID"]
    assert after["message"] == "after the request" and after["request_id"] is None


# --- masking and shape ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "lookup of 0101504444 failed",
        "lookup of 010150-4444 failed",
        "cpr=0101504444;",
        "(0101504444)",
    ],
)
def test_a_cpr_number_in_a_message_is_masked(text: str) -> None:
    masked = mask_cpr(text)
    assert "4444" not in masked and CPR_MASK in masked


@pytest.mark.parametrize(
    "text",
    [
        "event 12345678",  # an id
        "67108864 bytes",  # a size
        "request 0f1e2d3c4b5a6978879612345678901234",  # a hex id holding ten digits
        "order 123456789012",  # a longer number
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_cpr(text) == text


def test_both_formatters_mask_the_message_its_arguments_and_the_traceback() -> None:
    try:
        raise ValueError(f"no patient {CPR}")
    except ValueError:
        exc_info = sys.exc_info()
    made = record("reading %s for %s", "010150-4444", "someone", exc_info=exc_info)
    made.exc_info = exc_info
    for formatter in (JsonFormatter(), TextFormatter()):
        text = formatter.format(made)
        assert "4444" not in text, text
        assert text.count(CPR_MASK) == 2, text
    # The record itself is untouched for any other handler.
    assert made.getMessage() == "reading 010150-4444 for someone"


def test_a_json_line_holds_only_the_known_keys() -> None:
    class Request:
        indblik_request_id = "id-from-the-request-object"
        path = "/chart/handle/?q=0101504444"

    made = record("Not Found: %s", "/x", request=Request(), user="Mette Holm", token="abc")
    line = json.loads(JsonFormatter().format(made))
    assert set(line) == {"ts", "level", "logger", "message", "request_id", "pid"}
    assert line["request_id"] == "id-from-the-request-object"
    assert line["level"] == "WARNING" and line["logger"] == "indblik.test"
    assert line["ts"].endswith("+00:00")


def test_gunicorn_logs_in_json_only_when_asked() -> None:
    assert gunicorn_logging("text") is None
    config = gunicorn_logging("json", "WARNING")
    assert config is not None
    assert config["formatters"]["json"]["()"] == "indblik.core.logs.JsonFormatter"
    assert config["loggers"]["gunicorn.error"]["level"] == "WARNING"


@pytest.mark.parametrize(("mode", "expected"), [("production", "json"), ("demo", "text")])
def test_production_logs_json_and_the_demo_text(tmp_path: Path, mode: str, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INDBLIK_", "DATABASE_URL"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "indblik.settings",
        "INDBLIK_MODE": mode,
        "INDBLIK_DATA_DIR": str(tmp_path),
        "INDBLIK_SECRET_KEY": "k" * 20 + "Zq8-Pw3_Lm7xR2vT9nB4cY6hJ1dF5gS0aEabcdefghijklmnop",
        "INDBLIK_BASE_URL": "https://indblik.example.dk",
    }
    script = (
        "import django, logging; django.setup()\n"
        "from django.conf import settings\n"
        "print(settings.INDBLIK_LOG_FORMAT)\n"
        "logging.getLogger('indblik.test').warning('cpr %s', '0101504444')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == expected, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "indblik.test" in line]
    assert CPR_MASK in line and "0101504444" not in line
    if expected == "json":
        assert json.loads(line)["message"] == f"cpr {CPR_MASK}"
