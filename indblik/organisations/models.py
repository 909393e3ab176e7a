"""The organisation registry: who may connect, from where, with which keys and which role.

Rows change only through :mod:`indblik.organisations.registry` (commands and admin both call
it), so every change is validated the same way and written to the audit log with before and
after. Who did something is kept as copies (name, user id), like the audit log does: the
history must still read correctly after a user is renamed or deleted.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from indblik.organisations import municipalities
from indblik.organisations.validators import (
    EVIDENCE_MAX_LENGTH,
    ROLE_URI_MAX_LENGTH,
    SOR_MAX_DIGITS,
    validate_cvr,
    validate_municipality_code,
    validate_role_uri,
    validate_sor_code,
)


class OrganisationType(models.TextChoices):
    """The kinds of organisation; each has its own access policy (see the access app)."""

    MUNICIPALITY = "municipality", _("Municipality")
    NEAR_CLINIC = "near-clinic", _("Near-clinic")
    HOSPICE = "hospice", _("Hospice")
    SOCIAL_SERVICES = "social-services", _("Social services")
    EMERGENCY_LINE = "emergency-line", _("Emergency line (1813)")


class Status(models.TextChoices):
    """Where an organisation is in its life: onboarding → live → suspended (→ live)."""

    ONBOARDING = "onboarding", _("Onboarding")
    LIVE = "live", _("Live")
    SUSPENDED = "suspended", _("Suspended")


class Step(models.TextChoices):
    """The six onboarding steps ("kommunens tilslutning"), in the order they are usually done."""

    BUTTON = "button", _("Button configured in the care system")
    NETWORK = "network", _("Network connection established")
    AD_GROUP = "ad-group", _("AD group created")
    JOB_ROLE = "job-role", _("Job-function role given to the group at the broker")
    WHITELIST = "whitelist", _("Network whitelisted")
    AGREEMENT = "agreement", _("Framework agreement signed")


class Organisation(models.Model):
    """An organisation whose staff may look into the hospital record once it is live."""

    cvr = models.CharField(
        _("CVR number"),
        max_length=8,
        unique=True,
        validators=[validate_cvr],
        help_text=_("8 digits; cannot be changed later."),
    )
    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=20, choices=OrganisationType.choices)
    municipality_code = models.CharField(
        # No `choices` here: the validator's message says what a code is; forms offer a list.
        _("municipality code"),
        max_length=4,
        blank=True,
        validators=[validate_municipality_code],
        help_text=_("Required for municipalities."),
    )
    sor_code = models.CharField(
        _("SOR code"), max_length=SOR_MAX_DIGITS, blank=True, validators=[validate_sor_code]
    )
    care_system = models.CharField(
        _("care system (EOJ)"),
        max_length=100,
        blank=True,
        help_text=_("The system the button is in, e.g. Cura or Nexus."),
    )
    security_officer_name = models.CharField(_("security officer"), max_length=200, blank=True)
    security_officer_email = models.EmailField(_("security officer's email"), blank=True)
    security_officer_phone = models.CharField(
        _("security officer's phone"), max_length=30, blank=True
    )
    technical_contact_name = models.CharField(_("technical contact"), max_length=200, blank=True)
    technical_contact_email = models.EmailField(_("technical contact's email"), blank=True)
    technical_contact_phone = models.CharField(
        _("technical contact's phone"), max_length=30, blank=True
    )
    role_uri = models.CharField(
        _("role"),
        max_length=ROLE_URI_MAX_LENGTH,
        blank=True,
        validators=[validate_role_uri],
        help_text=_(
            "The job-function role (http://{domain}/roles/jobrole/{name}/1) or "
            "user-system role that grants access."
        ),
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=Status.choices,
        default=Status.ONBOARDING,
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        constraints = [
            # The database keeps the rules too: a row written around the registry (a raw
            # script, a bad migration) must not be able to make a bogus organisation.
            models.CheckConstraint(
                condition=Q(cvr__regex=r"^[1-9][0-9]{7}$"), name="organisation_cvr_digits"
            ),
            models.CheckConstraint(
                condition=Q(type__in=OrganisationType.values), name="organisation_type_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="organisation_status_known"
            ),
            models.CheckConstraint(
                condition=~Q(type=OrganisationType.MUNICIPALITY) | ~Q(municipality_code=""),
                name="organisation_municipality_has_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cvr})"

    def clean(self) -> None:
        """Require a municipality code for a municipality."""
        if self.type == OrganisationType.MUNICIPALITY and not self.municipality_code:
            raise ValidationError(
                {"municipality_code": _("A municipality needs its municipality code.")},
                code="municipality_code_required",
            )

    @property
    def is_live(self) -> bool:
        """Tell whether the organisation's users may use Indblik now."""
        return self.status == Status.LIVE

    @property
    def municipality(self) -> municipalities.Municipality | None:
        """Return the municipality of ``municipality_code``, if any."""
        return municipalities.BY_CODE.get(self.municipality_code)

    def open_steps(self) -> list[str]:
        """Return the keys of the checklist steps not yet done, in checklist order."""
        done = {step.step for step in self.checklist.all() if step.done_at is not None}
        return [step for step in Step.values if step not in done]


