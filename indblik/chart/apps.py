from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChartConfig(AppConfig):
    name = "indblik.chart"
    label = "chart"
    verbose_name = _("Record")
