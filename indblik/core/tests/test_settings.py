"""Settings come from the environment only, and bad values stop the server at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from indblik.conf import env_bool, env_choice, env_int, env_list, env_networks, env_secret

GOOD_SECRET = "k" * 20 + "Zq8-Pw3_Lm7xR2vT9nB4cY6hJ1dF5gS0aE"


def start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Import the real settings in a fresh interpreter with exactly this environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INDBLIK_", "DATABASE_URL"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "indblik.settings", "INDBLIK_DATA_DIR": str(tmp_path)})
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    result = start({}, tmp_path)
    assert result.returncode != 0
    assert "INDBLIK_SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    "secret",
    ["changeme", "x" * 60, "short-but-random-Zq8Pw3", "a" * 50, "0123456789" * 5, "ab" * 26],
)
def test_production_refuses_a_placeholder_or_short_secret(tmp_path: Path, secret: str) -> None:
    env = {"INDBLIK_SECRET_KEY": secret, "INDBLIK_BASE_URL": "https://indblik.example.dk"}
    result = start(env, tmp_path)
    assert result.returncode != 0
    assert "placeholder" in result.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"INDBLIK_ALLOWED_HOSTS": "*"}, "INDBLIK_ALLOWED_HOSTS"),
        ({"INDBLIK_TRUSTED_PROXIES": "0.0.0.0/0"}, "INDBLIK_TRUSTED_PROXIES"),
        ({"INDBLIK_TRUSTED_PROXIES": "10.0.0.5/32,::/0"}, "INDBLIK_TRUSTED_PROXIES"),
    ],
)
def test_production_refuses_wildcard_hosts_and_proxy_networks(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    env = {
        **env,
        "INDBLIK_SECRET_KEY": GOOD_SECRET + "abcdefghijklmnop",
        "INDBLIK_BASE_URL": "https://indblik.example.dk",
    }
    result = start(env, tmp_path)
    assert result.returncode != 0 and named in result.stderr
    # A real proxy network starts.
    env["INDBLIK_ALLOWED_HOSTS"] = "indblik.internal.example.dk"
    env["INDBLIK_TRUSTED_PROXIES"] = "10.0.0.0/8,fd00::/48"
    assert start(env, tmp_path).stdout.strip() == "started"


def test_production_refuses_plain_http_and_debug(tmp_path: Path) -> None:
    env = {"INDBLIK_SECRET_KEY": GOOD_SECRET + "abcdefghijklmnop"}
    assert "https" in start(env, tmp_path).stderr
    env["INDBLIK_BASE_URL"] = "https://indblik.example.dk"
    env["INDBLIK_DEBUG"] = "true"
    assert "INDBLIK_DEBUG" in start(env, tmp_path).stderr


def test_production_starts_with_a_secret_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(GOOD_SECRET + "abcdefghijklmnop\n")
    env = {"INDBLIK_SECRET_KEY_FILE": str(secret_file), "INDBLIK_BASE_URL": "https://x.example.dk"}
    result = start(env, tmp_path)
    assert result.stdout.strip() == "started", result.stderr


def test_demo_generates_a_secret_outside_the_repository(tmp_path: Path) -> None:
    result = start({"INDBLIK_MODE": "demo"}, tmp_path)
    assert result.stdout.strip() == "started", result.stderr
    secret = (tmp_path / "secret_key").read_text()
    assert len(secret) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INDBLIK_MODE": "staging"}, "INDBLIK_MODE"),
        ({"INDBLIK_SESSION_IDLE_MINUTES": "soon"}, "whole number"),
        ({"INDBLIK_SESSION_MAX_HOURS": "0"}, "at least 1"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"INDBLIK_TRUSTED_PROXIES": "10.0.0.0/8, not-a-net"}, "not-a-net"),
        ({"INDBLIK_BASE_URL": "ftp://x"}, "INDBLIK_BASE_URL"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = start({"INDBLIK_MODE": "demo", **env}, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_helpers_read_typed_values() -> None:
    environ = {"A": " yes ", "B": "42", "C": "a, b,,c", "D": "10.0.0.0/8,::1/128", "E": "demo"}
    assert env_bool("A", environ=environ) is True
    assert env_bool("MISSING", True, environ=environ) is True
    assert env_int("B", 0, environ=environ) == 42
    assert env_list("C", environ=environ) == ["a", "b", "c"]
    assert [str(n) for n in env_networks("D", environ=environ)] == ["10.0.0.0/8", "::1/128"]
    assert env_choice("E", "production", ("production", "demo"), environ=environ) == "demo"
    with pytest.raises(ImproperlyConfigured, match="B must be at most 10"):
        env_int("B", 0, maximum=10, environ=environ)
    with pytest.raises(ImproperlyConfigured, match="true or false"):
        env_bool("B", environ=environ)


def test_a_secret_is_read_from_its_file_but_never_from_both(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("from-file\n")
    assert env_secret("S", environ={"S_FILE": str(path)}) == "from-file"
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("S", environ={"S": "x", "S_FILE": str(path)})
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_secret("S", environ={"S_FILE": str(tmp_path / "missing")})


def test_production_has_no_password_sign_in(tmp_path: Path) -> None:
    env = {
        "INDBLIK_SECRET_KEY": GOOD_SECRET + "abcdefghijklmnop",
        "INDBLIK_BASE_URL": "https://indblik.example.dk",
        "DJANGO_SETTINGS_MODULE": "indblik.settings",
    }
    code = "from django.conf import settings; print(settings.AUTHENTICATION_BACKENDS)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INDBLIK_", "DATABASE_URL"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=clean | env | {"INDBLIK_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "['indblik.identity.backends.BrokerBackend']", result.stderr
