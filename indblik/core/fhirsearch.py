"""What Indblik's two FHIR search APIs share: their error, ``_count``, and dates as ranges.

The record read API (``indblik.records.api.search``) and the audit log's ``AuditEvent``
search (``indblik.audit.search``) parse date parameters the same way: a prefix (``eq``,
``ge``, ``gt``, ``le``, ``lt``) and a FHIR date or dateTime of any precision, which stands
for the instants it covers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from django.utils import timezone

PREFIXES = ("eq", "ge", "gt", "le", "lt")
_DATE = re.compile(
    r"(?P<prefix>[a-z]{2})?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,6})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


class SearchError(ValueError):
    """A search the API cannot run (400), with the FHIR issue code that says why."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def count_value(values: Sequence[str], maximum: int) -> int | None:
    """Return the ``_count`` asked for (None: not given), at most ``maximum``.

    0 asks for the number of matches alone (FHIR's ``_summary=count``). Leading zeros change
    nothing, and a number of thousands of digits is never given to ``int()`` (which refuses
    more than 4,300): it is read as the maximum. Anything else is a SearchError.
    """
    if not values:
        return None
    if len(values) > 1 or not values[0].isascii() or not values[0].isdigit():
        raise SearchError(
            "_count must be a whole number: 0 for the number of matches alone, else how many "
            f"a page holds (at most {maximum} are sent)",
            "value",
        )
    digits = values[0].lstrip("0") or "0"
    count = int(digits) if len(digits) <= 9 else maximum
    return min(count, maximum)  # FHIR: a server may return fewer than asked


def date_bounds(name: str, values: Sequence[str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Turn the values of a date parameter into one half-open range [since, until).

    All of them must hold (``date=ge2025-01-01&date=lt2025-02-01`` is January). SearchError
    names the parameter for anything else: another prefix, a malformed or impossible date.
    """
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    for value in values:
        # An unescaped "+" of a time zone arrives as a space.
        match = _DATE.fullmatch(value.replace(" ", "+"))
        if match is None:
            raise SearchError(
                f"{name}: a prefix ({', '.join(PREFIXES)}) and a FHIR date or dateTime, "
                f"e.g. {name}=ge2025-03-01 or {name}=lt2025-03-01T12:00:00+01:00",
                "value",
            )
        prefix = match["prefix"] or "eq"
        if prefix not in PREFIXES:
            raise SearchError(f"{name}: the prefix {prefix} is not supported", "not-supported")
        start, end = _covered(name, match)
        low = {"eq": start, "ge": start, "gt": end}.get(prefix)
        high = {"eq": end, "le": end, "lt": start}.get(prefix)
        if low is not None:
            since = low if since is None else max(since, low)
        if high is not None:
            until = high if until is None else min(until, high)
    return since, until


def _covered(name: str, match: re.Match[str]) -> tuple[dt.datetime, dt.datetime]:
    """Return the instants [start, end) a FHIR date of the given precision covers.

    A date, or a time without a zone, is Danish time (TIME_ZONE), as the stored dates are.
    """
    zone = timezone.get_default_timezone()
    try:
        year, month, day = int(match["year"]), int(match["month"] or 1), int(match["day"] or 1)
        if match["hour"] is None:
            start_date = dt.date(year, month, day)
            if match["day"]:
                end_date = start_date + dt.timedelta(days=1)
            elif match["month"]:
                end_date = (start_date + dt.timedelta(days=32)).replace(day=1)
            else:
                end_date = start_date.replace(year=year + 1)
            return (
                dt.datetime.combine(start_date, dt.time(), zone),
                dt.datetime.combine(end_date, dt.time(), zone),
            )
        fraction = match["fraction"] or ""
        start = dt.datetime(
            year,
            month,
            day,
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction[1:].ljust(6, "0")) if fraction else 0,
        )
        if match["zone"] is None:
            start = start.replace(tzinfo=zone)
        else:
            start = dt.datetime.fromisoformat(
                f"{start.isoformat()}{match['zone'].replace('Z', '+00:00')}"
            )
        if fraction:
            step = dt.timedelta(microseconds=10 ** (6 - len(fraction) + 1))
        elif match["second"] is not None:
            step = dt.timedelta(seconds=1)
        else:
            step = dt.timedelta(minutes=1)
        return start, start + step
    except (ValueError, OverflowError):
        # OverflowError: the end of year 9999 (its last second, day or year) has no end.
        raise SearchError(f"{name}: not a real date or time", "value") from None
