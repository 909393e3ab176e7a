"""The rules of use: their current version, and whether a user has acknowledged it.

Change ``VERSION`` whenever the text of ``chart/rules.html`` changes in substance: every user
is then shown the rules again before their next chart page.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language

from indblik.chart.models import RulesAcknowledgement

VERSION = "2026-1"


def acknowledged(user: Any) -> bool:
    """Tell whether ``user`` has acknowledged the current version of the rules (one query)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return RulesAcknowledgement.objects.filter(user_id=user.pk, version=VERSION).exists()


def acknowledge(user: Any) -> RulesAcknowledgement:
    """Record that ``user`` has read and accepted the current version (idempotent)."""
    row, _created = RulesAcknowledgement.objects.get_or_create(
        user_id=user.pk, version=VERSION, defaults={"language": (get_language() or "")[:8]}
    )
    return row
