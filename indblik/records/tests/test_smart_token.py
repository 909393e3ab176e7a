"""POST /fhir/r4/auth/token: SMART Backend Services client credentials with a signed JWT."""

from __future__ import annotations

import base64
import datetime as dt
import io
import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from joserfc.jwk import OctKey

from indblik.records import smart
from indblik.records.models import AssertionNonce, Feed, FeedCredential
from indblik.records.tests import smart_kit as kit

pytestmark = pytest.mark.django_db

CLIENT = "other-indblik"
SEARCH = "/fhir/r4/Patient"


@pytest.fixture
def ec() -> Any:
    return kit.ec_key()


@pytest.fixture
def client_feed(ec: Any) -> Feed:
    return kit.register(CLIENT, ec)


def refused(response: Any, error: str, status: int | None = None) -> dict[str, Any]:
    assert response.status_code == (status or (401 if error == "invalid_client" else 400))
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert set(body) == {"error", "error_description"}
    return body


def search_with(token: str) -> Any:
    client = Client(headers={"Authorization": f"Bearer {token}"})
    return client.get(SEARCH, {"_id": "nobody"})


# --- a good request --------------------------------------------------------------------------


@pytest.mark.parametrize("make_key", [kit.ec_key, kit.rsa_key], ids=["ES384", "RS384"])
def test_a_good_assertion_gets_a_short_lived_token_that_reads_the_record(make_key: Any) -> None:
    key = make_key()
    kit.register(CLIENT, key)

    response = kit.token_request(Client(), kit.assertion(key, CLIENT), scope="system/*.read")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/*.read"
    credential = FeedCredential.objects.get()
    assert credential.short_lived and credential.resource_types == "*"
    assert credential.expires_at is not None
    assert abs((credential.expires_at - timezone.now()).total_seconds() - 300) < 5
    assert body["access_token"] not in credential.token_hash
    assert search_with(body["access_token"]).status_code == 200


def test_smart_v2_scopes_are_granted_as_asked_and_limit_the_types(
    ec: Any, client_feed: Feed
) -> None:
    scope = "system/Patient.rs system/Observation.read system/Patient.rs"

    body = kit.token_request(Client(), kit.assertion(ec, CLIENT), scope=scope).json()

    assert body["scope"] == "system/Patient.rs system/Observation.read"
    assert FeedCredential.objects.get().resource_types == "Observation Patient"
    assert search_with(body["access_token"]).status_code == 200
    reader = Client(headers={"Authorization": f"Bearer {body['access_token']}"})
    refused_type = reader.get("/fhir/r4/Condition", {"patient": "Patient/x"})
    assert refused_type.status_code == 403
    assert "scopes" in refused_type.json()["issue"][0]["diagnostics"]


def test_client_id_in_the_form_must_be_the_assertions_issuer(ec: Any, client_feed: Feed) -> None:
    good = kit.token_request(Client(), kit.assertion(ec, CLIENT), client_id=CLIENT)
    assert good.status_code == 200

    bad = kit.token_request(Client(), kit.assertion(ec, CLIENT), client_id="someone-else")
    refused(bad, "invalid_client")


def test_an_audit_read_client_gets_the_audit_event_scope_only(ec: Any) -> None:
    kit.register("patient-portal", ec, scope=Feed.Scope.AUDIT_READ)

    token = kit.access_token(Client(), ec, "patient-portal", scope="system/AuditEvent.rs")
    too_much = kit.token_request(
        Client(), kit.assertion(ec, "patient-portal"), scope="system/*.read"
    )

    portal = Client(headers={"Authorization": f"Bearer {token}"})
    answer = portal.get("/fhir/r4/AuditEvent", {"patient": "urn:oid:1.2.208.176.1.2|0101701234"})
    assert answer.status_code == 200
    assert portal.get(SEARCH, {"_id": "x"}).status_code == 403  # not record-read
    refused(too_much, "invalid_scope")


# --- refusals --------------------------------------------------------------------------------


def test_hs256_with_the_public_key_as_secret_is_refused(ec: Any, client_feed: Feed) -> None:
    public = json.dumps(kit.public_jwks(ec)["keys"][0]).encode()
    forged = kit.assertion(OctKey.import_key(public), CLIENT, alg="HS256", kid=ec.kid)

    body = refused(kit.token_request(Client(), forged), "invalid_client")
    assert "HS256" in body["error_description"]


def test_es256_is_refused_even_with_the_registered_kid(client_feed: Feed, ec: Any) -> None:
    other = kit.ec_key(ec.kid, curve="P-256")

    body = refused(
        kit.token_request(Client(), kit.assertion(other, CLIENT, alg="ES256")), "invalid_client"
    )
    assert "ES256" in body["error_description"]


def test_alg_none_is_refused(client_feed: Feed, ec: Any) -> None:
    refused(kit.token_request(Client(), kit.unsigned_assertion(CLIENT, ec.kid)), "invalid_client")


def test_rs384_against_an_ec_key_is_refused(client_feed: Feed, ec: Any) -> None:
    signed = kit.assertion(kit.rsa_key(ec.kid), CLIENT)
    body = refused(kit.token_request(Client(), signed), "invalid_client")
    assert "does not fit" in body["error_description"]


def test_an_unknown_kid_or_another_key_is_refused(client_feed: Feed, ec: Any) -> None:
    unknown = kit.assertion(kit.ec_key("not-registered"), CLIENT)
    impostor = kit.assertion(kit.ec_key(ec.kid), CLIENT)  # right kid, wrong key

    assert (
        "kid"
        in refused(kit.token_request(Client(), unknown), "invalid_client")["error_description"]
    )
    assert (
        "signature"
        in refused(kit.token_request(Client(), impostor), "invalid_client")["error_description"]
    )


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"aud": "https://elsewhere.example/token"}, "aud"),
        ({"aud": "http://127.0.0.1:8000/fhir/r4/"}, "aud"),
        ({"sub": "someone-else"}, "iss and sub"),
        ({"exp": None}, "lacks exp"),
        ({"jti": None}, "lacks jti"),
        ({"exp": "soon"}, "NumericDate"),
        ({"iat": int(time.time()) + 3600}, "future"),
    ],
)
def test_bad_claims_are_refused(
    client_feed: Feed, ec: Any, claims: dict[str, Any], problem: str
) -> None:
    response = kit.token_request(Client(), kit.assertion(ec, CLIENT, **claims))

    assert problem in refused(response, "invalid_client")["error_description"]


def test_an_array_audience_of_the_token_url_is_accepted(client_feed: Feed, ec: Any) -> None:
    signed = kit.assertion(ec, CLIENT, aud=[smart.token_endpoint_url()])
    assert kit.token_request(Client(), signed).status_code == 200


@pytest.mark.parametrize("issuer", ["nul\x00name", "x" * 300, "name with spaces", 42])
def test_an_issuer_that_is_no_client_id_is_unknown(ec: Any, issuer: Any) -> None:
    signed = kit.assertion(ec, "someone", iss=issuer, sub=issuer)
    refused(kit.token_request(Client(), signed), "invalid_client")


def test_an_unknown_or_inactive_client_is_refused_alike(ec: Any) -> None:
    kit.register("switched-off", ec, active=False)

    unknown = refused(kit.token_request(Client(), kit.assertion(ec, "nobody")), "invalid_client")
    inactive = refused(
        kit.token_request(Client(), kit.assertion(ec, "switched-off")), "invalid_client"
    )
    assert unknown == inactive


def test_an_expired_assertion_and_one_that_lives_too_long_are_refused(
    client_feed: Feed, ec: Any
) -> None:
    old = kit.assertion(ec, CLIENT, now=time.time() - 600, lifetime=200)
    long = kit.assertion(ec, CLIENT, lifetime=600)
    within_skew = kit.assertion(ec, CLIENT, now=time.time() - 250, lifetime=200)

    assert (
        "expired"
        in refused(kit.token_request(Client(), old), "invalid_client")["error_description"]
    )
    assert (
        "300 seconds"
        in refused(kit.token_request(Client(), long), "invalid_client")["error_description"]
    )
    assert kit.token_request(Client(), within_skew).status_code == 200


def test_a_replayed_assertion_is_refused(client_feed: Feed, ec: Any) -> None:
    signed = kit.assertion(ec, CLIENT)

    first = kit.token_request(Client(), signed)
    second = kit.token_request(Client(), signed)
    same_jti = kit.token_request(Client(), kit.assertion(ec, CLIENT, jti=_jti(signed)))

    assert first.status_code == 200
    assert "used before" in refused(second, "invalid_client")["error_description"]
    refused(same_jti, "invalid_client")
    assert AssertionNonce.objects.count() == 1


def test_replay_rows_and_expired_access_tokens_are_purged_later(client_feed: Feed, ec: Any) -> None:
    long_lived = FeedCredential.objects.create(
        feed=client_feed,
        prefix="ibf_longlive",
        token_hash="0" * 64,
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    kit.access_token(Client(), ec, CLIENT)
    assert AssertionNonce.objects.count() == 1

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=20)):
        kit.access_token(Client(), ec, CLIENT)

    assert AssertionNonce.objects.count() == 1  # the first one's row is gone
    short = FeedCredential.objects.filter(short_lived=True)
    assert short.count() == 1  # the expired access token is gone
    assert FeedCredential.objects.filter(pk=long_lived.pk).exists()  # never purged


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "system/*.write",
        "system/*.*",
        "system/*.cruds",
        "user/*.read",
        "patient/Observation.read",
        "system/AuditEvent.read",  # not for a record-read client
        "system/MedicationRequest.read",  # a type the API does not serve
        "system/Observation.rs?category=laboratory",
        "launch/patient",
        "offline_access",
    ],
)
def test_a_scope_not_offered_is_refused_and_nothing_is_issued(
    client_feed: Feed, ec: Any, scope: str
) -> None:
    response = kit.token_request(
        Client(), kit.assertion(ec, CLIENT), scope="system/Patient.read " + scope
    )
    if scope:
        refused(response, "invalid_scope")
    else:
        assert response.status_code == 200
    alone = kit.token_request(Client(), kit.assertion(ec, CLIENT), scope=scope or None)
    refused(alone, "invalid_scope")


def test_an_ingest_feed_with_keys_gets_no_read_scope(ec: Any) -> None:
    kit.register("hospital-engine", ec, scope=Feed.Scope.INGEST)
    refused(kit.token_request(Client(), kit.assertion(ec, "hospital-engine")), "invalid_scope")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": ""}, "invalid_request"),
        ({"client_assertion_type": ""}, "invalid_request"),
        (
            {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
            "invalid_client",
        ),
    ],
)
def test_a_malformed_request_is_refused(
    client_feed: Feed, ec: Any, form: dict[str, str], error: str
) -> None:
    refused(kit.token_request(Client(), kit.assertion(ec, CLIENT), **form), error)
    assert not FeedCredential.objects.exists()


def test_a_missing_or_garbled_assertion_is_refused(client_feed: Feed) -> None:
    refused(kit.token_request(Client(), None), "invalid_request")
    for garbage in ("x.y.z", "not a jwt", "a" * 20000, "eyJhbGciOiJFUzM4NCJ9.e30.c2ln"):
        refused(kit.token_request(Client(), garbage), "invalid_client")


def test_only_a_form_post_is_accepted() -> None:
    assert Client().get(kit.TOKEN_URL).status_code == 405
    as_json = Client().post(kit.TOKEN_URL, {"grant_type": "x"}, content_type="application/json")
    refused(as_json, "invalid_request")


def test_a_repeated_parameter_is_refused(client_feed: Feed, ec: Any) -> None:
    body = "grant_type=client_credentials&grant_type=client_credentials"
    refused(Client().post(kit.TOKEN_URL, body, content_type=kit.FORM), "invalid_request")


def test_no_answer_ever_repeats_the_assertion(client_feed: Feed, ec: Any) -> None:
    signed = kit.assertion(ec, CLIENT, aud="https://elsewhere.example/")
    for response in (
        kit.token_request(Client(), signed),
        kit.token_request(Client(), signed, scope="bogus"),
        kit.token_request(Client(), signed + "x"),
    ):
        assert response.status_code in (400, 401)
        assert signed.split(".")[1] not in response.content.decode()


# --- expiry, mutual TLS, rate limit ----------------------------------------------------------


def test_the_access_token_stops_working_after_five_minutes(client_feed: Feed, ec: Any) -> None:
    token = kit.access_token(Client(), ec, CLIENT)
    assert search_with(token).status_code == 200

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=299)):
        assert search_with(token).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=301)):
        response = search_with(token)
        assert response.status_code == 401
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
        fresh = kit.access_token(Client(), ec, CLIENT)
        assert search_with(fresh).status_code == 200


def test_revoking_or_deactivating_the_feed_ends_its_access_tokens(
    client_feed: Feed, ec: Any
) -> None:
    first = kit.access_token(Client(), ec, CLIENT)
    call_command("feed", "revoke", CLIENT, stdout=io.StringIO())
    assert search_with(first).status_code == 401

    second = kit.access_token(Client(), ec, CLIENT)
    Feed.objects.filter(pk=client_feed.pk).update(active=False)
    assert search_with(second).status_code == 401
    refused(kit.token_request(Client(), kit.assertion(ec, CLIENT)), "invalid_client")


def test_a_client_bound_to_a_certificate_needs_it_at_the_token_endpoint(
    client_feed: Feed, ec: Any, settings: Any
) -> None:
    settings.INDBLIK_CLIENT_CERT_SUBJECTS = {f"feed:{CLIENT}": "CN=other-indblik,O=Region,C=DK"}
    settings.INDBLIK_TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]

    without = kit.token_request(Client(), kit.assertion(ec, CLIENT))
    proxy = Client(
        HTTP_X_CLIENT_CERT_VERIFY="SUCCESS",
        HTTP_X_CLIENT_CERT_SUBJECT="CN=other-indblik,O=Region,C=DK",
    )
    with_cert = kit.token_request(proxy, kit.assertion(ec, CLIENT))

    assert "certificate" in refused(without, "invalid_client")["error_description"]
    assert with_cert.status_code == 200


def test_the_token_endpoint_is_rate_limited_per_client_address(
    client_feed: Feed, ec: Any, settings: Any
) -> None:
    settings.INDBLIK_RATE_LIMIT_TOKEN = 2
    # A still clock: the three requests must fall into one window.
    with time_machine.travel(dt.datetime.now(dt.UTC).replace(second=5), tick=False):
        answers = [kit.token_request(Client(), kit.assertion(ec, CLIENT)) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2]["Retry-After"]
    assert answers[2].json()["error_description"] == "too many requests"


# --- discovery and registration --------------------------------------------------------------


def test_smart_discovery_names_the_token_endpoint_and_what_it_takes() -> None:
    response = Client().get("/fhir/r4/.well-known/smart-configuration")

    assert response.status_code == 200
    config = response.json()
    assert config["token_endpoint"] == "http://127.0.0.1:8000/fhir/r4/auth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["ES384", "RS384"]
    assert config["grant_types_supported"] == ["client_credentials"]
    assert config["capabilities"] == ["client-confidential-asymmetric"]
    assert {"system/*.read", "system/*.rs", "system/Observation.rs"} <= set(
        config["scopes_supported"]
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda jwk: jwk.update(d="AAAA"), r"private key material \(d\)"),
        (lambda jwk: jwk.pop("kid"), "kid"),
        (lambda jwk: jwk.update(alg="ES256"), "'alg' must be ES384"),
        (lambda jwk: jwk.update(use="enc"), "'use'"),
        (lambda jwk: jwk.update(x="not-a-point"), "not a valid EC public key"),
    ],
)
def test_a_jwks_with_private_or_unfit_keys_is_refused(change: Any, problem: str) -> None:
    jwk = kit.public_jwks(kit.ec_key())["keys"][0]
    change(jwk)
    with pytest.raises(smart.KeySetError, match=problem):
        smart.parse_public_jwks({"keys": [jwk]})


@pytest.mark.filterwarnings("ignore:Key size should be:joserfc.errors.SecurityWarning")
def test_weak_or_unusable_key_types_are_refused() -> None:
    with pytest.raises(smart.KeySetError, match="P-384"):
        smart.parse_public_jwks(kit.public_jwks(kit.ec_key(curve="P-256")))
    with pytest.raises(smart.KeySetError, match="2048 bits"):
        smart.parse_public_jwks(kit.public_jwks(kit.rsa_key(bits=1024)))
    with pytest.raises(smart.KeySetError, match=r"private key material \(k\)"):
        smart.parse_public_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]})
    with pytest.raises(smart.KeySetError, match="EC P-384"):
        smart.parse_public_jwks({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "o"}]})
    with pytest.raises(smart.KeySetError, match="own kid"):
        smart.parse_public_jwks(kit.public_jwks(kit.ec_key("same"), kit.rsa_key("same")))


def test_the_feed_command_registers_keys_and_replaces_them(tmp_path: Path) -> None:
    first, second = kit.ec_key("k-2025"), kit.rsa_key("k-2026")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(kit.public_jwks(first)))
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "feed", "add", CLIENT, "--scope", "record-read", "--jwks", str(jwks_file),
        stdout=out, stderr=err,
    )  # fmt: skip
    assert out.getvalue() == ""  # no long-lived token: the key is the credential
    assert "k-2025" in err.getvalue() and "/fhir/r4/auth/token" in err.getvalue()
    assert kit.token_request(Client(), kit.assertion(first, CLIENT)).status_code == 200

    jwks_file.write_text(json.dumps(kit.public_jwks(second)))
    out = io.StringIO()
    call_command("feed", "keys", CLIENT, "--jwks", str(jwks_file), stdout=out, stderr=err)
    assert out.getvalue().split() == ["k-2026"]
    refused(kit.token_request(Client(), kit.assertion(first, CLIENT)), "invalid_client")
    assert kit.token_request(Client(), kit.assertion(second, CLIENT)).status_code == 200

    out = io.StringIO()
    call_command("feed", "list", stdout=out)
    listing = out.getvalue()
    assert f"{CLIENT}  [active, record-read]" in listing
    assert "keys: k-2026" in listing
    assert "2 live access token(s)" in listing
    assert "ibf_" not in listing


def test_the_feed_command_refuses_private_keys_and_keyless_readers(tmp_path: Path) -> None:
    key = kit.ec_key()
    private_file = tmp_path / "private.json"
    private_file.write_text(json.dumps({"keys": [key.as_dict(private=True) | {"kid": "k"}]}))
    empty_file = tmp_path / "empty.json"
    empty_file.write_text('{"keys": []}')

    with pytest.raises(CommandError, match="private key material"):
        call_command("feed", "add", CLIENT, "--scope", "record-read", "--jwks", str(private_file))
    with pytest.raises(CommandError, match="--jwks"):
        call_command("feed", "add", CLIENT, "--scope", "record-read")
    with pytest.raises(CommandError, match="--jwks"):
        call_command("feed", "add", CLIENT, "--scope", "record-read", "--jwks", str(empty_file))
    assert not Feed.objects.exists()


def _jti(signed: str) -> str:
    payload = signed.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    jti: str = claims["jti"]
    return jti


@pytest.mark.parametrize("length", ["9" * 5000, "\N{SUPERSCRIPT TWO}", "99999999999"])
def test_a_token_request_declaring_an_absurd_length_is_refused_not_a_500(length: str) -> None:
    # Another server than gunicorn might pass such a header on: a 400, never an int() error.
    response = Client().post(
        kit.TOKEN_URL, "grant_type=client_credentials", content_type=kit.FORM, CONTENT_LENGTH=length
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
