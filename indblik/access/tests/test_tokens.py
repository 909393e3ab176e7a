"""The launch token: what verifies, and every way a token is refused (with real forged tokens)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import threading
import time
from typing import Any

import pytest
from django.db import connection, connections  # noqa: F401 - connection: the skipif below
from django.utils import timezone
from joserfc.jwk import ECKey

from indblik.access import launch_keys, tokens
from indblik.access.models import LaunchNonce
from indblik.access.tests import launch_kit as kit
from indblik.access.tokens import LaunchRefused, Reason
from indblik.organisations import registry
from indblik.organisations.demo import ensure_demo_organisations
from indblik.organisations.models import Organisation

pytestmark = pytest.mark.django_db


@pytest.fixture
def kk(db: None) -> Organisation:
    ensure_demo_organisations()
    return Organisation.objects.get(cvr=kit.KK)


@pytest.fixture
def frb(kk: Organisation) -> Organisation:
    return Organisation.objects.get(cvr=kit.FRB)


@pytest.fixture
def ec(kk: Organisation) -> ECKey:
    """Københavns Kommune's care-system key (ES256), registered."""
    key = kit.ec_key("kk-eoj-2025")
    kit.register(kk, key)
    return key


def refused(token: str, **kwargs: Any) -> LaunchRefused:
    with pytest.raises(LaunchRefused) as caught:
        tokens.verify_token(token, **kwargs)
    return caught.value


# --- what verifies ------------------------------------------------------------------------------


def test_a_valid_es256_token_verifies(ec: ECKey) -> None:
    claims = tokens.verify_token(kit.token(ec, purpose="treatment"))
    assert (claims.org, claims.sub, claims.patient, claims.kid) == (
        kit.KK,
        kit.SUB,
        kit.CPR,
        "kk-eoj-2025",
    )
    assert claims.purpose == "treatment"
    assert claims.reason is None
    assert claims.exp - claims.iat == 60


def test_an_rsa_2048_rs256_token_verifies(kk: Organisation) -> None:
    rsa = kit.rsa_key("kk-rsa")
    kit.register(kk, rsa)
    assert tokens.verify_token(kit.token(rsa)).kid == "kk-rsa"


def test_the_reference_builder_makes_a_token_that_verifies(ec: ECKey) -> None:
    token = tokens.build_token(
        signing_key=ec,
        encryption_key=kit.indblik_public_key(),
        iss="https://eoj.kk.example.dk",
        aud="http://127.0.0.1:8000/",  # a trailing slash is the same audience
        org=kit.KK,
        sub=kit.SUB,
        patient="010150-4444",
        purpose="emergency",
        reason="Borgeren er faldet\n og har ondt",
    )
    assert token.count(".") == 4
    claims = tokens.verify_token(token)
    assert claims.patient == kit.CPR  # normalised: no dash
    assert claims.purpose == "emergency"
    assert claims.reason == "Borgeren er faldet og har ondt"  # one clean line


def test_the_builder_refuses_what_the_verifier_would_refuse(ec: ECKey) -> None:
    common: dict[str, Any] = {
        "signing_key": ec,
        "encryption_key": kit.indblik_public_key(),
        "iss": "x",
        "aud": "http://127.0.0.1:8000",
        "org": kit.KK,
        "sub": kit.SUB,
        "patient": kit.CPR,
    }
    with pytest.raises(ValueError, match="lifetime"):
        tokens.build_token(**common | {"lifetime": 300})
    with pytest.raises(ValueError, match="CPR") as caught:
        tokens.build_token(**common | {"patient": "1234"})
    assert "1234" not in str(caught.value)
    with pytest.raises(ValueError, match="CVR"):
        tokens.build_token(**common | {"org": "123"})
    with pytest.raises(ValueError, match="purpose"):
        tokens.build_token(**common | {"purpose": "curiosity"})
    with pytest.raises(ValueError, match="private"):
        tokens.build_token(**common | {"signing_key": ECKey.import_key(ec.as_dict())})
    with pytest.raises(ValueError, match="public"):
        tokens.build_token(
            **common | {"encryption_key": launch_keys.current_key().as_dict(private=True)}
        )


