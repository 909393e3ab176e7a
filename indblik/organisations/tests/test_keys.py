"""Care-system keys: only public EC P-256 and RSA ≥ 2048 keys, with kids, for rotation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from indblik.audit import Action, Actor
from indblik.organisations import registry
from indblik.organisations.errors import InvalidKey
from indblik.organisations.keys import parse_jwks, verification_keys
from indblik.organisations.models import CareSystemKey, Organisation
from indblik.organisations.tests.conftest import ec_key, jwks, public, rsa_key

Events = Callable[..., list[Any]]


def refused(text: str | bytes) -> InvalidKey:
    with pytest.raises(InvalidKey) as error:
        parse_jwks(text)
    return error.value


def message(error: InvalidKey) -> str:
    return " ".join(error.messages)


def test_it_accepts_a_public_ec_p256_key_set() -> None:
    key = ec_key("eoj-2025")
    (parsed,) = parse_jwks(jwks(public(key)))
    assert (parsed.kid, parsed.kty, parsed.crv, parsed.size) == ("eoj-2025", "EC", "P-256", 256)
    assert parsed.thumbprint == key.thumbprint()
    assert parsed.jwk == {**public(key), "use": "sig"}


def test_it_accepts_a_public_rsa_2048_key_on_its_own(rsa_2048: RSAKey) -> None:
    (parsed,) = parse_jwks(json.dumps({**public(rsa_2048), "alg": "RS256", "use": "sig"}))
    assert (parsed.kid, parsed.kty, parsed.crv, parsed.size) == ("rsa-1", "RSA", "", 2048)
    assert parsed.jwk["alg"] == "RS256"
    assert "d" not in parsed.jwk


def test_it_accepts_several_keys_at_once_for_rotation(rsa_2048: RSAKey) -> None:
    parsed = parse_jwks(jwks(public(ec_key("old")), public(ec_key("new")), public(rsa_2048)))
    assert [key.kid for key in parsed] == ["old", "new", "rsa-1"]


def test_it_drops_members_it_does_not_use() -> None:
    key = {**public(ec_key("a")), "x5c": ["MIIB..."], "foo": "bar"}
    (parsed,) = parse_jwks(json.dumps(key))
    assert set(parsed.jwk) == {"kty", "crv", "x", "y", "kid", "use"}


@pytest.mark.parametrize("text", ["", "{", "{'keys': []}", b"\xff\xfe", "[1, 2"])
def test_it_refuses_malformed_json(text: str | bytes) -> None:
    assert refused(text).code == "json"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[]", "not_jwk"),
        ('"a key"', "not_jwk"),
        ('{"keys": []}', "empty_set"),
        ('{"keys": {"kty": "EC"}}', "empty_set"),
        ('{"keys": ["a key"]}', "not_object"),
    ],
)
def test_it_refuses_json_that_is_no_key(text: str, code: str) -> None:
    assert refused(text).code == code


def test_it_refuses_a_private_ec_key_with_a_clear_message() -> None:
    error = refused(jwks(ec_key("k1").as_dict(private=True)))
    assert error.code == "private"
    assert "this is a private key: send only the public part" in message(error)
    assert "'k1'" in message(error)


def test_it_refuses_a_private_rsa_key(rsa_2048: RSAKey) -> None:
    error = refused(json.dumps(rsa_2048.as_dict(private=True)))
    assert error.code == "private"
    assert "d, p, q, dp, dq, qi" in message(error)


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_any_private_member_alone_marks_a_private_key(member: str) -> None:
    key = {**public(ec_key("k1")), member: "AAAA"}
    assert refused(json.dumps(key)).code == "private"


def test_one_private_key_in_a_set_refuses_the_whole_set() -> None:
    error = refused(jwks(public(ec_key("ok")), ec_key("leaked").as_dict(private=True)))
    assert "Key 2 (kid 'leaked')" in message(error)


@pytest.mark.parametrize("curve", ["P-384", "P-521", "secp256k1"])
def test_it_refuses_other_ec_curves(curve: str) -> None:
    error = refused(jwks(public(ec_key("k", curve))))
    assert error.code == "curve"
    assert curve in message(error)


@pytest.mark.parametrize("curve", ["Ed25519", "X25519"])
def test_it_refuses_okp_keys(curve: Any) -> None:
    key = OKPKey.generate_key(curve, parameters={"kid": "k"}, private=True)
    assert refused(jwks(dict(key.as_dict(private=False)))).code == "kty"


def test_it_refuses_an_rsa_key_under_2048_bits() -> None:
    error = refused(jwks(public(rsa_key("short", 1024))))
    assert error.code == "rsa_size"
    assert "1024 bits" in message(error)


def test_it_refuses_a_symmetric_key() -> None:
    key = OctKey.generate_key(256, parameters={"kid": "shared"})
    error = refused(jwks(dict(key.as_dict())))
    assert error.code == "symmetric"
    assert "symmetric" in message(error)


@pytest.mark.parametrize("kid", [None, "", "   ", 17])
def test_it_refuses_a_key_without_a_kid(kid: object) -> None:
    key = public(ec_key("x"))
    if kid is None:
        del key["kid"]
    else:
        key["kid"] = kid
    assert refused(jwks(key)).code == "no_kid"


@pytest.mark.parametrize("kid", ["a\nb", " padded", "x" * 201])
def test_it_refuses_a_kid_that_cannot_be_shown_safely(kid: str) -> None:
    key = {**public(ec_key("x")), "kid": kid}
    assert refused(jwks(key)).code == "bad_kid"


def test_it_refuses_a_duplicate_kid_in_one_set() -> None:
    error = refused(jwks(public(ec_key("same")), public(ec_key("same"))))
    assert error.code == "duplicate_kid"


def test_it_refuses_the_same_key_twice_under_two_kids() -> None:
    key = public(ec_key("a"))
    assert refused(jwks(key, {**key, "kid": "b"})).code == "duplicate_key"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"use": "enc"}, "use"),
        ({"alg": "RS256"}, "alg"),
        ({"alg": "none"}, "alg"),
        ({"key_ops": ["sign"]}, "key_ops"),
    ],
)
def test_it_refuses_a_key_meant_for_something_else(extra: dict[str, Any], code: str) -> None:
    assert refused(jwks({**public(ec_key("k")), **extra})).code == code


def test_it_refuses_a_point_that_is_not_on_the_curve() -> None:
    key = public(ec_key("k"))
    key["x"] = key["y"]
    assert refused(jwks(key)).code == "invalid"


def test_it_refuses_an_oversized_document() -> None:
    assert refused(" " * (64 * 1024 + 1)).code == "too_large"


# --- registering keys -------------------------------------------------------------------------


@pytest.mark.django_db
def test_added_keys_verify_and_are_audited_without_key_material(
    municipality: Organisation, alice: Actor, events: Events, rsa_2048: RSAKey
) -> None:
    signer = ec_key("eoj-1")
    rows = registry.add_keys(
        org=municipality, jwks_json=jwks(public(signer), public(rsa_2048)), by=alice
    )
    assert [(row.kid, row.kty, row.size) for row in rows] == [
        ("eoj-1", "EC", 256),
        ("rsa-1", "RSA", 2048),
    ]
    token = jws.serialize_compact({"alg": "ES256", "kid": "eoj-1"}, b"launch", signer)
    keyset = verification_keys(municipality)
    assert jws.deserialize_compact(token, keyset).payload == b"launch"
    (event,) = events(Action.ORGANISATION_KEY_CHANGE)
    assert [item["kid"] for item in event.details["added"]] == ["eoj-1", "rsa-1"]
    assert event.details["before"] == {"active": []}
    assert event.details["after"] == {"active": ["eoj-1", "rsa-1"]}
    text = json.dumps(event.details)
    assert public(signer)["x"] not in text
    assert public(rsa_2048)["n"][:40] not in text


@pytest.mark.django_db
def test_a_removed_key_no_longer_verifies_but_stays_in_the_history(
    municipality: Organisation, alice: Actor, events: Events
) -> None:
    old, new = ec_key("2024"), ec_key("2025")
    registry.add_keys(org=municipality, jwks_json=jwks(public(old)), by=alice)
    registry.add_keys(org=municipality, jwks_json=jwks(public(new)), by=alice)
    registry.remove_key(org=municipality, kid="2024", by=alice)
    token = jws.serialize_compact({"alg": "ES256", "kid": "2024"}, b"launch", old)
    with pytest.raises(InvalidKeyIdError):
        jws.deserialize_compact(token, verification_keys(municipality))
    forged = jws.serialize_compact({"alg": "ES256", "kid": "2025"}, b"launch", old)
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(forged, verification_keys(municipality))
    row = CareSystemKey.objects.get(organisation=municipality, kid="2024")
    assert row.removed_at is not None
    assert row.removed_by_name == "command-line (alice)"
    event = events(Action.ORGANISATION_KEY_CHANGE)[-1]
    assert event.details["change"] == "remove"
    assert (event.details["before"], event.details["after"]) == (
        {"active": ["2024", "2025"]},
        {"active": ["2025"]},
    )


@pytest.mark.django_db
def test_a_kid_is_never_reused_within_an_organisation(
    municipality: Organisation, alice: Actor
) -> None:
    registry.add_keys(org=municipality, jwks_json=jwks(public(ec_key("k1"))), by=alice)
    registry.remove_key(org=municipality, kid="k1", by=alice)
    with pytest.raises(InvalidKey, match="already used"):
        registry.add_keys(org=municipality, jwks_json=jwks(public(ec_key("k1"))), by=alice)


@pytest.mark.django_db
def test_adding_keys_is_all_or_nothing(municipality: Organisation, alice: Actor) -> None:
    registry.add_keys(org=municipality, jwks_json=jwks(public(ec_key("k1"))), by=alice)
    with pytest.raises(InvalidKey):
        registry.add_keys(
            org=municipality,
            jwks_json=jwks(public(ec_key("k2")), public(ec_key("k1"))),
            by=alice,
        )
    assert list(municipality.keys.values_list("kid", flat=True)) == ["k1"]


@pytest.mark.django_db
def test_an_active_key_cannot_be_added_again_under_another_kid(
    municipality: Organisation, alice: Actor
) -> None:
    key = public(ec_key("k1"))
    registry.add_keys(org=municipality, jwks_json=jwks(key), by=alice)
    with pytest.raises(InvalidKey, match="already registered"):
        registry.add_keys(org=municipality, jwks_json=jwks({**key, "kid": "k2"}), by=alice)


@pytest.mark.django_db
def test_removing_an_unknown_or_removed_key_is_refused(
    municipality: Organisation, alice: Actor
) -> None:
    with pytest.raises(InvalidKey, match="no key"):
        registry.remove_key(org=municipality, kid="nope", by=alice)
    registry.add_keys(org=municipality, jwks_json=jwks(public(ec_key("k1"))), by=alice)
    registry.remove_key(org=municipality, kid="k1", by=alice)
    with pytest.raises(InvalidKey, match="already removed"):
        registry.remove_key(org=municipality, kid="k1", by=alice)


@pytest.mark.django_db
def test_an_organisation_holds_at_most_ten_active_keys(
    municipality: Organisation, alice: Actor
) -> None:
    registry.add_keys(
        org=municipality, jwks_json=jwks(*(public(ec_key(f"k{n}")) for n in range(10))), by=alice
    )
    with pytest.raises(InvalidKey, match="At most 10"):
        registry.add_keys(org=municipality, jwks_json=jwks(public(ec_key("k10"))), by=alice)


def test_only_public_key_classes_come_back_from_the_key_set(rsa_2048: RSAKey) -> None:
    # verification_keys imports stored JWKs; they must import as public keys only.
    for key in (ec_key("e"), rsa_2048):
        (parsed,) = parse_jwks(jwks(public(key)))
        cls = ECKey if parsed.kty == "EC" else RSAKey
        jwk: Any = parsed.jwk
        assert not cls.import_key(jwk).is_private
