"""Start-up rules of the identity settings: production refuses the demo IdP and a server
without SAML keys or metadata, while commands that never touch SAML keep working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from indblik.identity import keys

SECRET = "k" * 20 + "Zq8-Pw3_Lm7xR2vT9nB4cY6hJ1dF5gS0aEabcdefghijklmnop"
WSGI = "from django.core.wsgi import get_wsgi_application; get_wsgi_application(); print('served')"


def run(env: dict[str, str], tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after ``django.setup()`` in a fresh interpreter with exactly this env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("INDBLIK_", "DATABASE_URL"))}
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "indblik.settings",
            "INDBLIK_DATA_DIR": str(tmp_path),
            "INDBLIK_SECRET_KEY": SECRET,
            "INDBLIK_BASE_URL": "https://indblik.example.dk",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def saml_files(tmp_path: Path) -> dict[str, str]:
    key, cert = tmp_path / "sp-key.pem", tmp_path / "sp-cert.pem"
    keys.ensure_key_pair(key, cert, common_name="sp")
    metadata = tmp_path / "broker.xml"
    metadata.write_text("<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'/>")
    return {
        "INDBLIK_SAML_KEY_FILE": str(key),
        "INDBLIK_SAML_CERT_FILE": str(cert),
        "INDBLIK_SAML_IDP_METADATA": str(metadata),
    }


def test_production_refuses_the_demo_idp(tmp_path: Path) -> None:
    result = run({"INDBLIK_SAML_DEMO_IDP": "true"}, tmp_path, "print('started')")
    assert result.returncode != 0
    assert "INDBLIK_SAML_DEMO_IDP cannot be on in production mode" in result.stderr


def test_production_commands_work_before_saml_is_configured(tmp_path: Path) -> None:
    result = run({}, tmp_path, "print('started')")
    assert result.stdout.strip() == "started", result.stderr


def test_the_production_web_server_refuses_to_start_without_saml(tmp_path: Path) -> None:
    result = run({}, tmp_path, WSGI)
    assert result.returncode != 0
    assert "INDBLIK_SAML_KEY_FILE and INDBLIK_SAML_CERT_FILE must be set" in result.stderr
    assert "INDBLIK_SAML_IDP_METADATA must name the broker's metadata" in result.stderr


def test_the_production_web_server_refuses_a_key_that_is_not_the_certificates(
    tmp_path: Path, saml_files: dict[str, str]
) -> None:
    other_key, _ = keys.new_key_pair("other")
    (tmp_path / "other-key.pem").write_bytes(other_key)
    env = {**saml_files, "INDBLIK_SAML_KEY_FILE": str(tmp_path / "other-key.pem")}
    result = run(env, tmp_path, WSGI)
    assert result.returncode != 0
    assert "does not belong to the certificate" in result.stderr


def test_the_production_web_server_starts_with_keys_and_metadata(
    tmp_path: Path, saml_files: dict[str, str]
) -> None:
    result = run(saml_files, tmp_path, WSGI)
    assert result.stdout.strip().endswith("served"), result.stderr


def test_check_deploy_reports_the_missing_saml_configuration(tmp_path: Path) -> None:
    code = (
        "from django.core.management import call_command; "
        "call_command('check', deploy=True, fail_level='ERROR')"
    )
    result = run({}, tmp_path, code)
    assert result.returncode != 0
    assert "identity.E001" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INDBLIK_SAML_IDP_METADATA": "http://broker.example/md"}, "fetch metadata over https"),
        ({"INDBLIK_SAML_NEXT_KEY_FILE": "/k.pem"}, "set both INDBLIK_SAML_NEXT_KEY_FILE"),
        (
            {"INDBLIK_SAML_CLOCK_SKEW_SECONDS": "3600"},
            "INDBLIK_SAML_CLOCK_SKEW_SECONDS must be at most",
        ),
        (
            {"INDBLIK_SAML_REQUIRE_ENCRYPTION": "maybe"},
            "INDBLIK_SAML_REQUIRE_ENCRYPTION must be true or false",
        ),
        ({"INDBLIK_SAML_ADMIN_CVR": "1234"}, "INDBLIK_SAML_ADMIN_CVR must be 8 digits"),
    ],
)
def test_bad_values_stop_the_start(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = run(env, tmp_path, "print('started')")
    assert result.returncode != 0
    assert message in result.stderr


def test_encryption_is_required_by_default_in_production(tmp_path: Path) -> None:
    code = "from django.conf import settings; print(settings.INDBLIK_SAML_REQUIRE_ENCRYPTION)"
    assert run({}, tmp_path, code).stdout.strip() == "True"
    demo = run({"INDBLIK_MODE": "demo"}, tmp_path, code + "; print(settings.INDBLIK_SAML_DEMO_IDP)")
    assert demo.stdout.split() == ["False", "True"]


def test_the_help_command_works_without_any_configuration(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INDBLIK_")}
    result = subprocess.run(
        [sys.executable, "-m", "indblik", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
