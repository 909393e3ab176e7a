"""Validators for what identifies and configures an organisation.

Each raises Django's ``ValidationError`` with a message a hospital administrator can act on;
models, forms, commands and the business functions all use these, so a rule lives in one place.
"""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from indblik.organisations import municipalities

# CVR numbers are eight digits; the last is a check digit: with these weights, the weighted
# sum of all eight is divisible by 11 (Erhvervsstyrelsen's modulus-11 rule).
CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)
SOR_MAX_DIGITS = 18
EVIDENCE_MAX_LENGTH = 1000
ROLE_URI_MAX_LENGTH = 300

# What the federation broker sends for a role: KOMBIT's job-function roles
# (http://<domain>/roles/jobrole/<name>/<version>) and user-system roles
# (http://<domain>/roles/usersystemrole/<name>/<version>). Anything else never matches an
# assertion, so accepting it would only hide a typo until the first user fails to sign in.
ROLE_URI = re.compile(
    r"https?://[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
    r"/roles/(?:jobrole|usersystemrole)/[A-Za-z0-9._~-]+/[0-9]+"
)
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_DANISH_DATE = re.compile(r"(?<!\d)(\d{1,2})[.-](\d{1,2})[.-](\d{4})(?!\d)")


def cvr_checksum_ok(cvr: str) -> bool:
    """Tell whether eight digits pass the CVR modulus-11 check."""
    return (
        sum(int(digit) * weight for digit, weight in zip(cvr, CVR_WEIGHTS, strict=True)) % 11 == 0
    )


def validate_cvr(value: str) -> None:
    """Refuse anything but a valid CVR number: eight digits, not starting with 0, modulus 11."""
    if not (len(value) == 8 and value.isascii() and value.isdigit()):
        raise ValidationError(
            _("A CVR number is exactly 8 digits, not %(value)s."),
            code="cvr_format",
            params={"value": repr(value)},
        )
    if value[0] == "0":
        raise ValidationError(
            _("A CVR number never starts with 0: %(value)s."),
            code="cvr_format",
            params={"value": value},
        )
    if not cvr_checksum_ok(value):
        raise ValidationError(
            _("%(value)s is not a valid CVR number (the check digit is wrong): look for a typo."),
            code="cvr_checksum",
            params={"value": value},
        )


def validate_municipality_code(value: str) -> None:
    """Refuse anything but one of the 98 Danish municipality codes (four digits, e.g. 0101)."""
    if not municipalities.is_municipality_code(value):
        raise ValidationError(
            _(
                "%(value)s is not a Danish municipality code (four digits, e.g. 0101 for "
                "København)."
            ),
            code="municipality_code",
            params={"value": repr(value)},
        )


def validate_sor_code(value: str) -> None:
    """Refuse a SOR code that is not 1 to 18 digits."""
    if not (0 < len(value) <= SOR_MAX_DIGITS and value.isascii() and value.isdigit()):
        raise ValidationError(
            _("A SOR code is digits only (at most %(max)d), not %(value)s."),
            code="sor_code",
            params={"value": repr(value), "max": SOR_MAX_DIGITS},
        )


def validate_role_uri(value: str) -> None:
    """Refuse a role that is not a job-function or user-system role URI."""
    if len(value) > ROLE_URI_MAX_LENGTH or ROLE_URI.fullmatch(value) is None:
        raise ValidationError(
            _(
                "The role must look like http://<domain>/roles/jobrole/<name>/1 or "
                "http://<domain>/roles/usersystemrole/<name>/1, not %(value)s."
            ),
            code="role_uri",
            params={"value": repr(value[:ROLE_URI_MAX_LENGTH])},
        )


def validate_evidence(step: str, evidence: str, *, today: date | None = None) -> None:
    """Refuse evidence that is too long, or agreement evidence without a date and a reference.

    The framework agreement is the legal basis of every lookup the organisation's users will
    make: its evidence must say when it was signed (a real date, not in the future) and which
    document it is (anything else beside the date, e.g. a journal number).
    """
    if len(evidence) > EVIDENCE_MAX_LENGTH:
        raise ValidationError(
            _("The evidence is at most %(max)d characters."),
            code="evidence_length",
            params={"max": EVIDENCE_MAX_LENGTH},
        )
    if step != "agreement":
        return
    signed, rest = _find_date(evidence)
    today = today or timezone.localdate()
    if signed is None or signed > today:
        raise ValidationError(
            _(
                "For the agreement, give the date it was signed (YYYY-MM-DD, not in the future) "
                'and the document reference, e.g. "2025-03-14, journal no. 2025-0042".'
            ),
            code="agreement_date",
        )
    if sum(char.isalnum() for char in rest) < 3:
        raise ValidationError(
            _(
                "For the agreement, give the document reference beside the date, e.g. "
                '"2025-03-14, journal no. 2025-0042".'
            ),
            code="agreement_reference",
        )


def _find_date(text: str) -> tuple[date | None, str]:
    """Return the first real calendar date in ``text`` and the text without it."""
    for pattern, order in ((_ISO_DATE, (0, 1, 2)), (_DANISH_DATE, (2, 1, 0))):
        for match in pattern.finditer(text):
            parts = match.groups()
            try:
                found = date(int(parts[order[0]]), int(parts[order[1]]), int(parts[order[2]]))
            except ValueError:
                continue  # 2025-02-30 is not a date; keep looking
            return found, text[: match.start()] + text[match.end() :]
    return None, text
