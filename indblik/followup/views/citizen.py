"""Min log: the signed-in citizen sees every lookup of their record and can block access.

Only a citizen (``User.kind == citizen``) with a CPR number from the identity provider gets
here; the CPR number is the user's, never a parameter, so nobody can read another citizen's
log. Reading the log is audited; a block or unblock is a POST with CSRF and a confirmation
step, audited and stored in one transaction.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from indblik import audit
from indblik.audit import Action
from indblik.followup import blocks
from indblik.followup.citizen import citizen_log
from indblik.followup.forms import BlockForm, UnblockForm
from indblik.followup.views.common import cursor, forbidden
from indblik.identity.models import User, UserKind
from indblik.organisations.models import Organisation
from indblik.records.models import Patient


def _citizen(request: HttpRequest) -> User | HttpResponse:
    """The signed-in citizen, or the response for anyone else."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("identity:login"))
    if not isinstance(user, User) or user.kind != UserKind.CITIZEN or not user.cpr:
        return forbidden(
            request,
            _("Min log is for citizens: it shows who has looked at your own record."),
        )
    return user


def _patient(user: User) -> Patient | None:
    return Patient.objects.filter(cpr=user.cpr, deleted=False).first()


def _reads_live() -> bool:
    """Tell whether the record is read live: then this store may hold no row of the citizen,
    and a block is kept on a row of its own (:func:`blocks.holder`)."""
    return settings.INDBLIK_RECORD_SOURCE != "local"


@never_cache
@require_safe
def min_log(request: HttpRequest) -> HttpResponse:
    """The citizen's log, newest first, and their blocks."""
    user = _citizen(request)
    if isinstance(user, HttpResponse):
        return user
    before = cursor(request.GET.get("before"))
    # Write the audit row before reading the log: fail closed.
    audit.record(
        request,
        Action.CITIZEN_LOG_READ,
        patient_cpr=user.cpr,
        details={"page": "older" if before else "newest"},
    )
    log = citizen_log(user.cpr, cursor=before)
    patient = _patient(user)
    current = blocks.current_blocks(patient) if patient is not None else []
    return render(
        request,
        "followup/min_log.html",
        {
            "person": user,
            "log": log,
            "older_page": before is not None,
            "has_record": patient is not None or _reads_live(),
            "blocks": current,
            "blocked_all": any(block.everyone for block in current),
            "form": BlockForm(organisations=_blockable(current)),
        },
    )


@never_cache
@require_POST
def block(request: HttpRequest) -> HttpResponse:
    """Block an organisation (or all): first a confirmation page, then the change."""
    user = _citizen(request)
    if isinstance(user, HttpResponse):
        return user
    patient = _patient(user)
    if patient is None and not _reads_live():
        messages.error(
            request, _("The hospital has no record of you, so there is nothing to block.")
        )
        return redirect("followup:citizen-log")
    current = blocks.current_blocks(patient) if patient is not None else []
    form = BlockForm(request.POST, organisations=_blockable(current))
    if not form.is_valid():
        messages.error(request, _("Choose whom to block from the list."))
        return redirect("followup:citizen-log")
    target = form.cleaned_data["target"]
    if not form.cleaned_data["confirm"]:
        return render(
            request,
            "followup/confirm.html",
            {
                "person": user,
                "action": "block",
                "target": target,
                "target_name": form.target_name(),
                "everyone": target == blocks.ALL,
            },
        )
    try:
        if patient is None:  # read live: the blocks get a row of their own here
            patient = blocks.holder(user.cpr)
        blocks.change(request, patient, target=target, block=True)
    except blocks.BlockError:
        messages.error(request, _("The block could not be saved. Nothing was changed; try again."))
        return redirect("followup:citizen-log")
    messages.success(
        request,
        _("%(name)s is now blocked. It applies from their next click in your record.")
        % {"name": form.target_name()[:1].upper() + form.target_name()[1:]},
    )
    return redirect("followup:citizen-log")


@never_cache
@require_POST
def unblock(request: HttpRequest) -> HttpResponse:
    """Lift one of the citizen's own blocks: first a confirmation page, then the change."""
    user = _citizen(request)
    if isinstance(user, HttpResponse):
        return user
    patient = _patient(user)
    form = UnblockForm(request.POST)
    current = blocks.current_blocks(patient) if patient is not None else []
    own = {block.cvr or blocks.ALL: block for block in current if block.own}
    if patient is None or not form.is_valid() or form.cleaned_data["target"] not in own:
        messages.error(request, _("That block was not found. Nothing was changed."))
        return redirect("followup:citizen-log")
    target = form.cleaned_data["target"]
    found = own[target]
    name = found.name if not found.everyone else _("all organisations outside the hospital")
    if not form.cleaned_data["confirm"]:
        return render(
            request,
            "followup/confirm.html",
            {
                "person": user,
                "action": "unblock",
                "target": target,
                "target_name": name,
                "everyone": found.everyone,
            },
        )
    try:
        blocks.change(request, patient, target=target, block=False)
    except blocks.BlockError:
        messages.error(request, _("The block could not be lifted. Nothing was changed; try again."))
        return redirect("followup:citizen-log")
    messages.success(request, _("The block of %(name)s is lifted.") % {"name": name})
    return redirect("followup:citizen-log")


def _blockable(current: list[blocks.Block]) -> list[Organisation]:
    """Live organisations not already blocked one by one."""
    blocked = {block.cvr for block in current if block.cvr}
    return [org for org in blocks.live_organisations() if org.cvr not in blocked]
