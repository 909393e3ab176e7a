"""Feed credentials: bearer tokens for the systems that use the FHIR API.

A feed is either a system that pushes FHIR data (scope ``ingest``: the integration engine),
one that reads citizens' audit events (scope ``audit-read``: the hospital's patient portal) or
one that reads the record (scope ``record-read``: another Indblik, a FHIR client); each
endpoint accepts only its own scope. The SMART token endpoint (:mod:`indblik.records.smart`)
issues short-lived credentials here too, limited to the resource types granted.

A token is shown once, when it is issued; only its SHA-256 is stored. A feed may hold two
live credentials during a rotation: the new one, and the old one until its overlap expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from indblik.records.models import Feed, FeedCredential

log = logging.getLogger(__name__)

TOKEN_PREFIX = "ibf_"  # noqa: S105 - not a secret: makes tokens recognisable to secret scanners
PREFIX_LENGTH = 12  # TOKEN_PREFIX and 8 random characters: names a credential, proves nothing


@dataclass(frozen=True)
class IssuedToken:
    """A newly issued credential and its token (the only time the token is available)."""

    token: str
    credential: FeedCredential


def hash_token(token: str) -> str:
    """Return the stored form of a token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_credential(
    feed: Feed,
    *,
    expires_at: dt.datetime | None = None,
    short_lived: bool = False,
    resource_types: str = "",
) -> IssuedToken:
    """Create a new credential for ``feed`` and return it with its token.

    ``short_lived`` marks an access token of the SMART token endpoint (purged once expired);
    ``resource_types`` limits it to the types of the scopes granted (space-separated).
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    credential = FeedCredential.objects.create(
        feed=feed,
        prefix=token[:PREFIX_LENGTH],
        token_hash=hash_token(token),
        expires_at=expires_at,
        short_lived=short_lived,
        resource_types=resource_types,
    )
    return IssuedToken(token, credential)


def create_feed(name: str, *, description: str = "", scope: str = Feed.Scope.INGEST) -> IssuedToken:
    """Register a feed with one scope (push data, or read audit events); issue its credential."""
    with transaction.atomic():
        feed = Feed.objects.create(name=name, description=description, scope=Feed.Scope(scope))
        return issue_credential(feed)


def rotate(feed: Feed, *, overlap: dt.timedelta) -> IssuedToken:
    """Issue a new credential; the feed's current ones stay valid for ``overlap``, then expire."""
    now = timezone.now()
    with transaction.atomic():
        ends = now + overlap
        live = live_credentials(feed).select_for_update()
        for credential in live:
            # Never extend a credential that was already due to expire sooner.
            if credential.expires_at is None or credential.expires_at > ends:
                credential.expires_at = ends
                credential.save(update_fields=["expires_at"])
        return issue_credential(feed)


def revoke(feed: Feed, *, prefix: str | None = None) -> int:
    """Revoke the feed's live credentials (or the one starting with ``prefix``); return how many."""
    credentials = live_credentials(feed)
    if prefix:
        credentials = credentials.filter(prefix__startswith=prefix[:PREFIX_LENGTH])
    return credentials.update(revoked_at=timezone.now())


def live_credentials(feed: Feed) -> QuerySet[FeedCredential]:
    """Return the feed's credentials that are neither revoked nor expired."""
    now = timezone.now()
    return feed.credentials.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)


def bearer_token(request: HttpRequest) -> str | None:
    """Return the token of an ``Authorization: Bearer …`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


def authenticate(token: str | None) -> Feed | None:
    """Return the active feed this token belongs to, or None (unknown, revoked or expired)."""
    credential = authenticate_credential(token)
    return None if credential is None else credential.feed


def authenticate_credential(token: str | None) -> FeedCredential | None:
    """Return the live credential of an active feed this token is, or None."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    now = timezone.now()
    # Look up by the non-secret prefix and compare the hashes in constant time, so that
    # response times tell nothing about how much of a guessed token matched.
    candidates = FeedCredential.objects.filter(prefix=token[:PREFIX_LENGTH]).select_related("feed")
    for credential in candidates:
        if not hmac.compare_digest(credential.token_hash, digest):
            continue
        if credential.revoked_at is not None:
            log.warning("feed credential %s refused: revoked", credential.prefix)
            return None
        if credential.expires_at is not None and credential.expires_at <= now:
            log.warning("feed credential %s refused: expired", credential.prefix)
            return None
        if not credential.feed.active:
            log.warning(
                "feed credential %s refused: feed %s inactive",
                credential.prefix,
                credential.feed.name,
            )
            return None
        return credential
    return None
