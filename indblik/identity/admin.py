"""Users in the admin: broker users are read-only (the broker is their source of truth)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from indblik.identity import users
from indblik.identity.models import Authorisation, User

BROKER_FIELDS = (
    "kind",
    "persistent_id",
    "full_name",
    "organisation_cvr",
    "organisation_name",
    "roles",
    "access_role",
    "authorisation_id",
    "delegated",
    "profession",
    "authorisation_status",
    "loa",
    "last_saml_login",
    "deactivated_at",
    "deactivation_reason",
)


@admin.register(User)
class IndblikUserAdmin(UserAdmin):
    """Django's user admin plus what the broker asserted; citizens' CPR numbers never show."""

    list_display = (
        "username",
        "full_name",
        "organisation_name",
        "kind",
        "access_role",
        "is_active",
        "last_login",
    )
    list_filter = ("kind", "is_active", "is_staff", "delegated", "organisation_cvr")
    search_fields = ("username", "full_name", "email", "organisation_cvr", "authorisation_id")
    readonly_fields = (*BROKER_FIELDS, "last_login", "date_joined")
    fieldsets = (
        *UserAdmin.fieldsets,  # type: ignore[misc]
        (_("Federation broker"), {"fields": BROKER_FIELDS}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Make the whole record read-only for broker users: the next login overwrites it."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.persistent_id:
            fields += ["username", "first_name", "last_name", "email", "is_staff", "groups"]
        return fields

    actions = ["deactivate_users"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Save; a user switched to inactive here is deactivated properly (sessions end)."""
        was_active = change and User.objects.filter(pk=obj.pk, is_active=True).exists()
        super().save_model(request, obj, form, change)
        if was_active and not obj.is_active:
            users.deactivate(obj, reason="admin", request=request)

    def get_actions(self, request: HttpRequest) -> Any:
        """Without Django's own "delete selected", which would skip the audited path."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        """Delete through ``users.delete``: sessions ended, audited, or nothing happens."""
        users.delete(obj, reason="admin", request=request)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for user in queryset:
            users.delete(user, reason="admin", request=request)

    @admin.action(description=_("Deactivate the selected users (ends their sessions)"))
    def deactivate_users(self, request: HttpRequest, queryset: Any) -> None:
        """Deactivate each selected active user and end all of their sessions."""
        for user in queryset.filter(is_active=True):
            users.deactivate(user, reason="admin", request=request)


@admin.register(Authorisation)
class AuthorisationAdmin(admin.ModelAdmin):
    """The imported register, for looking up; it changes only by ``authorisations import``."""

    list_display = ("authorisation_id", "profession", "status", "imported_at")
    list_filter = ("status",)
    search_fields = ("authorisation_id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Nobody adds entries by hand."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Nobody edits entries by hand."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Nobody deletes entries by hand."""
        return False
