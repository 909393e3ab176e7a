"""The identity app: SAML sign-in, users, sessions, the demo identity provider."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    """Connect the session signals and register the deployment check of the SAML SP."""

    name = "indblik.identity"
    label = "identity"
    verbose_name = _("Identity")

    def ready(self) -> None:
        """Connect login/logout receivers; register ``identity.E001`` for ``check --deploy``."""
        from indblik.identity import reauth, sessions

        sessions.connect_signals()
        reauth.connect_signals()
        checks.register(check_saml_configuration, checks.Tags.security, deploy=True)


def check_saml_configuration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report what keeps the SAML service provider from working (``check --deploy``)."""
    from indblik.identity import saml

    if not settings.PRODUCTION:
        return []
    return [
        checks.Error(problem, id="identity.E001", hint="See docs/identity.md.")
        for problem in saml.configuration_problems()
    ]