def test_a_token_within_the_clock_skew_still_verifies(ec: ECKey) -> None:
    now = int(time.time())
    tokens.verify_token(kit.token(ec, iat=now - 80, exp=now - 20))
    tokens.verify_token(kit.token(ec, iat=now + 20, exp=now + 80))


def test_a_plain_jws_verifies_only_when_encryption_is_off(ec: ECKey, settings: Any) -> None:
    plain = kit.signed(kit.claims(), ec)
    assert refused(plain).reason == Reason.NOT_ENCRYPTED
    settings.INDBLIK_LAUNCH_REQUIRE_ENCRYPTION = False
    assert tokens.verify_token(kit.signed(kit.claims(), ec)).org == kit.KK


def test_claims_never_show_the_cpr_number(ec: ECKey) -> None:
    claims = tokens.verify_token(kit.token(ec))
    assert kit.CPR not in repr(claims)


# --- algorithms ----------------------------------------------------------------------------------


def test_alg_none_is_refused(ec: ECKey) -> None:
    forged = kit.unsigned(kit.claims(), {"alg": "none", "kid": "kk-eoj-2025"})
    assert refused(kit.encrypted(forged)).reason == Reason.ALG_REFUSED
    assert refused(forged).reason == Reason.NOT_ENCRYPTED  # and never reaches the check bare


@pytest.mark.parametrize("alg", ["None", "NONE", "HS256", "ES384", "PS256", "RS512", "EdDSA", ""])
def test_every_algorithm_but_es256_and_rs256_is_refused(ec: ECKey, alg: str) -> None:
    forged = kit.unsigned(kit.claims(), {"alg": alg, "kid": "kk-eoj-2025"})
    assert refused(kit.encrypted(forged)).reason == Reason.ALG_REFUSED


def test_hs256_with_the_public_key_as_secret_is_refused(kk: Organisation) -> None:
    rsa = kit.rsa_key("kk-rsa")
    ec = kit.ec_key("kk-ec")
    kit.register(kk, rsa, ec)
    for key in (rsa, ec):
        public_pem = key.as_pem(private=False)  # what anyone can download or read off the JWK
        forged = kit.hmac_signed(kit.claims(), public_pem, kid=key.kid or "")
        assert refused(kit.encrypted(forged)).reason == Reason.ALG_REFUSED
        # And the JWK's JSON as the secret, as some libraries would use it.
        secret = json.dumps(key.as_dict(private=False)).encode()
        forged = kit.hmac_signed(kit.claims(), secret, kid=key.kid or "")
        assert refused(kit.encrypted(forged)).reason == Reason.ALG_REFUSED
    assert not LaunchNonce.objects.exists()


def test_an_algorithm_that_does_not_fit_the_registered_key_is_refused(
    kk: Organisation, ec: ECKey
) -> None:
    # Signed with an RSA key but naming the EC key's kid: the key decides, not the header.
    rsa = kit.rsa_key("kk-eoj-2025")
    forged = kit.signed(kit.claims(), rsa)
    assert refused(kit.encrypted(forged)).reason == Reason.ALG_REFUSED


def test_a_header_carrying_its_own_key_is_refused(ec: ECKey) -> None:
    attacker = kit.ec_key("kk-eoj-2025")
    forged = kit.signed(kit.claims(), attacker, header={"jwk": attacker.as_dict(private=False)})
    assert refused(kit.encrypted(forged)).reason == Reason.MALFORMED
    header = {"alg": "ES256", "kid": "kk-eoj-2025", "crit": ["exp"], "exp": 1}
    forged = kit.unsigned(kit.claims(), header) + "AAAA"
    assert refused(kit.encrypted(forged)).reason == Reason.MALFORMED


# --- keys ----------------------------------------------------------------------------------------


def test_a_signature_by_another_key_under_the_registered_kid_is_refused(ec: ECKey) -> None:
    impostor = kit.ec_key("kk-eoj-2025")
    assert refused(kit.token(impostor)).reason == Reason.BAD_SIGNATURE
    assert not LaunchNonce.objects.exists()  # nothing stored for a token that never verified


