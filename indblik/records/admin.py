"""Read-only views of the record store for hospital administrators.

Clinical data changes only through ingestion; nothing here can add, change or delete it.
The CPR number is not listed or searchable here: administrators operate the service, they do
not look up citizens.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from indblik.core.admin import ReadOnlyAdmin
from indblik.records.models import Feed, FeedCredential, IngestionRun, Patient, Resource


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = ["fhir_id", "municipality_code", "deceased", "last_updated", "source"]
    list_filter = ["municipality_code", "deceased", "deleted"]
    exclude = ["cpr", "body", "family", "given", "address", "birth_date"]
    show_full_result_count = False


@admin.register(Resource)
class ResourceAdmin(ReadOnlyAdmin):
    list_display = ["resource_type", "fhir_id", "section", "status", "date", "restricted"]
    list_filter = ["resource_type", "section", "restricted", "deleted"]
    # Not the record's content: the body, and the codes that would tell a diagnosis (J18.9).
    exclude = ["body", "code", "category", "security"]
    raw_id_fields = ["patient"]
    show_full_result_count = False


@admin.register(IngestionRun)
class IngestionRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "source", "channel", "outcome", "created", "updated", "failed"]
    list_filter = ["outcome", "channel", "source"]


class FeedCredentialInline(admin.TabularInline):
    model = FeedCredential
    fields = ("prefix", "created_at", "expires_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Feed)
class FeedAdmin(ReadOnlyAdmin):
    list_display = ["name", "description", "scope", "active", "created_at"]
    inlines = [FeedCredentialInline]
