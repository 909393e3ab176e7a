"""The reason text of each case, from its rule and details, in the reader's language.

Stored cases keep only the rule and small facts (``details``); the sentence is made when it is
shown, so it follows the reviewer's language and a reworded rule needs no data migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from indblik.audit import Action
from indblik.followup.models import Rule
from indblik.organisations.municipalities import BY_CODE


def action_label(action: str) -> str:
    """Return what an audited action did, in words (the action itself when unknown)."""
    labels = {
        Action.PATIENT_READ: _("Page read"),
        Action.DOCUMENT_VIEW: _("Document viewed"),
        Action.DOCUMENT_DOWNLOAD: _("Document downloaded"),
        Action.PAGE_PRINT: _("Printed"),
        Action.SECTION_SEARCH: _("Searched"),
        Action.ACCESS_ALLOWED: _("Access opened"),
        Action.ACCESS_DENIED: _("Access refused"),
        Action.LAUNCH_REFUSED: _("Launch refused"),
    }
    return str(labels.get(action, action))  # type: ignore[call-overload]


def purpose_label(purpose: str) -> str:
    """Return the purpose of a lookup in words."""
    if purpose == "treatment":
        return _("Current treatment")
    if purpose == "emergency":
        return _("Emergency access")
    return purpose


def municipality_name(code: str) -> str:
    """Return ``Frederiksberg Kommune (0147)``, or the code when unknown."""
    found = BY_CODE.get(code)
    return f"{found.official_name} ({code})" if found else code


def refusal_text(code: str) -> str:
    """Return why the access policy refused, in words (the code itself when unknown)."""
    if code == "blocked":
        return _("the citizen has blocked the organisation")
    if code == "no-treatment-relationship":
        return _("no treatment relationship")
    if code == "patient-unknown":
        return _("the citizen is not in the hospital record")
    if code == "patient-deceased":
        return _("the citizen is deceased")
    if code == "emergency-not-allowed":
        return _("emergency access is not allowed for the organisation")
    if code == "reason-missing":
        return _("no reason was given")
    return code


def reason_text(rule: str, details: Mapping[str, Any]) -> str:
    """Return the reason a case of ``rule`` was raised, with its facts."""
    d = dict(details)
    if rule == Rule.SAME_SURNAME:
        return _("The citizen has the same surname as the user (%(surname)s).") % {
            "surname": d.get("surname", "")
        }
    if rule == Rule.SAME_ADDRESS:
        return _("The citizen lives at the same address as the user.")
    if rule == Rule.COLLEAGUE:
        if d.get("match") == "cpr":
            return _("The citizen is a user of the organisation: %(colleague)s.") % {
                "colleague": d.get("colleague", "")
            }
        return _(
            "The citizen has the same name as a user of the organisation (%(colleague)s); "
            "matched by name only, so check that it is the same person."
        ) % {"colleague": d.get("colleague", "")}
    if rule == Rule.OWN_RECORD:
        return _("The user looked up their own record.")
    if rule == Rule.UNUSUAL_HOUR:
        if d.get("history"):
            return _(
                "Lookup at %(hour)02d:00-%(hour)02d:59, an hour with %(share)s %% of the "
                "user's %(history)s lookups in the previous 60 days."
            ) % {"hour": d.get("hour", 0), "share": d.get("share", 0), "history": d["history"]}
        return _(
            "Lookup at %(hour)02d:00-%(hour)02d:59, outside 06-22 (too few earlier lookups "
            "to know the user's usual hours)."
        ) % {"hour": d.get("hour", 0)}
    if rule == Rule.MANY_CITIZENS:
        return _(
            "%(count)s different citizens looked up in one day; the median of the "
            "organisation's %(peers)s active users that day was %(median)s."
        ) % {"count": d.get("count", 0), "median": d.get("median", 0), "peers": d.get("peers", 0)}
    if rule == Rule.OUTSIDE_MUNICIPALITY:
        return _(
            "The citizen lives in municipality %(patient)s, not in the organisation's "
            "municipality %(organisation)s."
        ) % {
            "patient": municipality_name(d.get("patient_municipality", "")),
            "organisation": municipality_name(d.get("municipality", "")),
        }
    if rule == Rule.EMERGENCY:
        return _("Emergency access. Reason given: %(reason)s") % {"reason": d.get("reason") or "-"}
    if rule == Rule.BLOCK_OVERRIDE:
        return _("The citizen's block was overridden in an emergency. Reason given: %(reason)s") % {
            "reason": d.get("reason") or "-"
        }
    if rule == Rule.REFUSED:
        return _("Access was refused: %(why)s.") % {"why": refusal_text(str(d.get("refusal", "")))}
    if rule == Rule.VIP:
        return _("The citizen is marked for special protection (%(label)s).") % {
            "label": d.get("label", "")
        }
    if rule == Rule.SPOT_CHECK:
        year, _sep, number = str(d.get("week", "")).partition("-W")
        week = f"{int(number)} ({year})" if number.isdigit() else d.get("week", "")
        return _("Drawn at random from the lookups of week %(week)s.") % {"week": week}
    return rule
