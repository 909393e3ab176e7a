"""Read-only admin pages of the audit log: no add, change, delete or bulk actions.

The CPR number is shown masked (``ddmmyy-xxxx``) and is not searchable: administrators
operate the service; looking up a citizen's log is the citizen's own page and log follow-up.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from indblik.audit.actions import Action, Outcome
from indblik.audit.models import AuditCheckpoint, AuditEvent
from indblik.core.admin import ReadOnlyAdmin


class _EnumFilter(admin.SimpleListFilter):
    """Filter by a known list of values: no SELECT DISTINCT over the whole log to build it."""

    values: tuple[str, ...] = ()

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in self.values]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class ActionFilter(_EnumFilter):
    title = _("action")
    parameter_name = "action"
    values = tuple(Action)


class OutcomeFilter(_EnumFilter):
    title = _("outcome")
    parameter_name = "outcome"
    values = tuple(Outcome)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "at",
        "action",
        "outcome",
        "actor_name",
        "organisation_name",
        "masked_patient",
        "section",
        "client_ip",
    ]
    list_filter = [OutcomeFilter, ActionFilter]
    # No free-text search: a LIKE over the whole log is a table scan. Looking things up in the
    # log is what the citizen's log and the organisation's log follow-up are for.
    exclude = ["patient_cpr"]
    readonly_fields = ["masked_patient"]
    ordering = ["-id"]

    @admin.display(description=_("patient"))
    def masked_patient(self, obj: AuditEvent) -> str:
        return obj.masked_cpr


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "created_at", "first_id", "last_id", "row_count", "key_id"]
    exclude = ["manifest"]
    ordering = ["-sequence"]
