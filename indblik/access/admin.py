"""Grants and review alerts in the admin: read-only, and never the CPR number or the handle."""

from __future__ import annotations

from django.contrib import admin

from indblik.access.models import Grant, ReviewAlert
from indblik.core.admin import ReadOnlyAdmin


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "user",
        "organisation",
        "purpose",
        "created_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("purpose", "organisation", "emergency_override")
    list_select_related = ("user", "organisation")
    date_hierarchy = "created_at"
    # Not the CPR number, the patient key, the handle or the session key: an admin screen is
    # no way into a record.
    fields = (
        "user",
        "organisation",
        "purpose",
        "reason",
        "emergency_override",
        "decision_reasons",
        "created_at",
        "expires_at",
        "revoked_at",
        "revoked_reason",
    )


@admin.register(ReviewAlert)
class ReviewAlertAdmin(ReadOnlyAdmin):
    list_display = ("raised_at", "kind", "organisation", "user", "reason", "reviewed_at")
    list_filter = ("kind", "organisation", "reviewed_at")
    list_select_related = ("organisation", "user")
    date_hierarchy = "raised_at"
    fields = ("kind", "organisation", "user", "reason", "raised_at", "reviewed_at", "review_note")
