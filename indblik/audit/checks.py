"""System checks (``indblik check``): catch an audit misconfiguration before the first request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from indblik.audit.actors import DEFAULT_RESOLVER


@register()
def check_actor_resolver(**kwargs: Any) -> list[CheckMessage]:
    """Refuse a resolver that cannot be imported: every audited request would fail."""
    path = getattr(settings, "INDBLIK_AUDIT_ACTOR_RESOLVER", DEFAULT_RESOLVER)
    try:
        resolver = import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"INDBLIK_AUDIT_ACTOR_RESOLVER {path!r} cannot be imported: {exc}",
                hint="Name a function taking the request and returning an Actor or None.",
                id="audit.E001",
            )
        ]
    if not callable(resolver):
        return [Error(f"INDBLIK_AUDIT_ACTOR_RESOLVER {path!r} is not callable", id="audit.E002")]
    return []


@register(deploy=True)
def check_signing_key(**kwargs: Any) -> list[CheckMessage]:
    """Warn when production has no checkpoint signing key (the log could not be sealed)."""
    if settings.PRODUCTION and not settings.INDBLIK_AUDIT_KEY_FILE:
        return [
            Warning(
                "INDBLIK_AUDIT_KEY_FILE is not set: `indblik audit checkpoint` cannot sign, so "
                "the audit log is not sealed against tampering",
                hint="See docs/audit.md, 'Keys'. Only the checkpoint job needs to read the key.",
                id="audit.W001",
            )
        ]
    return []