def test_a_changed_payload_breaks_the_signature(ec: ECKey) -> None:
    head, _body, signature = kit.signed(kit.claims(), ec).split(".")
    other = kit.b64(json.dumps(kit.claims(patient="0202504444")).encode())
    assert refused(kit.encrypted(f"{head}.{other}.{signature}")).reason == Reason.BAD_SIGNATURE


def test_an_unknown_kid_is_refused(ec: ECKey) -> None:
    stranger = kit.ec_key("somebody-else")
    assert refused(kit.token(stranger)).reason == Reason.UNKNOWN_KID


def test_a_token_without_a_kid_is_refused(ec: ECKey) -> None:
    inner = kit.signed(kit.claims(), ec, header={"kid": ""})
    assert refused(kit.encrypted(inner)).reason == Reason.UNKNOWN_KID


def test_the_key_of_another_organisation_is_refused(ec: ECKey, frb: Organisation) -> None:
    frb_key = kit.ec_key("frb-eoj")
    kit.register(frb, frb_key)
    # Frederiksberg's care system claims to speak for København, with its own valid key.
    refusal = refused(kit.token(frb_key, org=kit.KK))
    assert refusal.reason == Reason.KEY_OF_OTHER_ORGANISATION
    assert refusal.org == kit.KK
    # With its own CVR it is fine.
    assert tokens.verify_token(kit.token(frb_key, org=kit.FRB)).org == kit.FRB


def test_a_removed_key_is_refused(kk: Organisation, ec: ECKey) -> None:
    token = kit.token(ec)
    registry.remove_key(org=kk, kid="kk-eoj-2025", by=kit.ACTOR)
    assert refused(token).reason == Reason.KEY_REMOVED


def test_an_unregistered_organisation_is_refused(ec: ECKey) -> None:
    refusal = refused(kit.token(ec, org="25052943"))
    assert refusal.reason == Reason.ORGANISATION_UNKNOWN
    assert refusal.org == "25052943"


# --- claims --------------------------------------------------------------------------------------


def test_an_expired_token_is_refused(ec: ECKey) -> None:
    now = int(time.time())
    assert refused(kit.token(ec, iat=now - 100, exp=now - 40)).reason == Reason.EXPIRED
    # The same token, checked at a moment when it was still valid, passes.
    assert tokens.verify_token(kit.token(ec, iat=now - 100, exp=now - 40), now=now - 60)


def test_a_token_issued_in_the_future_is_refused(ec: ECKey) -> None:
    now = int(time.time())
    assert refused(kit.token(ec, iat=now + 40, exp=now + 100)).reason == Reason.NOT_YET_VALID
    assert refused(kit.token(ec, nbf=now + 60)).reason == Reason.NOT_YET_VALID


def test_a_token_living_longer_than_120_seconds_is_refused(ec: ECKey) -> None:
    now = int(time.time())
    assert refused(kit.token(ec, iat=now, exp=now + 300)).reason == Reason.LIFETIME_TOO_LONG
    assert tokens.verify_token(kit.token(ec, iat=now, exp=now + 120))


def test_the_clock_skew_is_a_setting(ec: ECKey, settings: Any) -> None:
    now = int(time.time())
    settings.INDBLIK_LAUNCH_CLOCK_SKEW_SECONDS = 0
    assert refused(kit.token(ec, iat=now - 70, exp=now - 10)).reason == Reason.EXPIRED


@pytest.mark.parametrize(
    "aud", ["https://evil.example", "http://127.0.0.1:8001", "http://127.0.0.1:8000/launch"]
)
def test_a_token_for_another_audience_is_refused(ec: ECKey, aud: str) -> None:
    assert refused(kit.token(ec, aud=aud)).reason == Reason.WRONG_AUDIENCE


def test_an_audience_array_must_hold_exactly_this_server(ec: ECKey) -> None:
    assert tokens.verify_token(kit.token(ec, aud=["http://127.0.0.1:8000"]))
    two = ["http://127.0.0.1:8000", "https://other.example"]
    assert refused(kit.token(ec, aud=two)).reason == Reason.MALFORMED_CLAIMS


