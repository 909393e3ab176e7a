"""Feedback answers in the admin: read-only (they are the users' own words)."""

from __future__ import annotations

from django.contrib import admin

from indblik.core.admin import ReadOnlyAdmin
from indblik.usage.models import Feedback


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("at", "organisation", "score", "comment")
    list_filter = ("score", "organisation")
    list_select_related = ("organisation",)
    # Who answered is kept for the once-a-week rule, not shown: the answers are anonymous.
    exclude = ("user",)
