"""Users of Indblik: created just in time from the federation broker's assertion."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MAX_ROLES = 50


class UserKind(models.TextChoices):
    """Where a user comes from, which decides what the user may ever see."""

    PROFESSIONAL = "professional", _("Professional (federation broker)")
    CITIZEN = "citizen", _("Citizen (NemLog-in)")
    LOCAL = "local", _("Local account")


class User(AbstractUser):
    """A person who signs in: a municipal professional, a reviewer, an administrator, a citizen.

    Broker users are found by ``persistent_id`` (the broker's persistent professional UUID),
    never by a name anyone types; their ``username`` is derived from it and cannot be chosen in
    a form (it contains a colon, which Django's username validator refuses). Everything below
    ``persistent_id`` is overwritten from the assertion at every login.
    """

    kind = models.CharField(
        _("kind"), max_length=12, choices=UserKind.choices, default=UserKind.LOCAL
    )
    persistent_id = models.CharField(
        _("persistent id"),
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("The broker's persistent identifier of the person; the key of the user."),
    )
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    organisation_cvr = models.CharField(
        _("organisation CVR"), max_length=8, blank=True, db_index=True
    )
    organisation_name = models.CharField(_("organisation name"), max_length=200, blank=True)
    roles = models.JSONField(
        _("roles"),
        default=list,
        blank=True,
        help_text=_("The privileges the broker asserted for the organisation's CVR."),
    )
    access_role = models.CharField(
        _("access role"),
        max_length=300,
        blank=True,
        help_text=_("The role that let the user in at the last login (copied into audit rows)."),
    )
    authorisation_id = models.CharField(
        _("authorisation id"),
        max_length=16,
        blank=True,
        help_text=_("The national authorisation id of a health professional, when asserted."),
    )
    delegated = models.BooleanField(
        _("delegated"),
        default=False,
        help_text=_("Acts on an authorised professional's delegation (Health Act §42)."),
    )
    profession = models.CharField(
        _("profession"),
        max_length=100,
        blank=True,
        help_text=_("From the register of authorised health personnel, when loaded."),
    )
    authorisation_status = models.CharField(
        _("authorisation status"),
        max_length=12,
        blank=True,
        help_text=_("From the register at the last login; empty if the register does not know it."),
    )
    loa = models.CharField(_("level of assurance"), max_length=16, blank=True)
    cpr = models.CharField(
        _("CPR number"), max_length=10, blank=True, help_text=_("Citizens only.")
    )
    last_saml_login = models.DateTimeField(_("last broker login"), null=True, blank=True)
    deactivated_at = models.DateTimeField(_("deactivated"), null=True, blank=True)
    deactivation_reason = models.CharField(_("deactivation reason"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=UserKind.values), name="user_kind_known"),
            # A broker user without its key could never be found again at the next login.
            models.CheckConstraint(
                condition=Q(kind=UserKind.LOCAL) | Q(persistent_id__isnull=False),
                name="user_broker_has_persistent_id",
            ),
        ]

    def get_full_name(self) -> str:
        """Return the name the broker asserted, else Django's first and last name."""
        return self.full_name or super().get_full_name()

    def get_short_name(self) -> str:
        """Return the first name, else the asserted name (the admin greets users with it)."""
        return super().get_short_name() or self.full_name

    def holds(self, role_uri: str) -> bool:
        """Tell whether the broker asserted ``role_uri`` for the user's organisation."""
        return bool(role_uri) and role_uri in (self.roles or [])

    @property
    def is_reviewer(self) -> bool:
        """Tell whether the user may follow up on the organisation's access log."""
        return self.holds(settings.INDBLIK_SAML_REVIEWER_ROLE)


class UserSession(models.Model):
    """A signed-in session of a user, so that deactivating the user can end all of them.

    Written at every login (password or broker) and removed at logout; the session table is
    the truth, this is its index by user.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="sessions",
        verbose_name=_("user"),
    )
    session_key = models.CharField(_("session key"), max_length=40, unique=True)
    # The djangosaml2 session holds the SAML subject for single logout; it is ended too.
    saml_session_key = models.CharField(_("SAML session key"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("signed in"), auto_now_add=True)

    class Meta:
        verbose_name = _("user session")
        verbose_name_plural = _("user sessions")
        indexes = [models.Index(fields=["saml_session_key"], name="identity_usersession_saml")]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.created_at:%Y-%m-%d %H:%M}"


class SeenAssertion(models.Model):
    """The id of an accepted SAML assertion, kept until it expires: the replay cache.

    The primary key makes a second insert of the same id fail in the database, so the check
    holds across workers and servers; ``indblik saml prune`` removes expired rows.
    """

    id = models.CharField(_("assertion id"), max_length=255, primary_key=True)
    not_on_or_after = models.DateTimeField(_("remember until"), db_index=True)

    class Meta:
        verbose_name = _("seen assertion")
        verbose_name_plural = _("seen assertions")

    def __str__(self) -> str:
        return self.id


class AuthorisationStatus(models.TextChoices):
    """What the register says about an authorisation."""

    AUTHORISED = "authorised", _("Authorised")
    RESTRICTED = "restricted", _("Restricted")
    REVOKED = "revoked", _("Revoked")


class Authorisation(models.Model):
    """One entry of the national register of authorised health personnel (as imported).

    Replaced as a whole by ``indblik authorisations import``. At login a professional whose
    asserted authorisation id is here as restricted or revoked is refused (Health Act §42);
    an id the register does not know leaves the organisation's assertion standing.
    """

    authorisation_id = models.CharField(_("authorisation id"), max_length=16, unique=True)
    profession = models.CharField(_("profession"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=AuthorisationStatus.choices)
    imported_at = models.DateTimeField(_("imported"))

    class Meta:
        verbose_name = _("authorisation")
        verbose_name_plural = _("authorisations")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AuthorisationStatus.values),
                name="authorisation_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.authorisation_id} ({self.status})"


class ScimCredential(models.Model):
    """A bearer credential with which one organisation's identity system uses SCIM.

    Only a SHA-256 hash of the token is stored (the token is 256 random bits, shown once when
    issued). Every SCIM request is confined to the users of ``organisation_cvr``.
    """

    organisation_cvr = models.CharField(_("organisation CVR"), max_length=8, db_index=True)
    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("SCIM credential")
        verbose_name_plural = _("SCIM credentials")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation_cvr", "name"], name="scim_credential_name_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_cvr}/{self.name}"