@pytest.mark.parametrize("claim", tokens.REQUIRED_CLAIMS)
def test_a_token_missing_a_claim_is_refused(ec: ECKey, claim: str) -> None:
    payload = kit.claims()
    del payload[claim]
    assert refused(kit.encrypted(kit.signed(payload, ec))).reason == Reason.MISSING_CLAIMS
    payload[claim] = ""
    assert refused(kit.encrypted(kit.signed(payload, ec))).reason in (
        Reason.MISSING_CLAIMS,
        Reason.MALFORMED_CLAIMS,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"iat": "now"},
        {"exp": True},
        {"exp": 10**13},
        {"jti": 5},
        {"sub": ["a"]},
        {"iss": "x" * 201},
        {"jti": "line\nbreak"},
        {"org": "0494221"},
        {"org": "6494221x"},
        {"purpose": "curiosity"},
        {"reason": "x" * 501},
        {"reason": 7},
        {"aud": 5},
    ],
    ids=repr,
)
def test_a_claim_of_the_wrong_type_or_form_is_refused(ec: ECKey, changes: dict[str, Any]) -> None:
    assert refused(kit.token(ec, **changes)).reason == Reason.MALFORMED_CLAIMS


def test_exp_before_iat_is_refused(ec: ECKey) -> None:
    now = int(time.time())
    assert refused(kit.token(ec, iat=now, exp=now - 1)).reason == Reason.MALFORMED_CLAIMS


@pytest.mark.parametrize(
    "patient", ["123", "0101504444x", "3213504444", "0100504444", "01015-04444", "٠١٠١٥٠٤٤٤٤"]
)
def test_a_malformed_cpr_number_is_refused_without_repeating_it(ec: ECKey, patient: str) -> None:
    refusal = refused(kit.token(ec, patient=patient))
    assert refusal.reason == Reason.MALFORMED_CPR
    assert patient not in str(refusal)


def test_a_modern_cpr_without_modulus_11_and_a_substitute_cpr_are_accepted(ec: ECKey) -> None:
    assert tokens.verify_token(kit.token(ec, patient="0101501234")).patient == "0101501234"
    assert tokens.verify_token(kit.token(ec, patient="6101501234")).patient == "6101501234"


def test_no_refusal_message_names_the_cpr_number(ec: ECKey, kk: Organisation) -> None:
    now = int(time.time())
    for changes in ({"exp": now - 100, "iat": now - 150}, {"aud": "x"}, {"purpose": "x"}):
        refusal = refused(kit.token(ec, **changes))
        assert kit.CPR not in str(refusal) and kit.CPR not in refusal.message


def test_the_reason_is_cleaned_to_one_line(ec: ECKey) -> None:
    reason = "Fald\u202e i hjemmet\r\nSe eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"
    claims = tokens.verify_token(kit.token(ec, purpose="emergency", reason=reason))
    assert claims.reason == "Fald i hjemmet Se [redacted]"


# --- replay --------------------------------------------------------------------------------------


def test_a_replayed_token_is_refused(ec: ECKey) -> None:
    token = kit.token(ec)
    tokens.verify_token(token)
    assert refused(token).reason == Reason.REPLAYED


def test_a_new_token_reusing_a_jti_is_refused(ec: ECKey) -> None:
    tokens.verify_token(kit.token(ec, jti="same"))
    assert refused(kit.token(ec, jti="same")).reason == Reason.REPLAYED


def test_a_jti_is_unique_per_organisation(ec: ECKey, frb: Organisation) -> None:
    frb_key = kit.ec_key("frb-eoj")
    kit.register(frb, frb_key)
    tokens.verify_token(kit.token(ec, jti="shared"))
    assert tokens.verify_token(kit.token(frb_key, org=kit.FRB, jti="shared"))


def test_the_replay_row_lives_until_exp_plus_the_skew(ec: ECKey, settings: Any) -> None:
    now = int(time.time())
    claims = tokens.verify_token(kit.token(ec, iat=now, exp=now + 60))
    row = LaunchNonce.objects.get(jti=claims.jti)
    assert row.organisation_cvr == kit.KK
    expected = dt.datetime.fromtimestamp(
        now + 60 + settings.INDBLIK_LAUNCH_CLOCK_SKEW_SECONDS, dt.UTC
    )
    assert row.expires_at == expected


