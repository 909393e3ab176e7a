"""Review cases of an organisation's log follow-up, and the bookkeeping of scans and draws.

A :class:`Case` is one thing a log reviewer must look at: a lookup an automatic rule flagged,
a review alert raised by the access policy, or a lookup drawn at random as a spot check. Cases
point at audit events by id (plain integers, like the audit log's ``user_id``: the log never
depends on anything else) and carry copies of what the reviewer needs to see.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Rule(models.TextChoices):
    """Why a case exists: an automatic rule, a review alert, or a random spot check."""

    SAME_SURNAME = "same-surname", _("Same surname as the user")
    SAME_ADDRESS = "same-address", _("Same address as the user")
    COLLEAGUE = "colleague", _("A colleague's record")
    OWN_RECORD = "own-record", _("The user's own record")
    UNUSUAL_HOUR = "unusual-hour", _("Outside the user's usual hours")
    MANY_CITIZENS = "many-citizens", _("Unusually many citizens in a day")
    OUTSIDE_MUNICIPALITY = "outside-municipality", _("Citizen outside the municipality")
    EMERGENCY = "emergency", _("Emergency access")
    BLOCK_OVERRIDE = "block-override", _("Citizen's block overridden")
    REFUSED = "refused", _("Refused attempt")
    VIP = "vip", _("VIP-flagged citizen")
    SPOT_CHECK = "spot-check", _("Random spot check")


class Status(models.TextChoices):
    """Where a case stands: open until the reviewer decides."""

    OPEN = "open", pgettext_lazy("case status", "Open")
    JUSTIFIED = "justified", _("Justified")
    NOT_JUSTIFIED = "not-justified", _("Not justified")


class Case(models.Model):
    """One flagged or sampled lookup that the organisation's log reviewer decides on.

    Created only by :mod:`indblik.followup.scan` and :mod:`indblik.followup.spotchecks`
    (idempotently: ``key`` is unique per organisation); changed only by a review decision
    (:func:`indblik.followup.review.decide`), which is audited.
    """

    organisation_cvr = models.CharField(_("organisation CVR"), max_length=8)
    key = models.CharField(
        max_length=200, help_text="what makes the case unique within the organisation"
    )
    rule = models.CharField(_("rule"), max_length=24, choices=Rule.choices)
    details = models.JSONField(_("details"), default=dict, blank=True)
    # The lookup: the first audit event of it, and copies of what the reviewer needs.
    event_id = models.BigIntegerField(_("audit event"), null=True, blank=True)
    alert_id = models.BigIntegerField(_("review alert"), null=True, blank=True)
    at = models.DateTimeField(_("time"))
    user_id = models.BigIntegerField(_("user id"), null=True, blank=True)
    actor_name = models.CharField(_("user"), max_length=200, blank=True)
    patient_cpr = models.CharField(_("CPR number"), max_length=10, blank=True)
    section = models.CharField(_("section"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The review.
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    note = models.TextField(_("note"), blank=True)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by_id = models.BigIntegerField(_("reviewed by (user id)"), null=True, blank=True)
    reviewed_by_name = models.CharField(_("reviewed by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("review case")
        verbose_name_plural = _("review cases")
        constraints = [
            models.UniqueConstraint(fields=["organisation_cvr", "key"], name="followup_case_key"),
            models.CheckConstraint(condition=Q(rule__in=Rule.values), name="followup_rule_known"),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="followup_status_known"
            ),
        ]
        indexes = [
            models.Index(fields=["organisation_cvr", "status", "-at"], name="followup_case_open"),
            models.Index(fields=["organisation_cvr", "-at"], name="followup_case_org_at"),
        ]

    def __str__(self) -> str:
        # Never the CPR number: this string may reach logs and the admin.
        return f"case {self.pk} ({self.rule}, {self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == Status.OPEN

    @property
    def masked_cpr(self) -> str:
        """Return the CPR number as ``ddmmyy-xxxx`` (birth date only), or an empty string."""
        return f"{self.patient_cpr[:6]}-xxxx" if self.patient_cpr else ""

    def reason_text(self) -> str:
        """Return the reason of the case in the reviewer's language."""
        from indblik.followup.reasons import reason_text

        return reason_text(self.rule, self.details)


class SpotCheckDraw(models.Model):
    """That one organisation's spot checks for one week have been drawn (once, for good)."""

    organisation_cvr = models.CharField(_("organisation CVR"), max_length=8)
    week = models.DateField(_("week (Monday)"))
    drawn_at = models.DateTimeField(_("drawn"))
    requested = models.PositiveIntegerField(_("requested"))
    drawn = models.PositiveIntegerField(_("drawn"))
    population = models.PositiveIntegerField(_("lookups in the week"))

    class Meta:
        verbose_name = _("spot-check draw")
        verbose_name_plural = _("spot-check draws")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation_cvr", "week"], name="followup_draw_once_a_week"
            ),
        ]

    def __str__(self) -> str:
        return f"spot checks {self.organisation_cvr} {self.week}"


class ScanMark(models.Model):
    """How far the automatic rules have scanned one organisation's log."""

    organisation_cvr = models.CharField(_("organisation CVR"), max_length=8, unique=True)
    scanned_until = models.DateTimeField(_("scanned until"))
    scanned_at = models.DateTimeField(_("last scan"))

    class Meta:
        verbose_name = _("scan mark")
        verbose_name_plural = _("scan marks")

    def __str__(self) -> str:
        return f"scan {self.organisation_cvr} until {self.scanned_until:%Y-%m-%d %H:%M}"