class ChecklistStep(models.Model):
    """One onboarding step of one organisation: done or open, by whom, with what evidence."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="checklist",
        verbose_name=_("organisation"),
    )
    step = models.CharField(_("step"), max_length=12, choices=Step.choices)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by_name = models.CharField(_("done by"), max_length=200, blank=True)
    done_by_user_id = models.BigIntegerField(_("done by (user id)"), null=True, blank=True)
    evidence = models.TextField(
        _("evidence"),
        max_length=EVIDENCE_MAX_LENGTH,
        blank=True,
        help_text=_("E.g. the network ticket, or the agreement's date and document reference."),
    )

    class Meta:
        verbose_name = _("checklist step")
        verbose_name_plural = _("checklist steps")
        constraints = [
            models.UniqueConstraint(fields=["organisation", "step"], name="checklist_step_once"),
            models.CheckConstraint(condition=Q(step__in=Step.values), name="checklist_step_known"),
        ]

    def __str__(self) -> str:
        # Shown above each checklist row in the admin: in the reader's language.
        state = gettext("done") if self.is_done else pgettext("checklist step", "open")
        return f"{self.get_step_display()}: {state}"

    @property
    def is_done(self) -> bool:
        """Tell whether the step is done."""
        return self.done_at is not None

    def sort_key(self) -> int:
        """Return the step's position in the checklist (admin and command output order)."""
        return Step.values.index(self.step)


class StatusChange(models.Model):
    """One change of an organisation's status: from, to, when, by whom and why."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="status_history",
        verbose_name=_("organisation"),
    )
    from_status = models.CharField(
        _("from"),
        max_length=12,
        choices=Status.choices,
        blank=True,
        help_text=_("Empty when the organisation was registered."),
    )
    to_status = models.CharField(_("to"), max_length=12, choices=Status.choices)
    at = models.DateTimeField(_("when"))
    by_name = models.CharField(_("by"), max_length=200, blank=True)
    by_user_id = models.BigIntegerField(_("by (user id)"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status history")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_from_status_display() or '-'} → {self.get_to_status_display()}"


class NetworkRange(models.Model):
    """A network (CIDR, IPv4 or IPv6) the organisation's users may connect from."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="network_ranges",
        verbose_name=_("organisation"),
    )
    # Normalised by ipaddress.ip_network(strict=False): one spelling per network.
    cidr = models.CharField(_("network (CIDR)"), max_length=49)
    added_at = models.DateTimeField(_("added"))
    added_by_name = models.CharField(_("added by"), max_length=200, blank=True)
    added_by_user_id = models.BigIntegerField(_("added by (user id)"), null=True, blank=True)

    class Meta:
        verbose_name = _("network range")
        verbose_name_plural = _("network allowlist")
        ordering = ["cidr"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "cidr"], name="network_range_once"),
        ]

    def __str__(self) -> str:
        return self.cidr


class CareSystemKey(models.Model):
    """A public key the organisation's care system signs launch tokens with.

    Removing a key keeps the row (``removed_at``) so the history and old audit rows naming its
    ``kid`` still make sense; a removed key no longer verifies anything. A ``kid`` is never
    reused within one organisation.
    """

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="keys",
        verbose_name=_("organisation"),
    )
    kid = models.CharField(_("key id (kid)"), max_length=200)
    jwk = models.JSONField(_("public key (JWK)"))
    kty = models.CharField(_("key type"), max_length=8)
    crv = models.CharField(_("curve"), max_length=16, blank=True)
    size = models.PositiveIntegerField(_("size (bits)"))
    thumbprint = models.CharField(_("thumbprint (RFC 7638)"), max_length=64)
    added_at = models.DateTimeField(_("added"))
    added_by_name = models.CharField(_("added by"), max_length=200, blank=True)
    added_by_user_id = models.BigIntegerField(_("added by (user id)"), null=True, blank=True)
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)
    removed_by_name = models.CharField(_("removed by"), max_length=200, blank=True)
    removed_by_user_id = models.BigIntegerField(_("removed by (user id)"), null=True, blank=True)

    class Meta:
        verbose_name = _("care-system key")
        verbose_name_plural = _("care-system keys")
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "kid"], name="care_system_kid_once"),
        ]

    def __str__(self) -> str:
        return self.kid

    @property
    def is_active(self) -> bool:
        """Tell whether the key still verifies launch tokens."""
        return self.removed_at is None

    def describe(self) -> dict[str, Any]:
        """Return what identifies the key in output and audit details (never key material)."""
        return {
            "kid": self.kid,
            "kty": self.kty,
            "crv": self.crv,
            "size": self.size,
            "thumbprint": self.thumbprint,
        }