def test_remember_jti_inserts_once() -> None:
    until = timezone.now() + dt.timedelta(minutes=2)
    assert tokens.remember_jti("j-1", kit.KK, until) is True
    assert tokens.remember_jti("j-1", kit.KK, until) is False
    assert tokens.remember_jti("j-1", kit.FRB, until) is True


def test_an_expired_replay_row_is_replaced_and_purged(monkeypatch: pytest.MonkeyPatch) -> None:
    # remember_jti purges by itself once in PURGE_ONE_IN calls: not during this test.
    monkeypatch.setattr(tokens.secrets, "randbelow", lambda n: 1)
    past = timezone.now() - dt.timedelta(seconds=1)
    LaunchNonce.objects.create(jti="old", organisation_cvr=kit.KK, expires_at=past)
    LaunchNonce.objects.create(jti="older", organisation_cvr=kit.KK, expires_at=past)
    assert tokens.remember_jti("old", kit.KK, timezone.now() + dt.timedelta(minutes=2))
    assert tokens.purge_expired_nonces() == 1
    assert list(LaunchNonce.objects.values_list("jti", flat=True)) == ["old"]


@pytest.mark.postgres
@pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="SQLite's in-memory test database locks tables instead of waiting",
)
@pytest.mark.django_db(transaction=True)
def test_the_replay_store_is_shared_between_database_connections() -> None:
    """Two workers (two connections) given the same jti: exactly one accepts it."""
    until = timezone.now() + dt.timedelta(minutes=2)
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(tokens.remember_jti("raced", kit.KK, until))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, True]
    assert LaunchNonce.objects.filter(jti="raced").count() == 1


# --- encryption and shape ------------------------------------------------------------------------


def test_a_token_encrypted_to_another_key_is_refused(ec: ECKey) -> None:
    other = ECKey.generate_key("P-256", private=True)
    inner = kit.signed(kit.claims(), ec)
    assert refused(kit.encrypted(inner, other.as_dict(private=False))).reason == (
        Reason.UNDECRYPTABLE
    )
    # Naming Indblik's kid does not help.
    wrong = other.as_dict(private=False) | {"kid": launch_keys.current_key().kid}
    assert refused(kit.encrypted(inner, wrong)).reason == Reason.UNDECRYPTABLE


@pytest.mark.parametrize("part", [1, 2, 3, 4])
def test_a_tampered_jwe_is_refused(ec: ECKey, part: int) -> None:
    parts = kit.token(ec).split(".")
    segment = parts[part]
    parts[part] = segment[:-2] + ("AA" if segment[-2:] != "AA" else "BB")
    assert refused(".".join(parts)).reason == Reason.UNDECRYPTABLE


def test_a_jwe_with_other_algorithms_is_refused(ec: ECKey) -> None:
    parts = kit.token(ec).split(".")
    for header in (
        {"alg": "dir", "enc": "A256GCM", "cty": "JWT"},
        {"alg": "RSA1_5", "enc": "A256GCM", "cty": "JWT"},
        {"alg": "ECDH-ES+A256KW", "enc": "A128CBC-HS256", "cty": "JWT"},
    ):
        forged = ".".join([kit.b64(json.dumps(header).encode()), *parts[1:]])
        assert refused(forged).reason == Reason.UNDECRYPTABLE


def test_a_compressed_jwe_is_refused(ec: ECKey) -> None:
    parts = kit.token(ec).split(".")
    header = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "cty": "JWT", "zip": "DEF"}
    forged = ".".join([kit.b64(json.dumps(header).encode()), *parts[1:]])
    assert refused(forged).reason == Reason.MALFORMED


def test_an_oversize_token_is_refused_before_parsing(ec: ECKey) -> None:
    assert refused("A" * (16 * 1024 + 1)).reason == Reason.OVERSIZE
    big = kit.token(ec, reason="x" * 500, iss="y" * 200) + "A" * 16 * 1024
    assert refused(big).reason == Reason.OVERSIZE


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b", "a.b.c.d", "a.b.c.d.e.f", "é.b.c", "a b.c.d", "<script>.a.b", "....."],
)
def test_garbage_is_refused(garbage: str) -> None:
    assert refused(garbage).reason in (Reason.MALFORMED, Reason.UNDECRYPTABLE)


