"""Random spot checks: each week, a few of an organisation's lookups drawn for review.

Datatilsynet asks for spot checks that the users cannot predict. A week is drawn once, after it
has ended (so nobody can know during the week which lookups will be drawn), with the
operating system's CSPRNG (:mod:`secrets`), and the draw is stored at once together with its
cases and an audit event: drawing again returns the stored draw, so nobody can draw until a
convenient sample comes up.

Every lookup event of the week is equally likely; two events of the same lookup (one user, one
citizen, one day) count as one sample, so a draw holds up to N different lookups.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from indblik import audit
from indblik.audit import Action, Actor, Outcome
from indblik.audit.models import AuditEvent
from indblik.followup.events import LOOKUP_ACTIONS, day_bounds, zone
from indblik.followup.models import Case, Rule, SpotCheckDraw

LAZY_WEEKS = 4  # a page view draws the last four ended weeks that have no draw yet
MAX_ATTEMPTS_FACTOR = 10

SYSTEM_ACTOR = Actor(name="followup:spot-checks")


def week_start(day: dt.date) -> dt.date:
    """Return the Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def week_label(week: dt.date) -> str:
    """Return the ISO week, e.g. ``2025-W10``."""
    year, number, _ = week.isocalendar()
    return f"{year}-W{number:02d}"


def draw(cvr: str, week: dt.date, *, count: int | None = None) -> SpotCheckDraw | None:
    """Draw the spot checks of the week starting ``week`` for organisation ``cvr``, once.

    Returns the stored draw (made now or earlier), or None while the week has not ended.
    """
    week = week_start(week)
    start, _ = day_bounds(week)
    end, _ = day_bounds(week + dt.timedelta(days=7))
    if timezone.now() < end:
        return None
    existing = SpotCheckDraw.objects.filter(organisation_cvr=cvr, week=week).first()
    if existing is not None:
        return existing
    wanted = settings.INDBLIK_FOLLOWUP_SPOT_CHECKS_PER_WEEK if count is None else count
    lookups = (
        AuditEvent.objects.filter(
            organisation_cvr=cvr,
            at__gte=start,
            at__lt=end,
            action__in=LOOKUP_ACTIONS,
            outcome=Outcome.SUCCESS,
            user_id__isnull=False,
        )
        .exclude(patient_cpr="")
        .order_by("at", "id")
        .values_list("id", "at", "user_id", "actor_name", "patient_cpr", "section")
    )
    population = lookups.count() if wanted else 0
    picked: dict[tuple[int, str, dt.date], tuple[int, dt.datetime, int, str, str, str]] = {}
    tried: set[int] = set()
    tz = zone()
    attempts = 0
    while len(picked) < wanted and len(tried) < population:
        attempts += 1
        if attempts > wanted * MAX_ATTEMPTS_FACTOR:
            break  # few different lookups in a busy week: take what was found
        index = secrets.randbelow(population)
        if index in tried:
            continue
        tried.add(index)
        row = lookups[index]  # one indexed query (OFFSET within the organisation's week)
        unit = (row[2], row[4], timezone.localtime(row[1], tz).date())
        picked.setdefault(unit, row)
    label = week_label(week)
    try:
        with transaction.atomic():
            made = SpotCheckDraw.objects.create(
                organisation_cvr=cvr,
                week=week,
                drawn_at=timezone.now(),
                requested=wanted,
                drawn=len(picked),
                population=population,
            )
            Case.objects.bulk_create(
                [
                    Case(
                        organisation_cvr=cvr,
                        key=f"{Rule.SPOT_CHECK}:{week.isoformat()}:{event_id}",
                        rule=Rule.SPOT_CHECK,
                        details={"week": label},
                        event_id=event_id,
                        at=at,
                        user_id=user_id,
                        actor_name=actor_name,
                        patient_cpr=cpr,
                        section=section,
                    )
                    for event_id, at, user_id, actor_name, cpr, section in picked.values()
                ]
            )
            # In the same transaction: a draw that cannot be logged is not made.
            audit.record(
                None,
                Action.FOLLOWUP_SPOT_CHECK_DRAW,
                outcome=Outcome.SUCCESS,
                organisation_cvr=cvr,
                actor=SYSTEM_ACTOR,
                details={
                    "week": label,
                    "requested": wanted,
                    "drawn": len(picked),
                    "population": population,
                    "events": sorted(row[0] for row in picked.values())[:50],
                },
            )
    except IntegrityError:
        # Another worker drew the same week a moment ago: its draw stands.
        return SpotCheckDraw.objects.get(organisation_cvr=cvr, week=week)
    return made


def draw_due(cvr: str, *, weeks: int = LAZY_WEEKS) -> list[SpotCheckDraw]:
    """Draw every ended week among the last ``weeks`` that has no draw yet."""
    today = timezone.localdate(timezone.now(), zone())
    this_week = week_start(today)
    made = []
    for back in range(weeks, 0, -1):
        result = draw(cvr, this_week - dt.timedelta(days=7 * back))
        if result is not None:
            made.append(result)
    return made
