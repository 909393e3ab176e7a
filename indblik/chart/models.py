"""What the chart stores: each user's acknowledgement of the rules of use (never clinical data)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RulesAcknowledgement(models.Model):
    """One user's acknowledgement of one version of the rules of use."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="rules_acknowledgements",
    )
    version = models.CharField(_("rules version"), max_length=32)
    language = models.CharField(_("language shown"), max_length=8, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("acknowledgement of the rules of use")
        verbose_name_plural = _("acknowledgements of the rules of use")
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="chart_rules_once_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} acknowledged rules {self.version}"
