"""deploy/nginx in front of a production-mode gunicorn, on loopback, with a CA made here.

A real Debian nginx runs the shipped configuration (only host names, ports and file paths are
rewritten) in front of ``indblik serve``. Checked from outside, as a client would see it: the
TLS protocol floor, HSTS, the HTTP to HTTPS redirect, mutual TLS on the machine APIs (a valid
client certificate in; none, an untrusted or an expired one out), and that the app records
the real client address only as told by the trusted proxy.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from indblik.core.tests.pki import Authority, Issued, subject_of
from indblik.core.tests.production import clean_environment, indblik, production_environment

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "nginx"
WEB_HOST = "indblik.test"
API_HOST = "api.indblik.test"
FEED_SUBJECT = "CN=sp-integration,O=Test Region,C=DK"
CLIENT_PEER = "127.0.0.2"  # the "browser" or "feed" connects from here; nginx is 127.0.0.1


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"port {port} never opened: {log.read_text()[-3000:]}")


def render_site(*, tls: Path, app_port: int, http_port: int, https_port: int, logs: Path) -> str:
    """Return deploy/nginx/indblik.conf for this machine; fail if a rewrite no longer fits."""
    text = (DEPLOY / "indblik.conf").read_text()
    rewrites = [
        ("listen [::]:80;\n", ""),
        ("listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("api.indblik.example.dk", API_HOST),
        ("indblik.example.dk", WEB_HOST),
        ("/etc/indblik/tls/", f"{tls}/"),
        ("/etc/nginx/snippets/", f"{DEPLOY}/"),
        ("/var/log/nginx/", f"{logs}/"),
    ]
    for old, new in rewrites:
        assert old in text, f"deploy/nginx/indblik.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@dataclass
class Deployment:
    https_port: int
    http_port: int
    app_port: int
    ca: Path
    client: Issued
    expired_client: Issued
    stranger: Issued
    other_system: Issued
    feed_token: str
    database: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    nginx = nginx_binary()
    if nginx is None:
        pytest.skip("nginx is not installed: `scripts/bootstrap.sh test` installs nginx-light")
    root = tmp_path_factory.mktemp("deploy")
    tls, logs, prefix = root / "tls", root / "logs", root / "nginx"
    for directory in (tls, logs, prefix):
        directory.mkdir()
    ca = Authority(tls, "Test Region CA")
    server = ca.issue("server", subject_of(f"CN={WEB_HOST}"), dns=(WEB_HOST, API_HOST))
    (tls / "server-chain.pem").write_bytes(server.cert.read_bytes() + ca.path.read_bytes())
    shutil.copy(server.key, tls / "server-key.pem")
    shutil.copy(ca.path, tls / "client-ca.pem")
    client = ca.issue("feed", subject_of(FEED_SUBJECT))
    expired_client = ca.issue("feed-expired", subject_of(FEED_SUBJECT), expired=True)
    stranger = Authority(tls, "Somebody Else CA").issue("stranger", subject_of(FEED_SUBJECT))
    other_system = ca.issue("other-system", subject_of("CN=other-system,O=Test Region,C=DK"))

    https_port, http_port, app_port = free_port(), free_port(), free_port()
    env = production_environment(root / "app", base_url=f"https://{WEB_HOST}")
    env |= {
        "INDBLIK_ALLOWED_HOSTS": API_HOST,
        "INDBLIK_TRUSTED_PROXIES": "127.0.0.1/32",
        "INDBLIK_CLIENT_CERT_SUBJECTS": json.dumps({"feed:sp-integration": FEED_SUBJECT}),
    }
    migrated = indblik("migrate", "--no-input", env=env, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    collected = indblik("collectstatic", "--no-input", env=env, timeout=300)
    assert collected.returncode == 0, collected.stderr
    added = indblik("feed", "add", "sp-integration", env=env)
    assert added.returncode == 0, added.stderr
    feed_token = added.stdout.strip().splitlines()[-1]

    app_log = root / "gunicorn.log"
    with app_log.open("wb") as out:
        app = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("indblik")),
                "serve",
                "--bind",
                f"127.0.0.1:{app_port}",
                "--workers",
                "2",
            ],
            env=clean_environment(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    site = render_site(
        tls=tls, app_port=app_port, http_port=http_port, https_port=https_port, logs=logs
    )
    (prefix / "indblik.conf").write_text(site)
    (prefix / "nginx.conf").write_text(
        f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {logs}/error.log info;
daemon off;
events {{ worker_connections 128; }}
http {{
    # As Debian 12's stock /etc/nginx/nginx.conf sets them, beside the site's own.
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {logs}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/indblik.conf;
}}
"""
    )
    nginx_log = logs / "nginx-stderr.log"
    with nginx_log.open("wb") as out:
        proxy = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(app_port, app, app_log)
        wait_for_port(https_port, proxy, nginx_log)
        wait_for_port(http_port, proxy, nginx_log)
        yield Deployment(
            https_port=https_port,
            http_port=http_port,
            app_port=app_port,
            ca=ca.path,
            client=client,
            expired_client=expired_client,
            stranger=stranger,
            other_system=other_system,
            feed_token=feed_token,
            database=root / "app" / "indblik.sqlite3",
        )
    finally:
        for process in (proxy, app):
            process.terminate()
        for process in (proxy, app):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


