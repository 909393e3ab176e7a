from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "indblik.access"
    label = "access"
    verbose_name = _("Access")

    def ready(self) -> None:
        from indblik.access import launch_keys, policy

        # A bad INDBLIK_ACCESS_POLICY stops start-up (ImproperlyConfigured), not the first launch.
        policy.policies()

        # ``indblik check --deploy``: a production server without a usable launch key.
        checks.register(launch_keys.check_launch_key, checks.Tags.security, deploy=True)
