"""Answers to the chart's one-question feedback prompt. Never patient data.

A row says who answered, for which organisation, when, the score (1-5) and an optional
comment; a row without a score is a "not now". Nothing links a row to a citizen, a grant
or a chart page: the prompt's form carries none of them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from indblik.organisations.models import Organisation

COMMENT_MAX_LENGTH = 500
SCORES = (1, 2, 3, 4, 5)


class Feedback(models.Model):
    """One answer to "How useful was this lookup?" (score 1-5), or a "not now" (no score)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        # The answer stays in the statistics when the user is deleted (SCIM).
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("user"),
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("organisation"),
    )
    score = models.PositiveSmallIntegerField(
        _("score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("1 (no use) to 5 (very high use); empty when the user answered 'not now'."),
    )
    comment = models.TextField(_("comment"), max_length=COMMENT_MAX_LENGTH, blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["user", "at"], name="usage_feedback_user_at"),
            models.Index(fields=["at"], name="usage_feedback_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=1, score__lte=5),
                name="usage_feedback_score_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.at:%Y-%m-%d} {self.score or '-'}"