# --- a client ----------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    tls_version: str | None


def tls_context(
    ca: Path,
    *,
    version: ssl.TLSVersion | None = None,
    certificate: Issued | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if version is not None:
        context.minimum_version = version
        context.maximum_version = version
    if certificate is not None:
        context.load_cert_chain(str(certificate.cert), str(certificate.key))
    return context


def fetch(
    port: int,
    path: str,
    *,
    host: str = WEB_HOST,
    sni: str | None = None,
    context: ssl.SSLContext | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    source: str = CLIENT_PEER,
) -> Answer:
    """Send one HTTP/1.1 request from ``source`` (TLS if ``context``) and read the answer."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))
    sock: socket.socket = raw
    version = None
    try:
        if context is not None:
            sock = context.wrap_socket(raw, server_hostname=sni or host)
            version = sock.version()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, response.headers, response.read(), version)
    finally:
        sock.close()


def https(d: Deployment, path: str, **kwargs: object) -> Answer:
    context = kwargs.pop("context", None) or tls_context(d.ca)
    return fetch(d.https_port, path, context=context, **kwargs)  # type: ignore[arg-type]


def ingest(d: Deployment, certificate: Issued | None) -> Answer:
    bundle = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": []}).encode()
    return https(
        d,
        "/fhir/r4/",
        host=API_HOST,
        context=tls_context(d.ca, certificate=certificate),
        method="POST",
        headers={
            "Authorization": f"Bearer {d.feed_token}",
            "Content-Type": "application/fhir+json",
        },
        body=bundle,
    )


def audit_client_ips(d: Deployment) -> list[str | None]:
    with sqlite3.connect(d.database) as db:
        rows = db.execute(
            "SELECT client_ip FROM audit_auditevent WHERE action = 'launch:token:refused' "
            "ORDER BY id"
        ).fetchall()
    return [row[0] for row in rows]


# --- the checks --------------------------------------------------------------------------
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_are_served(deployment: Deployment, version: ssl.TLSVersion) -> None:
    answer = https(deployment, "/healthz", context=tls_context(deployment.ca, version=version))
    assert answer.status == 200
    assert answer.tls_version == version.name.replace("_", ".")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_before_1_2_is_refused_by_the_server(
    deployment: Deployment, version: ssl.TLSVersion
) -> None:
    context = tls_context(deployment.ca, version=version)
    # Let this client offer the old protocol at all (OpenSSL's default floor is TLS 1.2), so
    # that the refusal we see is nginx's.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError) as refused:
        https(deployment, "/healthz", context=context)
    assert "PROTOCOL_VERSION" in refused.value.reason.upper() or "protocol version" in str(
        refused.value
    )


def test_every_https_answer_carries_hsts_once(deployment: Deployment) -> None:
    for path, host in (
        ("/healthz", WEB_HOST),
        ("/fhir/r4/", WEB_HOST),
        ("/saml2/login/", WEB_HOST),
    ):
        answer = https(deployment, path, host=host)
        assert answer.headers.get_all("Strict-Transport-Security") == [
            "max-age=63072000; includeSubDomains; preload"
        ], (path, answer.status)


def test_plain_http_is_only_a_redirect_to_https(deployment: Deployment) -> None:
    for host in (WEB_HOST, API_HOST):
        answer = fetch(deployment.http_port, "/chart/rules/?x=1", host=host)
        assert answer.status == 301
        assert answer.headers["Location"] == f"https://{host}/chart/rules/?x=1"


def test_the_app_answers_behind_the_proxy_with_its_headers(deployment: Deployment) -> None:
    answer = https(deployment, "/saml2/login/")
    # The app saw https (X-Forwarded-Proto from nginx) and sent the browser to the broker.
    assert answer.status == 302
    assert answer.headers["Location"].startswith("https://broker.example.dk/sso?")
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert "https://broker.example.dk" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_feed_with_its_client_certificate_and_token_is_accepted(deployment: Deployment) -> None:
    answer = ingest(deployment, deployment.client)
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "application/fhir+json"


@pytest.mark.parametrize("certificate", ["none", "stranger", "expired_client"])
def test_the_machine_api_refuses_a_missing_untrusted_or_expired_certificate(
    deployment: Deployment, certificate: str
) -> None:
    chosen = None if certificate == "none" else getattr(deployment, certificate)
    try:
        answer = ingest(deployment, chosen)
    except (ssl.SSLError, ConnectionError):
        return  # refused in the handshake: fine too
    assert answer.status == 400, answer.body  # nginx: no (valid) client certificate
    assert b"certificate" in answer.body.lower()


def test_a_trusted_certificate_of_another_system_cannot_use_the_feeds_token(
    deployment: Deployment,
) -> None:
    # nginx accepts the certificate (our CA issued it); the app maps its subject to a client.
    answer = ingest(deployment, deployment.other_system)
    assert answer.status == 403
    assert b"client certificate" in answer.body


def test_the_browser_host_has_no_machine_api_and_cannot_be_tricked_into_one(
    deployment: Deployment,
) -> None:
    assert https(deployment, "/fhir/r4/", host=WEB_HOST).status == 404
    assert https(deployment, "/scim/v2/Users", host=WEB_HOST).status == 404
    # A forged header on the browser host never reaches the app as a certificate.
    forged = https(
        deployment,
        "/saml2/login/",
        headers={"X-Client-Cert-Subject": FEED_SUBJECT, "X-Client-Cert-Verify": "SUCCESS"},
    )
    assert forged.status == 302
    # The browser host's handshake (no certificate) with the API's Host header: refused.
    mixed = https(deployment, "/fhir/r4/", host=API_HOST, sni=WEB_HOST)
    assert mixed.status in (400, 421)


def test_the_app_records_the_real_client_address_only_from_the_proxy(
    deployment: Deployment,
) -> None:
    before = len(audit_client_ips(deployment))
    # Through nginx from 127.0.0.2, claiming to be someone else: nginx passes $remote_addr.
    through = https(
        deployment, "/launch", method="POST", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert through.status == 400
    # Straight to gunicorn from 127.0.0.3 (not a trusted proxy), with the same claim.
    direct = fetch(
        deployment.app_port,
        "/launch",
        host=WEB_HOST,
        method="POST",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        source="127.0.0.3",
    )
    assert direct.status == 400
    assert audit_client_ips(deployment)[before:] == ["127.0.0.2", "127.0.0.3"]
