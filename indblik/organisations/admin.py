"""The organisation registry in the admin, for hospital administrators (Django staff).

Nothing here writes a row directly: the organisation form, the inlines and the actions all
call :mod:`indblik.organisations.registry`, so an admin change is validated, atomic and
audited (before/after) exactly like the same change made with ``indblik org …``. Statuses
change only through the actions (go live, suspend with a reason, resume). Organisations are
never deleted here: their history must stay. Every POST here (and every form that could be
saved) first needs a recent sign-in: :mod:`indblik.identity.reauth`.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from indblik.audit import Actor
from indblik.audit.actors import actor_for_request
from indblik.organisations import municipalities, registry
from indblik.organisations.keys import PublicKey, parse_jwks
from indblik.organisations.models import (
    CareSystemKey,
    ChecklistStep,
    NetworkRange,
    Organisation,
    StatusChange,
    Step,
)
from indblik.organisations.network import parse_cidr
from indblik.organisations.validators import validate_evidence


def _actor(request: HttpRequest) -> Actor:
    """Return the audit actor for an admin request: the signed-in staff user."""
    return actor_for_request(request) or Actor(name=request.user.get_username())


def _report(request: HttpRequest, org: Organisation, error: ValidationError) -> None:
    messages.error(request, f"{org.name}: {' '.join(error.messages)}")


# --- the organisation form --------------------------------------------------------------------


class OrganisationForm(forms.ModelForm):
    """The organisation's own fields, plus a box to paste public keys into."""

    municipality_code = forms.ChoiceField(
        label=_("municipality code"),
        choices=[("", "—"), *municipalities.choices()],
        required=False,
        help_text=_("Required for municipalities."),
    )
    add_keys = forms.CharField(
        label=_("add public keys"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "spellcheck": "false"}),
        help_text=_(
            'A public JWK, or a JWK Set {"keys": [...]}, from the care system: EC P-256 '
            "or RSA of at least 2048 bits, each with its own kid. Never a private key."
        ),
    )

    class Meta:
        model = Organisation
        fields = [
            "cvr",
            "name",
            "type",
            "municipality_code",
            "sor_code",
            "care_system",
            "role_uri",
            *registry.CONTACT_FIELDS,
        ]

    parsed_keys: list[PublicKey]

    def clean_role_uri(self) -> str:
        value: str = self.cleaned_data.get("role_uri", "").strip()
        if not value and self.instance.pk and self.instance.role_uri:
            raise ValidationError(_("The role cannot be removed, only replaced by another."))
        return value

    def clean_add_keys(self) -> str:
        text: str = self.cleaned_data.get("add_keys", "").strip()
        self.parsed_keys = parse_jwks(text) if text else []
        if self.parsed_keys and self.instance.pk:
            # Checked here too so the administrator sees it beside the box, not after saving.
            used = set(
                CareSystemKey.objects.filter(organisation=self.instance).values_list(
                    "kid", flat=True
                )
            )
            clash = [key.kid for key in self.parsed_keys if key.kid in used]
            if clash:
                raise ValidationError(
                    _("These kids are already used by this organisation: %(kids)s."),
                    params={"kids": ", ".join(clash)},
                )
        return text


# --- inlines ----------------------------------------------------------------------------------


