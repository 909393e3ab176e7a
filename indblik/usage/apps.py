"""The usage app: an organisation's own overview, rollout reports and lookup feedback."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsageConfig(AppConfig):
    name = "indblik.usage"
    label = "usage"
    verbose_name = _("Usage and feedback")
