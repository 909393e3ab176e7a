"""``indblik keys show|generate`` and ``indblik launch-token``: output and exit codes."""

from __future__ import annotations

import html
import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from indblik.access import launch_keys, tokens
from indblik.access.tests import launch_kit as kit
from indblik.identity import saml
from indblik.organisations.demo import ensure_demo_organisations
from indblik.organisations.models import Organisation

PRIVATE = ('"d"', '"p"', '"q"', "PRIVATE KEY")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def kk_key(db: None) -> Any:
    ensure_demo_organisations()
    key = kit.ec_key("kk-cli")
    kit.register(Organisation.objects.get(cvr=kit.KK), key)
    return key


# --- keys show ------------------------------------------------------------------------------


def test_keys_show_prints_the_public_launch_keys_and_the_saml_certificate() -> None:
    text = run("keys", "show")
    jwks = json.loads(text[text.index("{") : text.index("# SAML")])
    assert jwks == launch_keys.public_jwks()
    assert jwks["keys"][0]["alg"] == "ECDH-ES+A256KW"
    assert "-----BEGIN CERTIFICATE-----" in text
    assert not any(marker in text for marker in PRIVATE)


def test_keys_show_json_is_for_machines() -> None:
    document = json.loads(run("keys", "show", "--format", "json"))
    assert document["launch_jwks"] == launch_keys.public_jwks()
    (certificate,) = document["saml_certificates"]
    _key, cert_path = saml.key_files()
    assert certificate["pem"] == cert_path.read_text()
    assert certificate["use"] == "current" and ":" in certificate["sha256"]
    assert not any(marker in json.dumps(document) for marker in PRIVATE)


def test_keys_show_only_one_part() -> None:
    assert "CERTIFICATE" not in run("keys", "show", "--only", "launch")
    assert '"keys"' not in run("keys", "show", "--only", "saml")


def test_keys_show_fails_clearly_without_a_launch_key_in_production(settings: Any) -> None:
    settings.PRODUCTION = True
    settings.INDBLIK_LAUNCH_KEY_FILE = ""
    with pytest.raises(CommandError, match="INDBLIK_LAUNCH_KEY_FILE"):
        run("keys", "show", "--only", "launch")


def test_keys_show_fails_clearly_without_a_saml_certificate(settings: Any) -> None:
    settings.INDBLIK_SAML_CERT_FILE = ""
    with pytest.raises(CommandError, match="INDBLIK_SAML_CERT_FILE"):
        run("keys", "show")


# --- keys generate ------------------------------------------------------------------------


def test_keys_generate_writes_a_private_key_once(tmp_path: Path, settings: Any) -> None:
    path = tmp_path / "launch.jwks.json"
    printed = json.loads(run("keys", "generate", str(path)))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not any(marker in json.dumps(printed) for marker in PRIVATE)
    settings.INDBLIK_LAUNCH_KEY_FILE = str(path)
    assert launch_keys.public_jwks() == printed
    with pytest.raises(CommandError, match="not overwriting"):
        run("keys", "generate", str(path))


# --- launch-token ---------------------------------------------------------------------------


def write_key(tmp_path: Path, key: Any, *, pem: bool = False) -> Path:
    path = tmp_path / ("key.pem" if pem else "key.jwk.json")
    if pem:
        path.write_bytes(key.as_pem(private=True))
    else:
        path.write_text(json.dumps(key.as_dict(private=True)))
    return path


def launch_args(key_file: Path, *extra: str) -> list[str]:
    return [
        "launch_token",
        "--key",
        str(key_file),
        "--org",
        kit.KK,
        "--sub",
        kit.SUB,
        "--patient",
        "010150-4444",
        *extra,
    ]


def test_launch_token_builds_a_token_that_verifies(kk_key: Any, tmp_path: Path) -> None:
    token = run(*launch_args(write_key(tmp_path, kk_key))).strip()
    claims = tokens.verify_token(token)
    assert (claims.org, claims.sub, claims.patient, claims.kid) == (
        kit.KK,
        kit.SUB,
        kit.CPR,
        "kk-cli",
    )
    assert claims.exp - claims.iat == 60


