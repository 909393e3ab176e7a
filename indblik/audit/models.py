"""The audit log (append-only) and its signed integrity checkpoints.

Rows are created only by :func:`indblik.audit.record` and checkpoints only by
:func:`indblik.audit.integrity.create_checkpoint`. Nothing in the code can change or delete
either: ``save()`` and ``delete()`` refuse, the querysets refuse ``update()`` and ``delete()``,
the admin is read-only, and database triggers (migration 0002) refuse UPDATE, DELETE and
TRUNCATE for anyone who goes around the ORM. ``ForwardingCursor`` is the exception: an
ordinary table holding the forwarder's position, not part of the log.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from indblik.audit.errors import AppendOnlyError


class AppendOnlyQuerySet(models.QuerySet[Any]):
    """A queryset that can read and nothing else: every bulk write path raises."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self.model._meta.label} is append-only")

    update = _refuse
    _update = _refuse
    delete = _refuse
    _raw_delete = _refuse
    bulk_update = _refuse
    update_or_create = _refuse
    # Rows are created by the writer alone (it sanitises, stamps and hashes them).
    bulk_create = _refuse


class AppendOnlyModel(models.Model):
    """A model whose rows, once written, are never changed or deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        # Django's internal paths (related deletes, save's UPDATE) use the base manager: make
        # it the guarded one too.
        base_manager_name = "objects"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Refuse: rows are created by the audit writer and never changed afterwards."""
        if not self._state.adding or (
            self.pk is not None and type(self).objects.filter(pk=self.pk).exists()
        ):
            raise AppendOnlyError(f"{self._meta.label} rows cannot be changed")
        raise AppendOnlyError(f"{self._meta.label} rows are created only by indblik.audit")

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: the audit log keeps everything."""
        raise AppendOnlyError(f"{self._meta.label} rows cannot be deleted")


class AuditEvent(AppendOnlyModel):
    """One audited action: who did what to whose record, when, from where, why and how it went."""

    at = models.DateTimeField(_("time (UTC)"))
    action = models.CharField(_("action"), max_length=64)
    outcome = models.CharField(_("outcome"), max_length=16)
    # Actor. A plain integer, not a ForeignKey: deleting a user must never touch the log.
    user_id = models.BigIntegerField(_("user id"), null=True, blank=True)
    actor_name = models.CharField(_("name"), max_length=200, blank=True)
    actor_authorisation = models.CharField(_("authorisation id"), max_length=64, blank=True)
    actor_role = models.CharField(_("role"), max_length=200, blank=True)
    actor_delegated = models.BooleanField(_("delegated"), default=False)
    # Organisation the actor acted for.
    organisation_cvr = models.CharField(_("organisation CVR"), max_length=8, blank=True)
    organisation_name = models.CharField(_("organisation"), max_length=200, blank=True)
    # Patient. Stored for the citizen's own log; never written to files or shown in URLs.
    patient_cpr = models.CharField(_("CPR number"), max_length=10, blank=True)
    section = models.CharField(_("section"), max_length=32, blank=True)
    resource_ids = models.TextField(_("resource ids"), default="[]", help_text="JSON list")
    # Where from.
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    # Why, and what the policy said.
    purpose = models.CharField(_("purpose"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    decision_reasons = models.JSONField(_("decision reasons"), default=list, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    # Integrity (indblik.audit.canonical).
    hash_version = models.PositiveSmallIntegerField(default=1)
    row_hash = models.CharField(_("row hash"), max_length=64)

    class Meta(AppendOnlyModel.Meta):
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["patient_cpr", "at"], name="audit_event_patient_at"),
            models.Index(fields=["organisation_cvr", "at"], name="audit_event_org_at"),
            models.Index(fields=["user_id", "at"], name="audit_event_user_at"),
            models.Index(fields=["at"], name="audit_event_at"),
        ]

    def __str__(self) -> str:
        # Never the CPR number: this string appears in logs and admin breadcrumbs.
        return f"#{self.pk} {self.action} {self.outcome}"

    @property
    def masked_cpr(self) -> str:
        """Return the CPR number as ``ddmmyy-xxxx`` (birth date only), or an empty string."""
        return f"{self.patient_cpr[:6]}-xxxx" if self.patient_cpr else ""

    @property
    def resource_id_list(self) -> list[str]:
        """Return the resource ids as a list."""
        return orjson.loads(self.resource_ids) if self.resource_ids else []


class AuditCheckpoint(AppendOnlyModel):
    """A signed seal over a range of audit rows, chained to the previous checkpoint."""

    sequence = models.PositiveBigIntegerField(unique=True)
    first_id = models.BigIntegerField(help_text="the range starts here (previous last_id + 1)")
    last_id = models.BigIntegerField(help_text="the range ends here (inclusive)")
    row_count = models.PositiveBigIntegerField()
    merkle_root = models.CharField(max_length=64, help_text="RFC 6962 root over the row hashes")
    manifest = models.BinaryField(help_text="zlib((id, row hash prefix) per row)")
    manifest_digest = models.CharField(max_length=64)
    previous = models.CharField(max_length=64, help_text="digest of the previous checkpoint")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the statement")
    created_at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128, help_text="Ed25519 over the statement, hex")

    class Meta(AppendOnlyModel.Meta):
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"checkpoint {self.sequence} (ids {self.first_id}-{self.last_id})"


class ForwardingCursor(models.Model):
    """How far the forwarder has delivered the audit log to one receiver (syslog, FHIR).

    An ordinary, changeable table - not part of the append-only log and without its triggers:
    the forwarder moves ``last_id`` forward after each batch the receiver accepted, in one
    UPDATE that also checks the old value (two forwarders can never both advance it).
    """

    receiver = models.CharField(_("receiver"), max_length=32, unique=True)
    last_id = models.BigIntegerField(_("last delivered event id"), default=0)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    attempts = models.PositiveIntegerField(_("failed attempts in a row"), default=0)

    class Meta:
        verbose_name = _("forwarding cursor")
        verbose_name_plural = _("forwarding cursors")

    def __str__(self) -> str:
        return f"{self.receiver} at event {self.last_id}"
