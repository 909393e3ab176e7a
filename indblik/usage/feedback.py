"""The feedback prompt's rules: who is asked, how often, and what is kept."""

from __future__ import annotations

import datetime as dt
import re
from typing import TypeGuard

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from indblik.audit.sanitize import clean_text
from indblik.identity.models import User, UserKind
from indblik.organisations.models import Organisation
from indblik.usage.models import COMMENT_MAX_LENGTH, Feedback

# At most one question per user in this period, whatever the answer ("not now" included).
INTERVAL = dt.timedelta(days=7)
# Something that looks like a CPR number (ddmmyy-xxxx, with or without the dash or a space)
# is removed from a comment: the answer must never hold patient data.
_CPR_LIKE = re.compile(r"(?<!\d)\d{6}[-\s]?\d{4}(?!\d)")
REDACTED = "[…]"
# Set in the session after an answer, so the next chart page says thank you once.
THANKS_SESSION_KEY = "indblik_feedback_thanks"
# Whether the prompt is due, remembered in the session for the rest of the (Danish) day as
# [user id, day, due]: a chart page then asks the database once a day, not on every page.
DUE_SESSION_KEY = "indblik_feedback_due"


def may_answer(user: object) -> TypeGuard[User]:
    """Tell whether ``user`` is someone the prompt is for: an organisation's professional."""
    return (
        isinstance(user, User)
        and user.is_active
        and user.kind == UserKind.PROFESSIONAL
        and bool(user.organisation_cvr)
    )


def is_due(user: object, *, now: dt.datetime | None = None) -> bool:
    """Tell whether to ask ``user`` now: switched on, and no answer in the last 7 days."""
    if not settings.INDBLIK_FEEDBACK_PROMPT or not may_answer(user):
        return False
    since = (now or timezone.now()) - INTERVAL
    return not Feedback.objects.filter(user=user, at__gt=since).exists()


def is_due_for(request: HttpRequest, *, now: dt.datetime | None = None) -> bool:
    """Tell whether to ask the request's user now (:func:`is_due`, remembered for the day).

    The answer is kept in the session until the day ends, so a prompt that became due during
    the day waits for tomorrow, and an answer given in another session may be asked for again
    in this one today (:func:`submit` then stores nothing): the prompt is optional, and "at most
    once a week" still holds. An answer in this session is remembered by :func:`answered`.
    """
    user = request.user
    if not settings.INDBLIK_FEEDBACK_PROMPT or not may_answer(user):
        return False
    now = now or timezone.now()
    day = timezone.localdate(now).isoformat()
    session = getattr(request, "session", None)
    remembered = session.get(DUE_SESSION_KEY) if session is not None else None
    if isinstance(remembered, list) and remembered[:2] == [user.pk, day] and len(remembered) == 3:
        return remembered[2] is True
    due = is_due(user, now=now)
    if session is not None:
        session[DUE_SESSION_KEY] = [user.pk, day, due]
    return due


def answered(request: HttpRequest, *, now: dt.datetime | None = None) -> None:
    """Remember in the session that the request's user is not to be asked again today."""
    session = getattr(request, "session", None)
    if session is not None and request.user.is_authenticated:
        day = timezone.localdate(now or timezone.now()).isoformat()
        session[DUE_SESSION_KEY] = [request.user.pk, day, False]


def clean_comment(text: str) -> str:
    """Return the comment on one bounded line of text, with CPR-like numbers removed."""
    return _CPR_LIKE.sub(REDACTED, clean_text(text or "", COMMENT_MAX_LENGTH)).strip()


def submit(
    user: User,
    *,
    score: int | None,
    comment: str = "",
    now: dt.datetime | None = None,
) -> Feedback | None:
    """Store an answer (``score`` None: "not now"); None if the user was not due one."""
    now = now or timezone.now()
    with transaction.atomic():
        # In the transaction: two tabs answering at once still store one answer.
        if not is_due(user, now=now):
            return None
        organisation = Organisation.objects.filter(cvr=user.organisation_cvr).first()
        if organisation is None:
            return None
        return Feedback.objects.create(
            user=user,
            organisation=organisation,
            score=score,
            comment=clean_comment(comment) if score is not None else "",
            at=now,
        )
