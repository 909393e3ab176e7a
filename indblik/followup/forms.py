"""Forms of Min log (block, unblock) and of log follow-up (search, review)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from indblik.followup import blocks, search
from indblik.followup.models import Status
from indblik.followup.review import MAX_NOTE
from indblik.identity.models import User, UserKind
from indblik.organisations.models import Organisation
from indblik.records import fhir
from indblik.records.sections import PAGES, TITLES


class _ChoicesForm(forms.Form):
    def _choice_field(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field


class BlockForm(_ChoicesForm):
    """Block every external organisation, or one organisation."""

    target = forms.ChoiceField(label=_("Whom do you want to block?"))
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, organisations: list[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organisations = {org.cvr: org for org in organisations}
        choices: list[tuple[str, Any]] = [(blocks.ALL, _("All organisations outside the hospital"))]
        choices += [(org.cvr, org.name) for org in organisations]
        self._choice_field("target").choices = choices

    def target_name(self) -> str:
        target = self.cleaned_data["target"]
        if target == blocks.ALL:
            return str(_("all organisations outside the hospital"))
        return self.organisations[target].name


class UnblockForm(forms.Form):
    """Lift one of the citizen's own blocks (named by its target)."""

    target = forms.CharField(max_length=8)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_target(self) -> str:
        value: str = self.cleaned_data["target"]
        if value != blocks.ALL and not (len(value) == 8 and value.isdigit()):
            raise forms.ValidationError(_("Unknown block."))
        return value


class SearchForm(_ChoicesForm):
    """Search the organisation's log; the CPR number only ever arrives in a POST."""

    citizen = forms.CharField(
        label=_("Citizen (CPR number)"),
        required=False,
        max_length=11,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    user = forms.TypedChoiceField(label=_("User"), required=False, coerce=int, empty_value=None)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    section = forms.ChoiceField(label=_("Part of the record"), required=False)
    kind = forms.ChoiceField(
        label=_("Show"),
        choices=[
            (search.KIND_LOOKUPS, _("Lookups")),
            (search.KIND_REFUSED, _("Refused attempts")),
            (search.KIND_ALL, _("Everything")),
        ],
        initial=search.KIND_LOOKUPS,
    )

    def __init__(self, *args: Any, organisation_cvr: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organisation_cvr = organisation_cvr
        users = User.objects.filter(
            organisation_cvr=organisation_cvr, kind=UserKind.PROFESSIONAL
        ).order_by("full_name", "pk")
        self._choice_field("user").choices = [("", _("All users"))] + [
            (user.pk, user.full_name or user.get_username()) for user in users
        ]
        self._choice_field("section").choices = [("", _("All parts"))] + [
            (section.value, TITLES[section]) for section in PAGES
        ]

    def clean_citizen(self) -> str:
        value = self.cleaned_data["citizen"].strip()
        if not value:
            return ""
        cpr = fhir.normalise_cpr(value)
        if cpr is None:
            raise forms.ValidationError(_("Enter a CPR number of 10 digits (ddmmyy-xxxx)."))
        return cpr

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data

    def filters(self) -> search.Filters:
        data = self.cleaned_data
        return search.Filters(
            organisation_cvr=self.organisation_cvr,
            user_id=data.get("user"),
            cpr=data.get("citizen") or "",
            since=data.get("since"),
            until=data.get("until"),
            section=data.get("section") or "",
            kind=data.get("kind") or search.KIND_LOOKUPS,
        )


class ReviewForm(forms.Form):
    """The reviewer's decision on a case."""

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            (Status.JUSTIFIED, _("Justified: the lookup had a work-related reason")),
            (Status.NOT_JUSTIFIED, _("Not justified: the lookup had no work-related reason")),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=MAX_NOTE,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What you checked and what you found (required)."),
    )