def test_a_jwe_whose_content_is_not_a_jws_is_refused(ec: ECKey) -> None:
    assert refused(kit.encrypted("not a token")).reason == Reason.MALFORMED
    assert refused(kit.encrypted("e30.e30")).reason == Reason.MALFORMED


def test_duplicate_claims_are_refused(ec: ECKey) -> None:
    """Two parsers that disagree on which duplicate wins must never both see a token."""
    payload = json.dumps(kit.claims())[:-1] + ', "patient": "0202504444"}'
    head = kit.b64(json.dumps({"alg": "ES256", "kid": "kk-eoj-2025"}).encode())
    forged = f"{head}.{kit.b64(payload.encode())}.AAAA"
    assert refused(kit.encrypted(forged)).reason == Reason.MALFORMED


def test_a_non_string_token_is_refused() -> None:
    assert refused(None).reason == Reason.MALFORMED  # type: ignore[arg-type]


# --- Indblik's launch keys -----------------------------------------------------------------------


def test_the_generated_launch_key_is_private_to_its_owner() -> None:
    path = launch_keys.key_path()
    launch_keys.decryption_keys()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    published = launch_keys.public_jwks()
    assert published["keys"][0]["use"] == "enc"
    assert all("d" not in key for key in published["keys"])


def test_a_rotated_key_set_decrypts_with_either_key(
    ec: ECKey, settings: Any, tmp_path: Any
) -> None:
    new, old = launch_keys.new_private_jwk("new"), launch_keys.new_private_jwk("old")
    path = tmp_path / "launch.jwks.json"
    path.write_text(json.dumps({"keys": [new, old]}))
    settings.INDBLIK_LAUNCH_KEY_FILE = str(path)
    assert [key["kid"] for key in launch_keys.public_jwks()["keys"]] == ["new", "old"]
    for jwk in (new, old):
        public = {name: jwk[name] for name in ("kty", "crv", "x", "y", "kid")}
        assert tokens.verify_token(kit.encrypted(kit.signed(kit.claims(), ec), public))
    # Without a kid in the JWE header, each key is tried.
    public = {name: old[name] for name in ("kty", "crv", "x", "y")}
    assert tokens.verify_token(kit.encrypted(kit.signed(kit.claims(), ec), public))


def test_production_needs_a_launch_key_file(settings: Any) -> None:
    settings.PRODUCTION = True
    settings.INDBLIK_LAUNCH_KEY_FILE = ""
    with pytest.raises(launch_keys.LaunchKeyError, match="INDBLIK_LAUNCH_KEY_FILE"):
        launch_keys.decryption_keys()
    assert launch_keys.configuration_problems()


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"keys": []}',
        json.dumps({"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "kid": "k"}),  # no d
        json.dumps({"kty": "RSA", "n": "a", "e": "AQAB", "d": "x", "kid": "k"}),
        json.dumps(launch_keys.new_private_jwk("k") | {"use": "sig"}),
        json.dumps({k: v for k, v in launch_keys.new_private_jwk().items() if k != "kid"}),
        json.dumps({"keys": [launch_keys.new_private_jwk("k"), launch_keys.new_private_jwk("k")]}),
        json.dumps(launch_keys.new_private_jwk("k") | {"d": "AAAA"}),
    ],
)
def test_a_bad_launch_key_file_is_a_configuration_error(
    settings: Any, tmp_path: Any, content: str
) -> None:
    path = tmp_path / "launch.json"
    path.write_text(content)
    settings.INDBLIK_LAUNCH_KEY_FILE = str(path)
    with pytest.raises(launch_keys.LaunchKeyError):
        launch_keys.decryption_keys()
    assert launch_keys.configuration_problems()


def test_a_missing_launch_key_file_is_a_configuration_error(settings: Any, tmp_path: Any) -> None:
    settings.INDBLIK_LAUNCH_KEY_FILE = str(tmp_path / "absent.json")
    assert "cannot read" in launch_keys.configuration_problems()[0]
