"""The replay cache: an accepted assertion id is refused for as long as it could be valid.

The ids live in the database (``SeenAssertion``), not in process memory, so a response
replayed to another worker, or to another server behind the load balancer, is refused too.
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from indblik.identity.models import SeenAssertion


def remember(assertion_id: str, not_on_or_after: datetime.datetime) -> bool:
    """Record ``assertion_id`` as used; return False if it was seen before (a replay).

    The insert itself is the check: two workers handling the same assertion at the same moment
    cannot both succeed, because the second insert violates the primary key.
    """
    try:
        with transaction.atomic():
            SeenAssertion.objects.create(id=assertion_id, not_on_or_after=not_on_or_after)
    except IntegrityError:
        return False
    return True


def prune(now: datetime.datetime | None = None) -> int:
    """Delete the ids whose assertions can no longer be accepted; return how many."""
    deleted, _ = SeenAssertion.objects.filter(not_on_or_after__lt=now or timezone.now()).delete()
    return deleted
