"""Free text is one inert line, bounded, without credentials, whatever a client sends."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indblik.audit.sanitize import REDACTED, clean_codes, clean_details, clean_text, is_secret_key

FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


@given(st.text(), st.integers(min_value=0, max_value=600))
def test_cleaned_text_has_no_control_format_or_separator_characters(text: str, limit: int) -> None:
    cleaned = clean_text(text, limit)
    assert len(cleaned) <= limit
    assert not {unicodedata.category(char) for char in cleaned} & FORBIDDEN_CATEGORIES
    assert cleaned == cleaned.strip()


@given(st.text(), st.integers(min_value=0, max_value=600))
def test_cleaning_twice_changes_nothing(text: str, limit: int) -> None:
    once = clean_text(text, limit)
    assert clean_text(once, limit) == once


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), max_size=80))
def test_ordinary_danish_text_passes_unchanged(text: str) -> None:
    # Letters, digits, punctuation and spaces are kept; only the ends are trimmed.
    if REDACTED not in clean_text(text, 80):
        assert clean_text(text, 80) == text.strip()


def test_danish_letters_and_names_are_kept() -> None:
    assert clean_text("Søren Ærø-Åberg, Østerbro", 100) == "Søren Ærø-Åberg, Østerbro"


def test_a_newline_becomes_a_space_so_words_do_not_run_together() -> None:
    assert clean_text("line one\nline two", 100) == "line one line two"


@pytest.mark.parametrize(
    "token",
    [
        "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJ4In0.MEUCIQDx",
        "eyJhbGciOiJFQ0RILUVTIn0..aGVsbG8gd29ybGQ.Y2lwaGVydGV4dA.dGFn",
        "PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1cm46b2FzaXM6bmFtZXM6dGM6U0FNTDoyLjA6cHJvdG9jb2wiPjwv"
        "c2FtbHA6UmVzcG9uc2U+",
    ],
)
def test_a_token_or_assertion_in_free_text_is_redacted(token: str) -> None:
    assert clean_text(f"got {token} from EOJ", 500) == f"got {REDACTED} from EOJ"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("launch_token", True),
        ("X-Authorization", True),
        ("client_secret", True),
        ("Cookie", True),
        ("private_key", True),
        ("authorisation", False),
        ("kid", False),
        ("created", False),
    ],
)
def test_it_knows_which_detail_keys_name_credentials(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(alphabet="abcdefgh_", min_size=1, max_size=8), children, max_size=4
        )
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(alphabet="abcdefgh_", min_size=1, max_size=8), json_values))
def test_clean_details_either_refuses_or_returns_only_plain_json(
    details: dict[str, object],
) -> None:
    try:
        cleaned = clean_details(details)
    except ValueError:
        return  # too deep or too big: refused, fine
    assert set(cleaned) == set(details)

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, bool | int | str)

    assert plain(cleaned)


def test_codes_are_cleaned_bounded_and_empty_ones_dropped() -> None:
    codes = clean_codes(
        ["residence", "", "  ", "care\nevent", *["x"] * 50], max_items=5, max_length=8
    )
    assert codes == ["residenc", "care eve", "x", "x", "x"]
