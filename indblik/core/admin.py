"""Admin building blocks shared by the apps."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest


def offered_filters(model_admin: admin.ModelAdmin) -> set[str]:
    """The names a changelist's own filters put in its URL: fields, filter parameters and the
    date hierarchy."""
    offered: set[str] = set()
    for entry in model_admin.list_filter:
        if isinstance(entry, str):
            offered.add(entry)
        elif isinstance(entry, tuple | list):
            offered.add(str(entry[0]))
        elif isinstance(getattr(entry, "parameter_name", None), str):
            offered.add(entry.parameter_name)  # type: ignore[union-attr]
    if model_admin.date_hierarchy:
        offered.add(model_admin.date_hierarchy)
    return offered


class OwnFiltersOnly(admin.ModelAdmin):
    """An admin page whose URL can filter only by what the page's own filters offer."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Only the lookups the page's own filters make (and its date hierarchy).

        Django lets any column of the model be filtered through the URL, hidden or not:
        ``?cpr=…``, ``?patient_cpr=…``, ``?body__contains=…`` would look a citizen up, or
        search the record's text, through a page that shows neither (refused: 400).
        """
        offered = offered_filters(self)
        if lookup.split(LOOKUP_SEP)[0] not in offered:
            return False
        return bool(super().lookup_allowed(lookup, value, request))


class ReadOnlyAdmin(OwnFiltersOnly):
    """Show rows, never add, change or delete them (audit log, clinical data, ingestion runs)."""

    actions = None  # not even "delete selected"
    show_full_result_count = False  # a COUNT(*) over a large table on every page is too slow

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
