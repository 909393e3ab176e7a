"""`indblik check --deploy` is clean in production mode, with every file production needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from indblik.core.tests.production import clean_environment, indblik, production_environment


def test_check_deploy_passes_in_production_mode(tmp_path: Path) -> None:
    env = production_environment(tmp_path)
    result = indblik("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_production_server_sends_the_browser_protections(tmp_path: Path) -> None:
    env = production_environment(tmp_path)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_REFERRER_POLICY, s.SECURE_PROXY_SSL_HEADER[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=clean_environment({**env, "DJANGO_SETTINGS_MODULE": "indblik.settings"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.split() == [
        "63072000",
        "True",
        "True",
        "True",
        "no-referrer",
        "HTTP_X_FORWARDED_PROTO",
    ], result.stderr
