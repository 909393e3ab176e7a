"""Grants (one user, one patient, one session) and the review alerts some of them raise."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from indblik.organisations.models import Organisation


class Purpose(models.TextChoices):
    """Why the user looks: current treatment, or an emergency (where the type allows it)."""

    TREATMENT = "treatment", _("Current treatment")
    EMERGENCY = "emergency", _("Emergency")


class Grant(models.Model):
    """Permission for one user, in one session, to read one citizen's record until it expires.

    The chart URL carries ``handle`` (random, opaque); the CPR number never leaves the server.
    A grant is re-checked on every request (:func:`indblik.access.grants.active_grant`), so a
    deactivated user, a suspended organisation, a removed role or a new block ends it at once.
    """

    handle = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, db_index=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    patient_cpr = models.CharField(_("CPR number"), max_length=10, editable=False)
    patient_key = models.CharField(
        max_length=64, editable=False, help_text="the record source's own id of the patient"
    )
    patient_origin = models.CharField(
        max_length=40,
        blank=True,
        default="",
        editable=False,
        help_text="which record source patient_key is an id of (empty: the local store)",
    )
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.TREATMENT
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    emergency_override = models.BooleanField(
        _("emergency override of a block"), default=False, editable=False
    )
    decision_reasons = models.JSONField(_("decision reasons"), default=list, editable=False)
    launch_jti = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_reason = models.CharField(_("revocation reason"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        indexes = [models.Index(fields=["user", "-created_at"], name="grant_user_created")]

    def __str__(self) -> str:
        # Never the CPR number or the handle: this string may reach logs and the admin.
        return f"grant {self.pk} for user {self.user_id}"

    def is_current(self, now: object | None = None) -> bool:
        moment = now or timezone.now()
        return self.revoked_at is None and self.expires_at > moment  # type: ignore[operator]


class ReviewAlert(models.Model):
    """A lookup the organisation must review (emergency access, a block overridden)."""

    class Kind(models.TextChoices):
        EMERGENCY = "emergency", _("Emergency access")
        BLOCK_OVERRIDE = "block-override", _("Citizen's block overridden in an emergency")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="alerts")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("reason given"), max_length=500, blank=True)
    raised_at = models.DateTimeField(_("raised"), default=timezone.now)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    review_note = models.TextField(_("review note"), blank=True)

    class Meta:
        verbose_name = _("review alert")
        verbose_name_plural = _("review alerts")
        ordering = ["-raised_at"]
        indexes = [
            models.Index(fields=["organisation", "reviewed_at", "-raised_at"], name="alert_open")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.raised_at:%Y-%m-%d %H:%M}"


class LaunchNonce(models.Model):
    """A launch token's ``jti`` already used: a second token with it is a replay.

    One row per accepted token, shared by every worker through the database; the unique
    constraint makes "insert or fail" atomic. Rows are kept until the token could no longer
    pass the expiry check (``exp`` plus the clock skew) and are then purged.
    """

    jti = models.CharField(max_length=200)
    organisation_cvr = models.CharField(max_length=8)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("launch nonce")
        verbose_name_plural = _("launch nonces")
        constraints = [
            # Per organisation: one care system cannot use up another's jti values.
            models.UniqueConstraint(fields=["organisation_cvr", "jti"], name="launch_nonce_once"),
        ]

    def __str__(self) -> str:
        return f"launch nonce {self.pk} of {self.organisation_cvr}"
