"""Keys: generated safely in demo/test, required in production, rotatable for verification."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from indblik.audit import keys
from indblik.audit.errors import AuditKeyError


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    settings.INDBLIK_AUDIT_KEY_FILE = ""
    settings.INDBLIK_AUDIT_PUBLIC_KEYS = []
    return tmp_path


def test_demo_and_test_generate_a_private_key_readable_by_the_owner_only(data_dir: Path) -> None:
    key = keys.load_signing_key()
    path = data_dir / keys.GENERATED_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.key_id(keys.load_signing_key().public_key()) == keys.key_id(key.public_key())


def test_production_requires_a_key_file(settings: Any, data_dir: Path) -> None:
    settings.PRODUCTION = True
    with pytest.raises(AuditKeyError, match="INDBLIK_AUDIT_KEY_FILE"):
        keys.load_signing_key()
    assert not (data_dir / keys.GENERATED_KEY_NAME).exists()


def test_a_configured_key_file_that_is_missing_or_wrong_is_refused(
    settings: Any, data_dir: Path
) -> None:
    settings.INDBLIK_AUDIT_KEY_FILE = str(data_dir / "absent.pem")
    with pytest.raises(AuditKeyError, match="cannot read"):
        keys.load_signing_key()
    wrong = data_dir / "ec.pem"
    wrong.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.INDBLIK_AUDIT_KEY_FILE = str(wrong)
    with pytest.raises(AuditKeyError, match="not an Ed25519 private key"):
        keys.load_signing_key()


def test_the_key_id_is_sixteen_hex_digits_of_the_public_key_hash() -> None:
    key_id = keys.key_id(keys.load_signing_key().public_key())
    assert len(key_id) == 16 and int(key_id, 16) >= 0


def test_verification_keys_hold_the_current_key_and_the_listed_old_ones(
    settings: Any, data_dir: Path
) -> None:
    current = keys.load_signing_key().public_key()
    old_path = data_dir / "old.pub"
    old_public = Ed25519PrivateKey.generate().public_key()
    old_path.write_text(keys.public_key_pem(old_public))
    settings.INDBLIK_AUDIT_PUBLIC_KEYS = [str(old_path)]
    assert set(keys.verification_keys()) == {keys.key_id(current), keys.key_id(old_public)}


def test_a_private_key_in_the_public_list_is_refused(settings: Any, data_dir: Path) -> None:
    keys.load_signing_key()
    settings.INDBLIK_AUDIT_PUBLIC_KEYS = [str(data_dir / keys.GENERATED_KEY_NAME)]
    with pytest.raises(AuditKeyError, match="public keys only"):
        keys.verification_keys()


def test_verify_on_an_auditors_machine_needs_only_public_keys(
    settings: Any, data_dir: Path
) -> None:
    settings.PRODUCTION = True  # no signing key configured, none generated
    assert keys.verification_keys() == {}


def test_a_key_generated_meanwhile_by_another_process_is_kept(data_dir: Path) -> None:
    path = data_dir / keys.GENERATED_KEY_NAME
    keys._generate(path)
    first = path.read_bytes()
    keys._generate(path)  # lost the race: must not overwrite the winner's key
    assert path.read_bytes() == first


def test_a_listed_public_key_that_is_unreadable_or_not_ed25519_is_refused(
    settings: Any, data_dir: Path
) -> None:
    settings.INDBLIK_AUDIT_PUBLIC_KEYS = [str(data_dir / "gone.pub")]
    with pytest.raises(AuditKeyError, match="cannot read"):
        keys.verification_keys()
    ec_public = data_dir / "ec.pub"
    ec_public.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    settings.INDBLIK_AUDIT_PUBLIC_KEYS = [str(ec_public)]
    with pytest.raises(AuditKeyError, match="not an Ed25519 public key"):
        keys.verification_keys()


def test_check_deploy_warns_when_production_has_no_signing_key(settings: Any) -> None:
    from indblik.audit.checks import check_signing_key

    assert check_signing_key() == []
    settings.PRODUCTION = True
    assert [message.id for message in check_signing_key()] == ["audit.W001"]
    settings.INDBLIK_AUDIT_KEY_FILE = "/etc/indblik/audit-ed25519.pem"
    assert check_signing_key() == []
