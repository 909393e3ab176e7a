"""The forwarder's configuration, read once from Django settings (see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FACILITIES = {"authpriv": 10, **{f"local{n}": 16 + n for n in range(8)}}


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the TLS trust anchor and the optional client certificate (mutual TLS) live."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True, slots=True)
class SyslogTarget:
    """An RFC 5425 syslog receiver (``tls://host:port``)."""

    host: str
    port: int
    tls: TlsFiles
    facility: int = FACILITIES["authpriv"]
    enterprise_number: int = 32473
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class FhirTarget:
    """A FHIR server's base URL that accepts AuditEvent transactions."""

    url: str
    tls: TlsFiles
    token: str = ""
    timeout: float = 10.0

    def __repr__(self) -> str:
        # Never the token, whatever prints this object.
        return f"FhirTarget(url={self.url!r}, token={'***' if self.token else ''!r})"


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    """Everything the forwarder and the exporter need to know."""

    source_id: str
    base_url: str
    batch_size: int
    poll_seconds: float
    max_backoff_seconds: float
    syslog: SyslogTarget | None
    fhir: FhirTarget | None


def parse_syslog_url(url: str) -> tuple[str, int]:
    """Return (host, port) of ``tls://host:port``; raise ImproperlyConfigured otherwise."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tls" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ImproperlyConfigured(
            f"INDBLIK_AUDIT_SYSLOG_URL must look like tls://host:6514, not {url!r}"
        )
    return parts.hostname, port


def load() -> ForwardConfig:
    """Return the forwarding configuration from the settings."""
    timeout = float(settings.INDBLIK_AUDIT_FORWARD_TIMEOUT_SECONDS)
    syslog = None
    if settings.INDBLIK_AUDIT_SYSLOG_URL:
        host, port = parse_syslog_url(settings.INDBLIK_AUDIT_SYSLOG_URL)
        syslog = SyslogTarget(
            host=host,
            port=port,
            tls=TlsFiles(
                settings.INDBLIK_AUDIT_SYSLOG_CA_FILE,
                settings.INDBLIK_AUDIT_SYSLOG_CERT_FILE,
                settings.INDBLIK_AUDIT_SYSLOG_KEY_FILE,
            ),
            facility=FACILITIES[settings.INDBLIK_AUDIT_SYSLOG_FACILITY],
            enterprise_number=settings.INDBLIK_AUDIT_SYSLOG_ENTERPRISE_NUMBER,
            timeout=timeout,
        )
    fhir = None
    if settings.INDBLIK_AUDIT_FHIR_URL:
        fhir = FhirTarget(
            url=settings.INDBLIK_AUDIT_FHIR_URL.rstrip("/"),
            tls=TlsFiles(
                settings.INDBLIK_AUDIT_FHIR_CA_FILE,
                settings.INDBLIK_AUDIT_FHIR_CERT_FILE,
                settings.INDBLIK_AUDIT_FHIR_KEY_FILE,
            ),
            token=settings.INDBLIK_AUDIT_FHIR_TOKEN,
            timeout=timeout,
        )
    return ForwardConfig(
        source_id=settings.INDBLIK_AUDIT_SOURCE_ID,
        base_url=settings.INDBLIK_BASE_URL,
        batch_size=settings.INDBLIK_AUDIT_FORWARD_BATCH_SIZE,
        poll_seconds=float(settings.INDBLIK_AUDIT_FORWARD_POLL_SECONDS),
        max_backoff_seconds=float(settings.INDBLIK_AUDIT_FORWARD_MAX_BACKOFF_SECONDS),
        syslog=syslog,
        fhir=fhir,
    )