class ChecklistStepForm(forms.ModelForm):
    """One step: tick it done (with evidence) or untick it to reopen it."""

    done = forms.BooleanField(label=_("done"), required=False)

    class Meta:
        model = ChecklistStep
        fields = ["done", "evidence"]
        widgets = {"evidence": forms.Textarea(attrs={"rows": 2, "cols": 60})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["done"].initial = self.instance.is_done
        if self.instance.is_done:
            # Done evidence is history: reopen the step to record it anew.
            self.fields["evidence"].disabled = True

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if cleaned.get("done") and not self.instance.is_done:
            validate_evidence(self.instance.step, (cleaned.get("evidence") or "").strip())
        return cleaned


class ChecklistStepInline(admin.TabularInline):
    model = ChecklistStep
    form = ChecklistStepForm
    fields = ["step_name", "done", "evidence", "done_at", "done_by_name"]
    readonly_fields = ["step_name", "done_at", "done_by_name"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the six steps exist from registration on

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChecklistStep]:
        # In checklist order, not alphabetical.
        return (
            super()
            .get_queryset(request)
            .annotate(
                position=Case(
                    *[When(step=step, then=Value(index)) for index, step in enumerate(Step.values)],
                    output_field=IntegerField(),
                )
            )
            .order_by("position")
        )

    @admin.display(description=_("step"))
    def step_name(self, obj: ChecklistStep) -> str:
        return str(obj.get_step_display())


class NetworkRangeForm(forms.ModelForm):
    """A new range (parsed and normalised), or an existing one shown as it is."""

    class Meta:
        model = NetworkRange
        fields = ["cidr"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["cidr"].disabled = True  # remove it and add another instead

    def clean_cidr(self) -> str:
        value: str = self.cleaned_data["cidr"]
        return value if self.instance.pk else str(parse_cidr(value))


class NetworkRangeInline(admin.TabularInline):
    model = NetworkRange
    form = NetworkRangeForm
    fields = ["cidr", "added_at", "added_by_name"]
    readonly_fields = ["added_at", "added_by_name"]
    extra = 1
    verbose_name_plural = _("network allowlist (tick Delete to remove a range)")


class CareSystemKeyForm(forms.ModelForm):
    """An existing key, shown read-only, with a box to remove it."""

    remove = forms.BooleanField(label=_("remove"), required=False)

    class Meta:
        model = CareSystemKey
        fields = ["remove"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.is_active:
            self.fields["remove"].disabled = True


class CareSystemKeyInline(admin.TabularInline):
    model = CareSystemKey
    form = CareSystemKeyForm
    fields = [
        "kid",
        "kind",
        "thumbprint",
        "added_at",
        "added_by_name",
        "removed_at",
        "removed_by_name",
        "remove",
        "public_key",
    ]
    readonly_fields = [
        "kid",
        "kind",
        "thumbprint",
        "added_at",
        "added_by_name",
        "removed_at",
        "removed_by_name",
        "public_key",
    ]
    extra = 0
    can_delete = False
    verbose_name_plural = _("care-system keys (add keys in the box above)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are added through the validated box on the organisation form

    @admin.display(description=_("key"))
    def kind(self, obj: CareSystemKey) -> str:
        return f"{obj.kty} {obj.crv} {obj.size} bits" if obj.crv else f"{obj.kty} {obj.size} bits"

    @admin.display(description=_("public key (JWK)"))
    def public_key(self, obj: CareSystemKey) -> str:
        return format_html(
            "<details><summary>{}</summary><pre>{}</pre></details>",
            _("show"),
            json.dumps(obj.jwk, indent=2, sort_keys=True),
        )


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    fields = ["at", "from_status", "to_status", "by_name", "reason"]
    readonly_fields = ["at", "from_status", "to_status", "by_name", "reason"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- the suspension form ----------------------------------------------------------------------


class SuspendForm(forms.Form):
    """The reason for a suspension, asked on an intermediate page."""

    reason = forms.CharField(
        label=_("reason"),
        max_length=registry.REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Why access is suspended; kept in the status history and the audit log."),
    )


# --- the organisation admin -------------------------------------------------------------------


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    form = OrganisationForm
    list_display = ["name", "cvr", "type", "status", "steps_done", "has_role"]
    list_filter = ["status", "type"]
    search_fields = ["name", "cvr"]
    actions = ["go_live_selected", "suspend_selected", "resume_selected"]
    inlines = [ChecklistStepInline, NetworkRangeInline, CareSystemKeyInline, StatusChangeInline]
    fieldsets = [
        (None, {"fields": ["cvr", "name", "type", "municipality_code", "sor_code", "care_system"]}),
        (_("Access"), {"fields": ["status", "role_uri", "add_keys"]}),
        (_("Contact persons"), {"fields": list(registry.CONTACT_FIELDS)}),
        (_("Registration"), {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The CVR number is the organisation: fixed once registered. Status: actions only.
        fixed = ["status", "created_at", "updated_at"]
        return ["cvr", *fixed] if obj is not None else fixed

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type[Any]]:
        # A new organisation gets its checklist and history when it is registered.
        return list(self.inlines) if obj is not None else [NetworkRangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organisation]:
        return (
            super()
            .get_queryset(request)
            .annotate(done_count=Count("checklist", filter=Q(checklist__done_at__isnull=False)))
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # suspend instead: the history (and the audit trail) must stay

    @admin.display(description=_("steps done"), ordering="done_count")
    def steps_done(self, obj: Organisation) -> str:
        return f"{getattr(obj, 'done_count', 0)}/{len(Step.values)}"

    @admin.display(description=_("role set"), boolean=True)
    def has_role(self, obj: Organisation) -> bool:
        return bool(obj.role_uri)

    # Saving: through the registry, never form.save().

    def save_model(self, request: HttpRequest, obj: Organisation, form: Any, change: bool) -> None:
        by = _actor(request)
        data = form.cleaned_data
        if not change:
            created = registry.add_organisation(
                cvr=data["cvr"],
                name=data["name"],
                type=data["type"],
                municipality_code=data.get("municipality_code") or "",
                sor_code=data.get("sor_code") or "",
                care_system=data.get("care_system") or "",
                contacts={
                    field: data[field] for field in registry.CONTACT_FIELDS if data.get(field)
                },
                by=by,
                request=request,
            )
            # The admin goes on with `obj` (inlines, log entry, redirect): make it the new row.
            obj.pk = created.pk
            obj.status = created.status
            obj.created_at = created.created_at
            obj.updated_at = created.updated_at
            obj._state.adding = False
            obj._state.db = created._state.db
        # The form has validated everything; what can still be refused here (a race with
        # another administrator, a kid used meanwhile) is reported, not a server error.
        try:
            if change:
                current = Organisation.objects.get(pk=obj.pk)
                changes = {
                    field: data[field] or ""
                    for field in form.changed_data
                    if field in registry.EDITABLE_FIELDS
                }
                if changes:
                    registry.update_organisation(
                        org=current, changes=changes, by=by, request=request
                    )
            if data.get("role_uri") and "role_uri" in form.changed_data:
                registry.set_role(org=obj, role_uri=data["role_uri"], by=by, request=request)
            if getattr(form, "parsed_keys", None):
                registry.add_keys(org=obj, jwks_json=data["add_keys"], by=by, request=request)
        except ValidationError as error:
            _report(request, obj, error)
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        org: Organisation = form.instance
        by = _actor(request)
        try:
            if formset.model is ChecklistStep:
                self._save_checklist(request, org, formset, by)
            elif formset.model is NetworkRange:
                self._save_networks(request, org, formset, by)
            elif formset.model is CareSystemKey:
                for item in formset.forms:
                    if item.cleaned_data.get("remove") and item.instance.is_active:
                        registry.remove_key(org=org, kid=item.instance.kid, by=by, request=request)
            # StatusChange is read-only: nothing to save.
        except ValidationError as error:
            _report(request, org, error)
        # The admin's change message reads these; we saved through the registry instead.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    @staticmethod
    def _save_checklist(request: HttpRequest, org: Organisation, formset: Any, by: Actor) -> None:
        for item in formset.forms:
            row: ChecklistStep = item.instance
            done = bool(item.cleaned_data.get("done"))
            try:
                if done and not row.is_done:
                    registry.complete_step(
                        org=org,
                        step=row.step,
                        by=by,
                        request=request,
                        evidence=item.cleaned_data.get("evidence") or "",
                    )
                elif not done and row.is_done:
                    registry.reopen_step(org=org, step=row.step, by=by, request=request)
            except ValidationError as error:
                _report(request, org, error)  # one refused step does not stop the others

    @staticmethod
    def _save_networks(request: HttpRequest, org: Organisation, formset: Any, by: Actor) -> None:
        removed = [item.instance.cidr for item in formset.deleted_forms if item.instance.pk]
        added = [
            item.cleaned_data["cidr"]
            for item in formset.extra_forms
            if item.has_changed()
            and item.cleaned_data.get("cidr")
            and item not in formset.deleted_forms
        ]
        if added:
            registry.allow_network(org=org, cidrs=added, by=by, request=request)
        if removed:
            registry.deny_network(org=org, cidrs=removed, by=by, request=request)

    # Status: only through these actions.

    @admin.action(description=_("Go live (refused while checklist steps are open)"))
    def go_live_selected(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            try:
                registry.go_live(org=org, by=_actor(request), request=request)
            except ValidationError as error:
                _report(request, org, error)
            else:
                messages.success(request, _("%(name)s is live.") % {"name": org.name})

    @admin.action(description=_("Resume suspended organisations"))
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            try:
                registry.resume(org=org, by=_actor(request), request=request)
            except ValidationError as error:
                _report(request, org, error)
            else:
                messages.success(request, _("%(name)s is live again.") % {"name": org.name})

    @admin.action(description=_("Suspend (asks for a reason; ends users' sessions)"))
    def suspend_selected(
        self, request: HttpRequest, queryset: QuerySet[Organisation]
    ) -> HttpResponse | None:
        form = SuspendForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for org in queryset:
                try:
                    registry.suspend(
                        org=org,
                        reason=form.cleaned_data["reason"],
                        by=_actor(request),
                        request=request,
                    )
                except ValidationError as error:
                    _report(request, org, error)
                else:
                    messages.success(request, _("%(name)s is suspended.") % {"name": org.name})
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Suspend organisations"),
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/organisations/organisation/suspend.html", context)
