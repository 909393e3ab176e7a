from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from indblik.access.demo import ensure_demo_care_system_keys
from indblik.core.server import exec_gunicorn
from indblik.followup.demo import ensure_demo_citizen
from indblik.organisations.demo import ensure_demo_organisations
from indblik.records.models import Patient


class Command(BaseCommand):
    help = "Run the demo: migrate, load synthetic citizens on first run, serve on loopback."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--patients", type=int, default=200)
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare the database and stop (tests)"
        )

    def handle(self, *args: Any, port: int, patients: int, no_serve: bool, **options: Any) -> None:
        if not settings.DEMO:
            raise CommandError("`indblik demo` runs only with INDBLIK_MODE=demo")
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535")
        if patients < 1:
            raise CommandError("--patients must be at least 1")
        call_command("migrate", interactive=False, verbosity=0)
        ensure_demo_organisations()
        ensure_demo_care_system_keys()
        if not Patient.objects.exists():
            self.stdout.write(f"Generating {patients} synthetic citizens (first run only)…")
            call_command("generate", patients=patients, seed=1)
        # The citizen persona's own record (after the generator: it must not stop it running).
        ensure_demo_citizen()
        password = self._admin_password()
        base = f"http://127.0.0.1:{port}"
        configured = settings.INDBLIK_BASE_URL
        if "INDBLIK_BASE_URL" in os.environ and base != configured:
            raise CommandError(f"INDBLIK_BASE_URL is {configured}, not {base}: unset it")
        self.stdout.write(
            self.style.SUCCESS("\nIndblik demo is starting.\n")
            + f"  Open            {base}/\n"
            + f"  Sign in         {base}/saml2/login/  (choose a demo person)\n"
            + f"  Care system     {base}/demo-eoj/  (the simulated care system's Indblik button)\n"
            + f"  Citizen's log   {base}/min-log/  (sign in as the citizen persona)\n"
            + f"  Log follow-up   {base}/follow-up/  (sign in as the log reviewer persona)\n"
            + f"  Administration  {base}/admin/  (user 'admin', password '{password}')\n"
            + f"  Data            {settings.DATA_DIR} (delete it to start over)\n"
            + "  Stop with Ctrl+C.\n"
        )
        if no_serve:
            return
        # SAML entity id, ACS and the demo IdP's endpoints derive from the base URL: it must
        # name the port the demo really listens on.
        os.environ["INDBLIK_BASE_URL"] = base
        exec_gunicorn(f"127.0.0.1:{port}", 2)

    def _admin_password(self) -> str:
        """Return the demo administrator's password, created at first run (never in the repo)."""
        path = settings.DATA_DIR / "demo-admin-password"
        if path.exists():
            password = path.read_text(encoding="utf-8").strip()
        else:
            password = secrets.token_urlsafe(12)
            path.touch(mode=0o600)
            path.write_text(password, encoding="utf-8")
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(username="admin")
        if not user.check_password(password) or not user.is_superuser:
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
        return password
