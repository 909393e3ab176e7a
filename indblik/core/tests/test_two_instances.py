"""Two production-mode ``indblik serve`` instances on one PostgreSQL database share all state.

Nothing that matters lives in a process: a launch token accepted by instance A is a replay on
instance B; a sign-in made on A (through the real SAML ACS, answered by the test broker) is a
session on B, which finishes the launch A started; and the session still works on A after A
has been stopped and started again. This is the evidence behind docs/operations.md,
"Scaling beyond one node".
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import saml2
from django.db import connection
from joserfc.jwk import ECKey

from indblik.access import tokens
from indblik.access.tests.factories import citizen
from indblik.audit import Action, Actor
from indblik.audit.models import AuditEvent
from indblik.chart import rules
from indblik.core.tests.production import clean_environment, indblik, production_environment
from indblik.core.tests.test_deploy_nginx import free_port, wait_for_port
from indblik.identity.demo_idp import server as demo_server
from indblik.identity.models import User
from indblik.identity.tests import conftest as identity
from indblik.identity.tests.conftest import (  # noqa: F401 - fixtures
    IDP_ENTITY,
    NURSE,
    Broker,
    idp_keys,
    organisations,
)
from indblik.organisations import registry
from indblik.organisations.models import Organisation

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="two servers need one shared PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

HOST = "indblik.test"
BASE_URL = f"https://{HOST}"


class Browser:
    """A cookie jar and plain HTTP/1.1 to one instance or another, as nginx would forward it."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(
        self, port: int, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        headers = {"Host": HOST, "X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            for value in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(value).items():
                    if morsel.value:
                        self.cookies[name] = morsel.value
                    else:
                        self.cookies.pop(name, None)
            return response.status, dict(response.getheaders()), response.read().decode()
        finally:
            connection.close()


@dataclass
class Instance:
    """One ``indblik serve`` on its own port (stop and start it again at will)."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("indblik")),
                    "serve",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--threads",
                    "2",
                ],
                env=clean_environment(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class Pair:
    a: Instance
    b: Instance
    env: dict[str, str]


def database_url() -> str:
    """Return the URL of the test database pytest-django made (committed data: transaction)."""
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return (
        f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
        f"/{s['NAME']}"
    )


@pytest.fixture
def pair(
    tmp_path: Path,
    idp_keys: dict[str, Path],  # noqa: F811 - the identity tests' fixture
    organisations: dict[str, Organisation],  # noqa: F811
) -> Iterator[Pair]:
    env = production_environment(tmp_path / "app", base_url=BASE_URL)
    env |= {
        "DATABASE_URL": database_url(),
        "INDBLIK_TRUSTED_PROXIES": "127.0.0.1/32",
        "INDBLIK_SAML_IDP_METADATA": str(idp_keys["metadata"]),
    }
    collected = indblik("collectstatic", "--no-input", env=env, timeout=300)
    assert collected.returncode == 0, collected.stderr
    a = Instance("a", free_port(), env, tmp_path / "a.log")
    b = Instance("b", free_port(), env, tmp_path / "b.log")
    try:
        a.start()
        b.start()
        yield Pair(a, b, env)
    finally:
        # Before pytest-django empties (and later drops) the database they are connected to.
        a.stop()
        b.stop()


def broker_for(pair: Pair, files: dict[str, Path]) -> Broker:
    """Return the test broker (its key ``files``), trusting the instances' SP metadata."""
    metadata = indblik("saml", "metadata", env=pair.env)
    assert metadata.returncode == 0, metadata.stderr
    settings = identity._idp_settings(files["key"], files["cert"], IDP_ENTITY, [metadata.stdout])
    idp = identity.TestIdentityProvider(config=demo_server.load_config(settings))
    idp.mutators = []
    return Broker(idp, client=None)  # type: ignore[arg-type]  # no Django test client here


def launch_token(pair: Pair, signing_key: ECKey, cpr: str) -> str:
    shown = indblik("keys", "show", "--format", "json", env=pair.env)
    assert shown.returncode == 0, shown.stderr
    keys = json.loads(shown.stdout)["launch_jwks"]["keys"]
    return tokens.build_token(
        signing_key=signing_key,
        encryption_key=keys[0],
        iss="https://eoj.kk.example.dk",
        aud=BASE_URL,
        org=NURSE.cvr,
        sub=NURSE.persistent_id,
        patient=cpr,
    )


def refusals() -> list[str]:
    events = AuditEvent.objects.filter(action=Action.LAUNCH_REFUSED).order_by("pk")
    return [event.details.get("reason", "") for event in events]


def test_two_instances_share_replays_and_sessions(
    pair: Pair,
    idp_keys: dict[str, Path],  # noqa: F811
    organisations: dict[str, Organisation],  # noqa: F811
) -> None:
    signing_key = ECKey.generate_key("P-256", parameters={"kid": "eoj-kk-1"})
    registry.add_keys(
        org=organisations["kk"],
        jwks_json=json.dumps({"keys": [signing_key.as_dict(private=False)]}),
        by=Actor(name="test set-up"),
    )
    patient = citizen(municipality="0101")
    assert patient.cpr
    token = launch_token(pair, signing_key, patient.cpr)
    a, b = pair.a.port, pair.b.port

    # A accepts the token and sends the browser to sign in.
    nurse = Browser()
    status, headers, _ = nurse.request(a, "POST", "/launch", {"launch_token": token})
    assert status == 302, pair.a.log.read_text()[-2000:]
    assert headers["Location"].startswith("/saml2/login/")

    # The same token on B: a replay, refused and audited as one.
    status, _, body = Browser().request(b, "POST", "/launch", {"launch_token": token})
    assert status == 400
    assert refusals() == ["replayed"]

    # The nurse signs in on A: the real SP (login, ACS) and the test broker.
    status, headers, _ = nurse.request(a, "GET", headers["Location"])
    assert status == 302
    redirect = urlsplit(headers["Location"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}".startswith(IDP_ENTITY)
    query = {k: v[0] for k, v in parse_qs(redirect.query).items()}
    broker = broker_for(pair, idp_keys)
    authn_request = broker.idp.parse_authn_request(
        query["SAMLRequest"],
        saml2.BINDING_HTTP_REDIRECT,
        sigalg=query.get("SigAlg"),
        signature=query.get("Signature"),
    )
    answer = broker.respond(authn_request, NURSE, encrypt=True)
    status, headers, _ = nurse.request(a, "POST", "/saml2/acs/", {"SAMLResponse": answer})
    assert status == 302, pair.a.log.read_text()[-2000:]
    assert headers["Location"] == "/launch/resume"
    rules.acknowledge(User.objects.get(persistent_id=NURSE.persistent_id))

    # B finishes what A started: the pending launch and the session are in the database.
    status, headers, _ = nurse.request(b, "GET", "/launch/resume")
    assert status == 302, pair.b.log.read_text()[-2000:]
    chart = headers["Location"]
    assert chart.startswith("/chart/") and patient.cpr not in chart
    status, _, body = nurse.request(b, "GET", chart)
    assert status == 200
    assert "Borger" in body  # the citizen's record, on B
    assert nurse.request(b, "GET", "/saml2/session/")[0] == 200

    # A stops and starts again: the session, the grant and the replay store are still there.
    pair.a.stop()
    pair.a.start()
    assert nurse.request(a, "GET", "/saml2/session/")[0] == 200
    assert nurse.request(a, "GET", chart)[0] == 200
    status, _, _ = Browser().request(a, "POST", "/launch", {"launch_token": token})
    assert status == 400
    assert refusals() == ["replayed", "replayed"]
    # Without the nurse's session cookie the same address shows nothing.
    status, _, body = Browser().request(a, "GET", chart)
    assert status == 404 and "Borger" not in body