def test_launch_token_takes_a_pem_key_with_its_kid(kk_key: Any, tmp_path: Path) -> None:
    path = write_key(tmp_path, kk_key, pem=True)
    with pytest.raises(CommandError, match="--kid"):
        run(*launch_args(path))
    token = run(*launch_args(path, "--kid", "kk-cli", "--purpose", "emergency", "--reason", "Fald"))
    claims = tokens.verify_token(token.strip())
    assert (claims.purpose, claims.reason) == ("emergency", "Fald")


def test_launch_token_reads_the_cpr_number_from_a_file(kk_key: Any, tmp_path: Path) -> None:
    cpr_file = tmp_path / "cpr.txt"
    cpr_file.write_text("0101504444\n")
    args = launch_args(write_key(tmp_path, kk_key))
    args[args.index("--patient") + 1] = f"@{cpr_file}"
    assert tokens.verify_token(run(*args).strip()).patient == kit.CPR


def test_launch_token_form_posts_to_the_audience(kk_key: Any, tmp_path: Path) -> None:
    page = run(*launch_args(write_key(tmp_path, kk_key), "--form"))
    assert 'action="http://127.0.0.1:8000/launch"' in page
    token = html.unescape(re.search(r'name="launch_token" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert tokens.verify_token(token).org == kit.KK
    assert "<button" in page  # usable without JavaScript


def test_launch_token_encrypts_to_another_servers_key(kk_key: Any, tmp_path: Path) -> None:
    other = launch_keys.new_private_jwk("elsewhere")
    public = {name: other[name] for name in ("kty", "crv", "x", "y", "kid")}
    jwks = tmp_path / "theirs.json"
    jwks.write_text(json.dumps({"keys": [public]}))
    token = run(*launch_args(write_key(tmp_path, kk_key), "--encrypt-to", str(jwks))).strip()
    with pytest.raises(tokens.LaunchRefused) as caught:
        tokens.verify_token(token)  # not for this server's key
    assert caught.value.reason == tokens.Reason.UNDECRYPTABLE
    private = tmp_path / "private.json"
    private.write_text(json.dumps(other))
    with pytest.raises(CommandError, match="public key"):
        run(*launch_args(write_key(tmp_path, kk_key), "--encrypt-to", str(private)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--lifetime", "300"], "lifetime"),
        (["--purpose", "emergency", "--org", "123"], "CVR"),
        (["--patient", "12345"], "CPR"),
        (["--encrypt-to", "/nonexistent"], "cannot read"),
    ],
)
def test_launch_token_refuses_bad_input(
    kk_key: Any, tmp_path: Path, change: list[str], message: str
) -> None:
    args = launch_args(write_key(tmp_path, kk_key))
    for option, value in zip(change[::2], change[1::2], strict=True):
        if option in args:
            args[args.index(option) + 1] = value
        else:
            args += [option, value]
    with pytest.raises(CommandError, match=message) as caught:
        run(*args)
    assert "12345" not in str(caught.value)


def test_launch_token_refuses_a_public_or_missing_key(tmp_path: Path) -> None:
    public = tmp_path / "public.json"
    public.write_text(json.dumps(kit.ec_key("k").as_dict(private=False)))
    with pytest.raises(CommandError, match="private key"):
        run(*launch_args(public))
    with pytest.raises(CommandError, match="cannot read"):
        run(*launch_args(tmp_path / "absent.json"))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nonsense")
    with pytest.raises(CommandError, match="not a usable"):
        run(*launch_args(garbage))


def test_the_indblik_command_knows_launch_token_by_its_hyphenated_name(tmp_path: Path) -> None:
    """Through the real console script: exit codes and the documented name."""
    env = {**os.environ, "INDBLIK_MODE": "test", "INDBLIK_DATA_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    indblik = [sys.executable, "-m", "indblik"]
    helped = subprocess.run(
        [*indblik, "launch-token", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    assert "indblik launch-token" in helped.stdout
    command = [*indblik, "launch-token", "--key", str(tmp_path / "absent")]
    command += ["--org", kit.KK, "--sub", "s", "--patient", "0101504444"]
    bad = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "cannot read the key" in bad.stderr
    shown = subprocess.run(
        [*indblik, "keys", "show", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["launch_jwks"]["keys"][0]["kty"] == "EC"
