"""Typed readers for the environment: the only way settings get their values.

Every helper raises ``ImproperlyConfigured`` with the variable's name on a bad value, so a
misconfigured server refuses to start instead of running with a surprising default.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(
    name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """Return the variable's value stripped of surrounding blanks, or ``default`` when unset."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        return default
    return value.strip()


def env_bool(name: str, default: bool = False, *, environ: Mapping[str, str] | None = None) -> bool:
    """Return a boolean from ``1/0, true/false, yes/no, on/off``."""
    value = env_str(name, environ=environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Return an integer within ``[minimum, maximum]``."""
    value = env_str(name, environ=environ)
    if value is None or value == "":
        result = default
    else:
        try:
            result = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {result}")
    if maximum is not None and result > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {result}")
    return result


def env_choice(
    name: str, default: str, choices: tuple[str, ...], *, environ: Mapping[str, str] | None = None
) -> str:
    """Return one of ``choices``."""
    value = env_str(name, environ=environ) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_list(name: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """Return a comma-separated list with empty items dropped."""
    value = env_str(name, environ=environ) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def env_json_object(name: str, *, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return a JSON object (``{}`` when unset)."""
    value = env_str(name, environ=environ)
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured(f"{name}: must be a JSON object")
    return parsed


def env_networks(
    name: str, *, environ: Mapping[str, str] | None = None
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Return a list of CIDR networks (IPv4 and IPv6)."""
    networks = []
    for item in env_list(name, environ=environ):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not a network address (CIDR)"
            ) from None
    return networks


def env_secret(name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """Return a secret from ``NAME`` or from the file named by ``NAME_FILE`` (mounted secrets).

    Setting both is an error: it is never clear which one the operator meant.
    """
    direct = env_str(name, environ=environ)
    path = env_str(f"{name}_FILE", environ=environ)
    if direct and path:
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return direct or None
