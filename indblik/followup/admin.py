"""Review cases in the admin: read-only (decisions are made in log follow-up, audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from indblik.core.admin import OwnFiltersOnly
from indblik.followup.models import Case


@admin.register(Case)
class CaseAdmin(OwnFiltersOnly):
    list_display = ("at", "organisation_cvr", "rule", "actor_name", "status", "reviewed_by_name")
    list_filter = ("rule", "status", "organisation_cvr")
    # The CPR number is shown masked and is not searchable (as in the audit admin).
    fields = (
        "organisation_cvr",
        "rule",
        "at",
        "actor_name",
        "user_id",
        "masked_cpr",
        "section",
        "event_id",
        "alert_id",
        "details",
        "status",
        "note",
        "reviewed_at",
        "reviewed_by_name",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
