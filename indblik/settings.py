"""Django settings for Indblik, read from environment variables only.

See docs/configuration.md for every variable. Production is the default mode: it refuses to
start with a missing or placeholder secret, with DEBUG on, or with demo features enabled.
"""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from indblik.conf import (
    env_bool,
    env_choice,
    env_int,
    env_json_object,
    env_list,
    env_networks,
    env_secret,
    env_str,
)

PACKAGE_DIR = Path(__file__).resolve().parent

# pysaml2 still imports a cipher mode that cryptography has moved; it does not use it for
# anything Indblik accepts. Keep the notice out of every command's output.
warnings.filterwarnings("ignore", message="CFB has been moved", module=r"saml2\.")

INDBLIK_MODE = env_choice("INDBLIK_MODE", "production", ("production", "demo", "test"))
PRODUCTION = INDBLIK_MODE == "production"
DEMO = INDBLIK_MODE == "demo"

DATA_DIR = Path(
    env_str("INDBLIK_DATA_DIR") or ("/var/lib/indblik" if PRODUCTION else str(Path.cwd() / "var"))
)
if not PRODUCTION:
    # Also the (empty) static root, which whitenoise expects to exist.
    (DATA_DIR / "static").mkdir(parents=True, exist_ok=True)

# --- secrets ----------------------------------------------------------------------------
_PLACEHOLDERS = ("changeme", "change-me", "change_me", "secret", "insecure", "placeholder", "xxx")


