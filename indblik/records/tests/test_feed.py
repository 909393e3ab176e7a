"""``indblik feed``: tokens shown once, stored hashed, rotated with an overlap, revoked."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from indblik.records import auth
from indblik.records.models import Feed, FeedCredential

pytestmark = pytest.mark.django_db


def feed(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("feed", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def test_add_prints_a_recognisable_token_once_and_stores_only_its_hash() -> None:
    token, note = feed("add", "hospital-engine", "--description", "Region integration engine")

    assert token.startswith("ibf_") and len(token) > 40
    assert "shown only now" in note
    credential = FeedCredential.objects.get()
    assert credential.token_hash == auth.hash_token(token)
    assert credential.prefix == token[:12]
    assert token not in credential.token_hash
    assert auth.authenticate(token) == Feed.objects.get(name="hospital-engine")


def test_add_refuses_a_name_that_exists_or_is_not_a_slug() -> None:
    feed("add", "hospital-engine")

    with pytest.raises(CommandError, match="exists already"):
        feed("add", "hospital-engine")
    with pytest.raises(CommandError, match="letters, digits"):
        feed("add", "hospital engine")


def test_rotate_keeps_the_old_token_valid_for_the_overlap_only() -> None:
    old, _ = feed("add", "hospital-engine")

    new, note = feed("rotate", "hospital-engine", "--overlap-hours", "2")

    assert new != old and "valid until" in note
    assert auth.authenticate(old) is not None
    assert auth.authenticate(new) is not None
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3)):
        assert auth.authenticate(old) is None
        assert auth.authenticate(new) is not None


def test_rotate_with_no_overlap_ends_the_old_token_at_once() -> None:
    old, _ = feed("add", "hospital-engine")

    feed("rotate", "hospital-engine", "--overlap-hours", "0")

    assert auth.authenticate(old) is None


def test_revoke_ends_every_token_or_the_one_named_by_its_prefix() -> None:
    first, _ = feed("add", "hospital-engine")
    second, _ = feed("rotate", "hospital-engine")

    out, _ = feed("revoke", "hospital-engine", "--prefix", second[:12])

    assert out == "hospital-engine: revoked 1 token(s)"
    assert auth.authenticate(second) is None
    assert auth.authenticate(first) is not None
    feed("revoke", "hospital-engine")
    assert auth.authenticate(first) is None
    with pytest.raises(CommandError, match="no live token"):
        feed("revoke", "hospital-engine")


def test_commands_on_an_unknown_feed_fail_clearly() -> None:
    with pytest.raises(CommandError, match="no feed named 'nobody'"):
        feed("rotate", "nobody")


def test_list_shows_prefixes_and_states_never_tokens() -> None:
    token, _ = feed("add", "hospital-engine")
    feed("rotate", "hospital-engine", "--overlap-hours", "1")

    out, _ = feed("list")

    assert out.splitlines()[0] == "hospital-engine  [active]"
    assert token[:12] in out and token not in out
    assert "valid until" in out and out.rstrip().endswith("valid")


def test_a_token_of_an_inactive_feed_is_refused() -> None:
    token, _ = feed("add", "hospital-engine")

    Feed.objects.update(active=False)

    assert auth.authenticate(token) is None


def test_a_token_without_the_prefix_or_with_a_near_miss_is_refused() -> None:
    token, _ = feed("add", "hospital-engine")

    assert auth.authenticate(token[4:]) is None
    assert auth.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert auth.authenticate("") is None
