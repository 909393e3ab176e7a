from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "indblik.audit"
    label = "audit"
    verbose_name = _("Audit log")

    def ready(self) -> None:
        from indblik.audit import checks  # noqa: F401 - registers the system checks