def _generated_secret(path: Path) -> str:
    """Return a secret kept in the data directory, created on first use (demo and test only)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(50)
        path.touch(mode=0o600)
        path.write_text(value, encoding="utf-8")
        return value


SECRET_KEY = env_secret("INDBLIK_SECRET_KEY") or ""
if PRODUCTION:
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "INDBLIK_SECRET_KEY (or INDBLIK_SECRET_KEY_FILE) must be set in production mode"
        )
    if (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 20  # "a" * 50, "0123456789" * 5: long, not random
        or any(word in SECRET_KEY.lower() for word in _PLACEHOLDERS)
    ):
        raise ImproperlyConfigured(
            "INDBLIK_SECRET_KEY looks like a placeholder: use at least 50 random characters, "
            "e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`"
        )
elif not SECRET_KEY:
    SECRET_KEY = _generated_secret(DATA_DIR / "secret_key")

DEBUG = env_bool("INDBLIK_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("INDBLIK_DEBUG cannot be on in production mode")

# --- where we are served ------------------------------------------------------------------
INDBLIK_BASE_URL = (env_str("INDBLIK_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
_base = urlsplit(INDBLIK_BASE_URL)
if _base.scheme not in ("http", "https") or not _base.hostname:
    raise ImproperlyConfigured(f"INDBLIK_BASE_URL must be an http(s) URL, not {INDBLIK_BASE_URL!r}")
if PRODUCTION and _base.scheme != "https":
    raise ImproperlyConfigured("INDBLIK_BASE_URL must use https in production mode")
SECURE = _base.scheme == "https"

ALLOWED_HOSTS = [_base.hostname, *env_list("INDBLIK_ALLOWED_HOSTS")]
if not PRODUCTION:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]

INDBLIK_TRUSTED_PROXIES = env_networks("INDBLIK_TRUSTED_PROXIES")
if PRODUCTION:
    if "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "INDBLIK_ALLOWED_HOSTS cannot be * in production mode: name the hosts"
        )
    # A proxy network this wide believes any client's X-Forwarded-For (the address the
    # organisation allowlist, the audit and the rate limits rely on).
    _too_wide = [
        str(network)
        for network in INDBLIK_TRUSTED_PROXIES
        if network.prefixlen < (8 if network.version == 4 else 32)
    ]
    if _too_wide:
        raise ImproperlyConfigured(
            f"INDBLIK_TRUSTED_PROXIES: {', '.join(_too_wide)} is too wide for a proxy network "
            "(at least /8 for IPv4, /32 for IPv6): list the reverse proxies' addresses"
        )
# Where the chart reads the record: "local" (the ingested store) or a FHIR R4 server's base
# URL, read live with SMART Backend Services (indblik.records.live; docs/configuration.md).
INDBLIK_RECORD_SOURCE = (env_str("INDBLIK_RECORD_SOURCE") or "local").rstrip("/")
INDBLIK_FHIR_CLIENT_ID = env_str("INDBLIK_FHIR_CLIENT_ID") or ""
INDBLIK_FHIR_CLIENT_KEY_FILE = env_str("INDBLIK_FHIR_CLIENT_KEY_FILE") or ""
INDBLIK_FHIR_TOKEN_URL = env_str("INDBLIK_FHIR_TOKEN_URL") or ""  # else from SMART discovery
INDBLIK_FHIR_SCOPE = env_str("INDBLIK_FHIR_SCOPE") or "system/*.read"
INDBLIK_FHIR_CA_FILE = env_str("INDBLIK_FHIR_CA_FILE") or ""
INDBLIK_FHIR_CLIENT_CERT_FILE = env_str("INDBLIK_FHIR_CLIENT_CERT_FILE") or ""  # mutual TLS
INDBLIK_FHIR_CLIENT_CERT_KEY_FILE = env_str("INDBLIK_FHIR_CLIENT_CERT_KEY_FILE") or ""
INDBLIK_FHIR_TIMEOUT_MS = env_int("INDBLIK_FHIR_TIMEOUT_MS", 5000, minimum=100, maximum=60000)
# Send a page's searches as one FHIR batch: auto (when the server's CapabilityStatement offers
# the batch interaction), on, or off (one request per search, concurrently).
INDBLIK_FHIR_BATCH = env_choice("INDBLIK_FHIR_BATCH", "auto", ("auto", "on", "off"))
INDBLIK_FHIR_MAX_BYTES = env_int(
    "INDBLIK_FHIR_MAX_BYTES", 16 * 1024 * 1024, minimum=64 * 1024, maximum=512 * 1024 * 1024
)
if INDBLIK_RECORD_SOURCE != "local":
    from indblik.records.live.config import validate_settings as _validate_live_source

    _validate_live_source(
        INDBLIK_RECORD_SOURCE,
        production=PRODUCTION,
        client_id=INDBLIK_FHIR_CLIENT_ID,
        key_file=INDBLIK_FHIR_CLIENT_KEY_FILE,
        cert_file=INDBLIK_FHIR_CLIENT_CERT_FILE,
        cert_key_file=INDBLIK_FHIR_CLIENT_CERT_KEY_FILE,
        token_url=INDBLIK_FHIR_TOKEN_URL,
    )

# Machine clients (feeds on /fhir/r4/, organisations' SCIM clients) present a client
# certificate to nginx, which verifies it and passes its subject on in X-Client-Cert-Subject;
# the header is believed only from INDBLIK_TRUSTED_PROXIES (indblik.audit.net). A client named
# here must present exactly this subject as well as its bearer token, e.g.
# {"feed:sp-integration": "CN=sp-integration,O=Region Hovedstaden,C=DK",
#  "scim:29189846": "CN=scim,O=Frederiksberg Kommune,C=DK"}. docs/operations.md, "Mutual TLS".
INDBLIK_CLIENT_CERT_SUBJECTS = env_json_object("INDBLIK_CLIENT_CERT_SUBJECTS")
for _client, _subject in INDBLIK_CLIENT_CERT_SUBJECTS.items():
    if not _client.startswith(("feed:", "scim:")) or not isinstance(_subject, str) or not _subject:
        raise ImproperlyConfigured(
            "INDBLIK_CLIENT_CERT_SUBJECTS maps 'feed:NAME' or 'scim:CVR' to a subject DN, "
            f"not {_client!r}: {_subject!r}"
        )

# --- rate limits (indblik.core.ratelimit; docs/operations.md "Rate limits") ---------------
# Requests per client address and window on sign-in (/saml2/login/, /saml2/acs/), launch and
# SCIM, counted in the database so every app server shares them. A whole municipality may
# reach us from one NAT address: keep them generous. 0 turns a limit off.
INDBLIK_RATE_LIMIT_WINDOW_SECONDS = env_int(
    "INDBLIK_RATE_LIMIT_WINDOW_SECONDS", 60, minimum=1, maximum=3600
)
INDBLIK_RATE_LIMIT_LOGIN = env_int("INDBLIK_RATE_LIMIT_LOGIN", 120, minimum=0, maximum=10**6)
INDBLIK_RATE_LIMIT_LAUNCH = env_int("INDBLIK_RATE_LIMIT_LAUNCH", 300, minimum=0, maximum=10**6)
INDBLIK_RATE_LIMIT_SCIM = env_int("INDBLIK_RATE_LIMIT_SCIM", 600, minimum=0, maximum=10**6)
# The SMART token endpoint (POST /fhir/r4/auth/token): a client needs one token per 5 minutes.
INDBLIK_RATE_LIMIT_TOKEN = env_int("INDBLIK_RATE_LIMIT_TOKEN", 120, minimum=0, maximum=10**6)

# --- access policy ------------------------------------------------------------------------
# Per organisation type overrides of the access policy's defaults (indblik.access.policy), as
# a JSON object, e.g. {"municipality": {"care_event_days": 14}}.
INDBLIK_ACCESS_POLICY = env_json_object("INDBLIK_ACCESS_POLICY")
# Note/document types (``system|code`` of the resource's code or type) that, like resources
# labelled R or V, are never shown to external users.
INDBLIK_RESTRICTED_TYPES = env_list("INDBLIK_RESTRICTED_TYPES")

# --- ingestion limits -------------------------------------------------------------------
INDBLIK_INGEST_MAX_BYTES = env_int(
    "INDBLIK_INGEST_MAX_BYTES", 64 * 1024 * 1024, minimum=1024, maximum=2**34
)
INDBLIK_INGEST_MAX_LINE_BYTES = env_int(
    "INDBLIK_INGEST_MAX_LINE_BYTES", 16 * 1024 * 1024, minimum=1024, maximum=2**31
)
INDBLIK_INGEST_MAX_DEPTH = env_int("INDBLIK_INGEST_MAX_DEPTH", 32, minimum=8, maximum=256)

# --- applications -----------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "indblik.core",
    "indblik.records",
    "indblik.audit",
    "indblik.organisations",
    "indblik.identity",
    "indblik.access",
    "indblik.chart",
    "indblik.followup",
    "indblik.usage",
    "djangosaml2",
]

MIDDLEWARE = [
    # Outermost: the request id (response header, every log line) and the request's log line
    # and latency cover everything below (indblik.core.logs, indblik.core.metrics).
    "indblik.core.logs.RequestLogMiddleware",
    "indblik.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Browser protections of every response (indblik.core.headers; docs/security-model.md),
    # static files included: they sit outside WhiteNoise.
    "indblik.core.headers.SecurityHeadersMiddleware",
    "indblik.core.headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "indblik.identity.saml.SamlSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any view work (SAML parsing, token decryption), after the user is known.
    "indblik.core.ratelimit.RateLimitMiddleware",
    "indblik.identity.sessions.SessionPolicyMiddleware",
    "indblik.organisations.middleware.NetworkAllowlistMiddleware",
    "indblik.identity.reauth.ReauthenticationMiddleware",  # /admin/ changes: recent sign-in
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: turns a failed audit write raised by a view into a 503 page without data.
    "indblik.audit.middleware.AuditFailureMiddleware",
]

ROOT_URLCONF = "indblik.urls"
WSGI_APPLICATION = "indblik.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "indblik.views.mode_context",
            ],
        },
    }
]

# --- database -----------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'indblik.sqlite3'}"
try:
    _database = dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE avoids upgrade deadlocks.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
        "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
    }
elif _database["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be sqlite:/// or postgres://")
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "identity.User"

# --- language and time --------------------------------------------------------------------
LANGUAGE_CODE = "da"
LANGUAGES = [("da", _("Danish")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Europe/Copenhagen"
USE_I18N = True
USE_TZ = True

# --- static files -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_ALLOW_ALL_ORIGINS = False  # no Access-Control-Allow-Origin: * on our files

# --- sessions and cookies -----------------------------------------------------------------
INDBLIK_SESSION_IDLE_MINUTES = env_int("INDBLIK_SESSION_IDLE_MINUTES", 15, minimum=1, maximum=240)
INDBLIK_SESSION_MAX_HOURS = env_int("INDBLIK_SESSION_MAX_HOURS", 8, minimum=1, maximum=24)
# A hospital administrator must have signed in (or confirmed who they are) within this many
# minutes before changing anything in /admin/ (indblik.identity.reauth).
INDBLIK_ADMIN_REAUTH_MINUTES = env_int("INDBLIK_ADMIN_REAUTH_MINUTES", 10, minimum=1, maximum=240)
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# The idle timeout is enforced (and audited) by indblik.identity.sessions; the cookie itself
# lives as long as the absolute limit so the store never drops a session silently first.
SESSION_COOKIE_AGE = INDBLIK_SESSION_MAX_HOURS * 3600
# Saved when changed only (the idle clock writes at most every 30 s): no write per page.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
CSRF_COOKIE_HTTPONLY = True
if SECURE:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# --- transport security and browser protections (applied by indblik.core.headers) ----------
SECURE_CONTENT_TYPE_NOSNIFF = True
# No referrer at all by default. A page that renders a CSRF token (a POST form) is sent with
# "same-origin" instead: under "no-referrer" Chromium sends "Origin: null" with same-origin
# form POSTs and Django's CSRF check refuses them. Nothing ever goes to another site.
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts and styles are static files; a nonce exists on every response for the rare inline
# <script nonce="{{ request.csp_nonce }}">. No inline styles, not even style="" attributes.
# form-action also gets the identity provider's origins from its metadata, per response.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [NONE],
    }
}
INDBLIK_PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
if SECURE:
    SECURE_SSL_REDIRECT = env_bool("INDBLIK_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = 63072000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # nginx terminates TLS and says so; only trusted proxies reach gunicorn (docs/operations.md).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- audit log integrity (issue 7; owned by indblik/audit, see docs/audit.md) --------------
# Ed25519 private key (PEM) that signs checkpoints: required by `indblik audit checkpoint` in
# production, generated into DATA_DIR in demo/test. Older public keys (PEM files, comma-
# separated) keep checkpoints signed before a key rotation verifiable.
INDBLIK_AUDIT_KEY_FILE = env_str("INDBLIK_AUDIT_KEY_FILE") or ""
INDBLIK_AUDIT_PUBLIC_KEYS = env_list("INDBLIK_AUDIT_PUBLIC_KEYS")
# A checkpoint seals only rows older than this, so no slow transaction can still add to them.
INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS = env_int(
    "INDBLIK_AUDIT_CHECKPOINT_MARGIN_SECONDS", 60, minimum=5, maximum=86400
)

# --- audit forwarding and export (issue 7; owned by indblik/audit/forward, see docs/audit.md
# "Forwarding") ---------------------------------------------------------------------------
# `indblik audit forward` ships every audit event, in id order and once, to each receiver set
# here: RFC 5425 syslog over TLS (IHE ATNA XML) and/or a FHIR server (AuditEvent, IHE BALP).
# Unset URL = no such receiver. The token may come from INDBLIK_AUDIT_FHIR_TOKEN_FILE.
INDBLIK_AUDIT_SOURCE_ID = env_str("INDBLIK_AUDIT_SOURCE_ID") or "indblik"
if not (
    len(INDBLIK_AUDIT_SOURCE_ID) <= 40
    and INDBLIK_AUDIT_SOURCE_ID[0].isalnum()
    and all(c.isascii() and (c.isalnum() or c in ".-") for c in INDBLIK_AUDIT_SOURCE_ID)
):
    raise ImproperlyConfigured(
        "INDBLIK_AUDIT_SOURCE_ID: 1-40 letters, digits, dots and dashes (a syslog host name)"
    )
INDBLIK_AUDIT_SYSLOG_URL = env_str("INDBLIK_AUDIT_SYSLOG_URL") or ""
if INDBLIK_AUDIT_SYSLOG_URL:
    _syslog = urlsplit(INDBLIK_AUDIT_SYSLOG_URL)
    try:
        _syslog_port = _syslog.port
    except ValueError:
        _syslog_port = None
    if _syslog.scheme != "tls" or not _syslog.hostname or _syslog_port is None:
        raise ImproperlyConfigured(
            f"INDBLIK_AUDIT_SYSLOG_URL must look like tls://host:6514, not "
            f"{INDBLIK_AUDIT_SYSLOG_URL!r} (plain TCP or UDP syslog is not offered)"
        )
INDBLIK_AUDIT_SYSLOG_CA_FILE = env_str("INDBLIK_AUDIT_SYSLOG_CA_FILE") or ""
INDBLIK_AUDIT_SYSLOG_CERT_FILE = env_str("INDBLIK_AUDIT_SYSLOG_CERT_FILE") or ""
INDBLIK_AUDIT_SYSLOG_KEY_FILE = env_str("INDBLIK_AUDIT_SYSLOG_KEY_FILE") or ""
INDBLIK_AUDIT_SYSLOG_FACILITY = env_choice(
    "INDBLIK_AUDIT_SYSLOG_FACILITY",
    "authpriv",
    ("authpriv", *(f"local{_n}" for _n in range(8))),
)
# The private enterprise number in the structured-data id (indblik@NUMBER). 32473 is the
# number RFC 5612 reserves for documentation: set your organisation's own.
INDBLIK_AUDIT_SYSLOG_ENTERPRISE_NUMBER = env_int(
    "INDBLIK_AUDIT_SYSLOG_ENTERPRISE_NUMBER", 32473, minimum=1, maximum=2**31 - 1
)
INDBLIK_AUDIT_FHIR_URL = env_str("INDBLIK_AUDIT_FHIR_URL") or ""
if INDBLIK_AUDIT_FHIR_URL and not (
    INDBLIK_AUDIT_FHIR_URL.startswith("https://")
    or (not PRODUCTION and INDBLIK_AUDIT_FHIR_URL.startswith("http://"))
):
    raise ImproperlyConfigured("INDBLIK_AUDIT_FHIR_URL must be an https:// URL")
if urlsplit(INDBLIK_AUDIT_FHIR_URL).password:
    raise ImproperlyConfigured(
        "INDBLIK_AUDIT_FHIR_URL: no password in the URL; use INDBLIK_AUDIT_FHIR_TOKEN_FILE"
    )
INDBLIK_AUDIT_FHIR_TOKEN = env_secret("INDBLIK_AUDIT_FHIR_TOKEN") or ""
INDBLIK_AUDIT_FHIR_CA_FILE = env_str("INDBLIK_AUDIT_FHIR_CA_FILE") or ""
INDBLIK_AUDIT_FHIR_CERT_FILE = env_str("INDBLIK_AUDIT_FHIR_CERT_FILE") or ""
INDBLIK_AUDIT_FHIR_KEY_FILE = env_str("INDBLIK_AUDIT_FHIR_KEY_FILE") or ""
if bool(INDBLIK_AUDIT_SYSLOG_CERT_FILE) != bool(INDBLIK_AUDIT_SYSLOG_KEY_FILE):
    raise ImproperlyConfigured(
        "set both INDBLIK_AUDIT_SYSLOG_CERT_FILE and INDBLIK_AUDIT_SYSLOG_KEY_FILE, or neither"
    )
if bool(INDBLIK_AUDIT_FHIR_CERT_FILE) != bool(INDBLIK_AUDIT_FHIR_KEY_FILE):
    raise ImproperlyConfigured(
        "set both INDBLIK_AUDIT_FHIR_CERT_FILE and INDBLIK_AUDIT_FHIR_KEY_FILE, or neither"
    )
INDBLIK_AUDIT_FORWARD_BATCH_SIZE = env_int(
    "INDBLIK_AUDIT_FORWARD_BATCH_SIZE", 100, minimum=1, maximum=1000
)
INDBLIK_AUDIT_FORWARD_POLL_SECONDS = env_int(
    "INDBLIK_AUDIT_FORWARD_POLL_SECONDS", 5, minimum=1, maximum=3600
)
INDBLIK_AUDIT_FORWARD_TIMEOUT_SECONDS = env_int(
    "INDBLIK_AUDIT_FORWARD_TIMEOUT_SECONDS", 10, minimum=1, maximum=300
)
INDBLIK_AUDIT_FORWARD_MAX_BACKOFF_SECONDS = env_int(
    "INDBLIK_AUDIT_FORWARD_MAX_BACKOFF_SECONDS", 300, minimum=1, maximum=3600
)

# --- launch tokens (issue 5; owned by indblik/access, see indblik/access/tokens.py) ----------
# Private EC P-256 JWK (or JWK Set, for rotation) that decrypts the care systems' launch
# tokens: required in production (`indblik check --deploy`, /readyz), generated into DATA_DIR
# in demo/test. Plain signed (unencrypted) tokens are accepted only when encryption is off.
INDBLIK_LAUNCH_KEY_FILE = env_str("INDBLIK_LAUNCH_KEY_FILE") or ""
INDBLIK_LAUNCH_REQUIRE_ENCRYPTION = env_bool("INDBLIK_LAUNCH_REQUIRE_ENCRYPTION", True)
INDBLIK_LAUNCH_CLOCK_SKEW_SECONDS = env_int(
    "INDBLIK_LAUNCH_CLOCK_SKEW_SECONDS", 30, minimum=0, maximum=120
)

# --- log follow-up (issue 7; owned by indblik/followup, see docs/followup.md) --------------
# Random spot checks drawn per organisation per week, for its log reviewer.
INDBLIK_FOLLOWUP_SPOT_CHECKS_PER_WEEK = env_int(
    "INDBLIK_FOLLOWUP_SPOT_CHECKS_PER_WEEK", 5, minimum=0, maximum=100
)
# Labels (``system|code`` in Patient.meta.security or meta.tag) that mark a citizen whose
# lookups are always flagged (public figures and other VIPs).
INDBLIK_FOLLOWUP_VIP_LABELS = env_list("INDBLIK_FOLLOWUP_VIP_LABELS") or [
    "http://terminology.hl7.org/CodeSystem/v3-ActCode|CELEB",
    "https://indblik.dk/fhir/CodeSystem/followup|vip",
]

# --- usage and feedback (issue 4; owned by indblik/usage, see docs/organisations.md) -------
# The chart's optional "How useful was this lookup?" prompt (at most once per user per week).
INDBLIK_FEEDBACK_PROMPT = env_bool("INDBLIK_FEEDBACK_PROMPT", True)

# --- logging and metrics (indblik.core.logs, indblik.core.metrics; docs/operations.md) -------
# One JSON object per line in production (for the log shipper), readable lines elsewhere;
# every line of a request carries its id, and CPR-like numbers are masked either way.
INDBLIK_LOG_FORMAT = env_choice(
    "INDBLIK_LOG_FORMAT", "json" if PRODUCTION else "text", ("json", "text")
)
# /metrics is off (404) unless a bearer token and/or the scrapers' networks are set; with
# both, a scrape needs both. The token is a secret: give it as INDBLIK_METRICS_TOKEN_FILE.
INDBLIK_METRICS_TOKEN = env_secret("INDBLIK_METRICS_TOKEN") or ""
if INDBLIK_METRICS_TOKEN and (
    len(INDBLIK_METRICS_TOKEN) < 32
    or any(word in INDBLIK_METRICS_TOKEN.lower() for word in _PLACEHOLDERS)
):
    raise ImproperlyConfigured(
        "INDBLIK_METRICS_TOKEN looks like a placeholder: use at least 32 random characters"
    )
INDBLIK_METRICS_NETWORKS = env_networks("INDBLIK_METRICS_NETWORKS")

LOGGING_CONFIG = "indblik.core.logs.configure"  # dictConfig, and Python's warnings too
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "indblik.core.logs.JsonFormatter"},
        "text": {"()": "indblik.core.logs.TextFormatter"},
    },
    "filters": {"request_id": {"()": "indblik.core.logs.RequestIdFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": INDBLIK_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("INDBLIK_LOG_LEVEL") or "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # pysaml2's schema loader announces every schema it reads.
        "xmlschema": {"level": "WARNING"},
        # pysaml2 logs NameIDs at INFO and whole decrypted assertions (a citizen's CPR) at
        # DEBUG: never below WARNING, whatever INDBLIK_LOG_LEVEL says.
        "saml2": {"level": "WARNING"},
        "djangosaml2": {"level": "WARNING"},
        # httpx logs every request's URL at INFO: a live source's searches name the patient's
        # id at the hospital, and the token endpoint's exchanges are nobody's business.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- identity (SAML) ------------------------------------------------------------------------
# Owned by indblik/identity; every variable is described in docs/identity.md. Values are
# checked here; whether the key files and metadata are usable is checked when the web server
# loads (indblik.identity.saml.SamlSessionMiddleware) and by `indblik check --deploy`, so that
# commands which never touch SAML (migrate, org, ingest, --help) run before keys exist.
INDBLIK_SAML_DEMO_IDP = env_bool("INDBLIK_SAML_DEMO_IDP", not PRODUCTION)
if PRODUCTION and INDBLIK_SAML_DEMO_IDP:
    raise ImproperlyConfigured("INDBLIK_SAML_DEMO_IDP cannot be on in production mode")
INDBLIK_SAML_IDP_METADATA = env_list("INDBLIK_SAML_IDP_METADATA")
for _source in INDBLIK_SAML_IDP_METADATA:
    if "://" in _source and not _source.startswith("https://"):
        raise ImproperlyConfigured(
            f"INDBLIK_SAML_IDP_METADATA: {_source!r}: fetch metadata over https or from a file"
        )
INDBLIK_SAML_IDP_METADATA_CERT = env_str("INDBLIK_SAML_IDP_METADATA_CERT") or ""
INDBLIK_SAML_IDP_ENTITY_ID = env_str("INDBLIK_SAML_IDP_ENTITY_ID") or ""
_saml_dir = DATA_DIR / "saml"
INDBLIK_SAML_KEY_FILE = env_str("INDBLIK_SAML_KEY_FILE") or (
    "" if PRODUCTION else str(_saml_dir / "sp-key.pem")
)
INDBLIK_SAML_CERT_FILE = env_str("INDBLIK_SAML_CERT_FILE") or (
    "" if PRODUCTION else str(_saml_dir / "sp-cert.pem")
)
# Generated at first use (never at import) when these are the data-directory defaults.
INDBLIK_SAML_GENERATE_KEYS = not PRODUCTION and not env_str("INDBLIK_SAML_KEY_FILE")
INDBLIK_SAML_NEXT_KEY_FILE = env_str("INDBLIK_SAML_NEXT_KEY_FILE") or ""
INDBLIK_SAML_NEXT_CERT_FILE = env_str("INDBLIK_SAML_NEXT_CERT_FILE") or ""
if bool(INDBLIK_SAML_NEXT_KEY_FILE) != bool(INDBLIK_SAML_NEXT_CERT_FILE):
    raise ImproperlyConfigured(
        "set both INDBLIK_SAML_NEXT_KEY_FILE and INDBLIK_SAML_NEXT_CERT_FILE, or neither"
    )
INDBLIK_SAML_REQUIRE_ENCRYPTION = env_bool("INDBLIK_SAML_REQUIRE_ENCRYPTION", PRODUCTION)
INDBLIK_SAML_REQUIRE_RESPONSE_SIGNATURE = env_bool("INDBLIK_SAML_REQUIRE_RESPONSE_SIGNATURE", False)
INDBLIK_SAML_CLOCK_SKEW_SECONDS = env_int(
    "INDBLIK_SAML_CLOCK_SKEW_SECONDS", 60, minimum=0, maximum=300
)
INDBLIK_SAML_REQUEST_MAX_AGE_MINUTES = env_int(
    "INDBLIK_SAML_REQUEST_MAX_AGE_MINUTES", 15, minimum=1, maximum=60
)
INDBLIK_SAML_METADATA_REFRESH_MINUTES = env_int(
    "INDBLIK_SAML_METADATA_REFRESH_MINUTES", 60, minimum=1, maximum=1440
)
INDBLIK_SAML_XMLSEC_BINARY = env_str("INDBLIK_SAML_XMLSEC_BINARY") or "/usr/bin/xmlsec1"
INDBLIK_SAML_AUTHORISATION_ATTRIBUTE = env_str("INDBLIK_SAML_AUTHORISATION_ATTRIBUTE") or (
    "https://data.gov.dk/model/core/eid/professional/authorisationCode"
)
_demo_roles = "http://demo.indblik.dk/roles/jobrole/"
INDBLIK_SAML_DELEGATED_ROLE = env_str("INDBLIK_SAML_DELEGATED_ROLE") or (
    "" if PRODUCTION else _demo_roles + "indblik-delegeret/1"
)
INDBLIK_SAML_REVIEWER_ROLE = env_str("INDBLIK_SAML_REVIEWER_ROLE") or (
    "" if PRODUCTION else _demo_roles + "indblik-logopfoelgning/1"
)
INDBLIK_SAML_ADMIN_ROLE = env_str("INDBLIK_SAML_ADMIN_ROLE") or (
    "" if PRODUCTION else _demo_roles + "indblik-administration/1"
)
# The hospital's own CVR: its administrators sign in without being a registered organisation.
INDBLIK_SAML_ADMIN_CVR = env_str("INDBLIK_SAML_ADMIN_CVR") or ("" if PRODUCTION else "29190623")
if INDBLIK_SAML_ADMIN_CVR and not (
    len(INDBLIK_SAML_ADMIN_CVR) == 8 and INDBLIK_SAML_ADMIN_CVR.isdigit()
):
    raise ImproperlyConfigured("INDBLIK_SAML_ADMIN_CVR must be 8 digits")
INDBLIK_SAML_ADMIN_GROUP = env_str("INDBLIK_SAML_ADMIN_GROUP") or "Hospital administrators"
INDBLIK_SAML_CITIZEN_LOGIN = env_bool("INDBLIK_SAML_CITIZEN_LOGIN", not PRODUCTION)

AUTHENTICATION_BACKENDS = ["indblik.identity.backends.BrokerBackend"]
if not PRODUCTION:
    # Password sign-in (the demo's `admin` user) only outside production: there, staff sign in
    # through the broker with NSIS Substantial like everyone else.
    AUTHENTICATION_BACKENDS.append("django.contrib.auth.backends.ModelBackend")
LOGIN_URL = "identity:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "identity:logged-out"
INDBLIK_AUDIT_ACTOR_RESOLVER = "indblik.identity.audit_actor.actor_for_request"
# djangosaml2: our cached loader; its second cookie carries only the outstanding AuthnRequest
# ids across the broker's cross-site POST (SameSite=None needs Secure, so Lax over plain http).
SAML_CONFIG_LOADER = "indblik.identity.saml.config_loader"
SAML_SESSION_COOKIE_NAME = "__Host-saml_session" if SECURE else "saml_session"
SAML_SESSION_COOKIE_SAMESITE = "None" if SECURE else "Lax"
SAML_CSP_HANDLER = ""  # CSP belongs to the project's middleware, not to djangosaml2
SAML_LOGOUT_REQUEST_PREFERRED_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
