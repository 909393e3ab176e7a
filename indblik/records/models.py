"""The local clinical record store: FHIR R4 resources as JSON plus the columns the chart needs.

The full resource is kept verbatim (``body``, JSON text decoded with orjson on the read path);
the indexed columns are derived from it at ingestion by :mod:`indblik.records.ingest` and are
never edited by hand.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Patient(models.Model):
    """A citizen in the hospital record, keyed by FHIR id and CPR number."""

    fhir_id = models.CharField(max_length=64, unique=True)
    cpr = models.CharField(_("CPR number"), max_length=10, unique=True, null=True, blank=True)
    family = models.CharField(max_length=200, blank=True)
    given = models.CharField(max_length=200, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=16, blank=True)
    municipality_code = models.CharField(max_length=4, blank=True, db_index=True)
    address = models.CharField(max_length=300, blank=True)
    gp_identifier = models.CharField(
        _("GP (SOR/CVR)"), max_length=64, blank=True, help_text=_("e.g. sor:123456789012345")
    )
    deceased = models.BooleanField(default=False)
    deceased_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    last_updated = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON body")
    body = models.TextField(help_text="The Patient resource as JSON")
    source = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")

    def __str__(self) -> str:
        # Never the CPR number: this string appears in logs and admin breadcrumbs.
        return f"Patient/{self.fhir_id}"

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}".strip()

    @property
    def resource(self) -> dict[str, Any]:
        return orjson.loads(self.body)


class Resource(models.Model):
    """Any other FHIR resource, tied to a patient or shared (Organization, Practitioner, …)."""

    resource_type = models.CharField(max_length=64)
    fhir_id = models.CharField(max_length=64)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="resources"
    )
    section = models.CharField(max_length=32, blank=True)
    category = models.CharField(max_length=200, blank=True, help_text="first category: system|code")
    code = models.CharField(max_length=200, blank=True, help_text="first code: system|code")
    status = models.CharField(max_length=32, blank=True)
    date = models.DateTimeField(null=True, blank=True, help_text="the clinically relevant date")
    restricted = models.BooleanField(default=False, help_text="meta.security R or V")
    security = models.CharField(max_length=200, blank=True, help_text="meta.security codes")
    version = models.PositiveIntegerField(default=1)
    last_updated = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    digest = models.CharField(max_length=64)
    body = models.TextField()
    source = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = _("resource")
        verbose_name_plural = _("resources")
        constraints = [
            models.UniqueConstraint(fields=["resource_type", "fhir_id"], name="resource_type_id"),
        ]
        indexes = [
            # One section of one patient, newest first: the chart's only query shape.
            models.Index(
                fields=["patient", "section", "-date"],
                name="resource_patient_section",
                condition=Q(deleted=False),
            ),
            # One type of one patient, newest first: the FHIR read API's search
            # (indblik.records.api.search); without it a search could walk every row of a type.
            models.Index(
                fields=["patient", "resource_type", "-date"],
                name="resource_patient_type",
                condition=Q(deleted=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.fhir_id}"

    @property
    def resource(self) -> dict[str, Any]:
        return orjson.loads(self.body)


class OrganisationReference(models.Model):
    """A resource of a patient that references an organisation by SOR or CVR (care events)."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="org_refs")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    organisation = models.CharField(max_length=64, help_text="sor:<code> or cvr:<number>")
    date = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "patient", "-date"], name="orgref_org_patient"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["resource", "organisation"], name="orgref_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.resource} → {self.organisation}"


class Feed(models.Model):
    """A system with a bearer credential for the FHIR API: one that pushes data, or one that reads.

    A feed has exactly one scope, so one credential never both writes the record and reads
    the audit log: the integration engine pushes (``ingest``), the hospital's patient portal
    reads citizens' audit events (``audit-read``), another Indblik or FHIR client reads the
    record (``record-read``). A feed with public keys (``jwks``) may also get short-lived
    access tokens from the SMART Backend Services token endpoint (:mod:`indblik.records.smart`).
    """

    class Scope(models.TextChoices):
        INGEST = "ingest", _("push FHIR data (ingestion)")
        AUDIT_READ = "audit-read", _("read audit events (patient portal)")
        RECORD_READ = "record-read", _("read the record (another Indblik or FHIR client)")

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True)
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.INGEST)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    jwks = models.JSONField(
        default=dict,
        blank=True,
        help_text="public JWK Set whose keys sign the feed's SMART client assertions",
    )

    def __str__(self) -> str:
        return self.name


class FeedCredential(models.Model):
    """A bearer credential of a feed, stored as a SHA-256 hash (two may overlap in a rotation)."""

    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="credentials")
    prefix = models.CharField(
        max_length=12, help_text="first characters, to tell credentials apart"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Access tokens of the SMART token endpoint: short-lived, purged once expired, and limited
    # to the resource types of the scopes granted (long-lived credentials: all the feed's).
    short_lived = models.BooleanField(default=False)
    resource_types = models.TextField(
        blank=True, help_text="space-separated resource types it may read; empty: no limit"
    )

    def __str__(self) -> str:
        return f"{self.feed.name} {self.prefix}…"

    def covers(self, resource_type: str | None) -> bool:
        """Tell whether this credential may be used on ``resource_type``.

        None is an endpoint of one type by itself (the AuditEvent search): the feed's scope
        alone decides there.
        """
        if not self.resource_types or self.resource_types == "*" or resource_type is None:
            return True
        return resource_type in self.resource_types.split()


class AssertionNonce(models.Model):
    """A SMART client assertion's ``jti`` already used by a feed: a second one is a replay.

    Insert or fail on the unique constraint, shared by every worker; kept until the assertion
    could no longer pass the expiry check (``exp`` plus the clock skew), then purged.
    """

    feed = models.ForeignKey(Feed, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["feed", "jti"], name="assertion_nonce_once"),
        ]

    def __str__(self) -> str:
        return f"assertion nonce {self.pk} of feed {self.feed_id}"


class IngestionRun(models.Model):
    """One ingestion (a file, a stdin stream or an HTTP request) and what came of it."""

    class Outcome(models.TextChoices):
        RUNNING = "running", _("running")
        OK = "ok", _("stored")
        PARTIAL = "partial", _("partly stored")
        FAILED = "failed", _("refused")

    source = models.CharField(max_length=100)
    channel = models.CharField(max_length=16, help_text="cli, http or generate")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="first errors, never clinical content")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"
