"""A small trend chart drawn on the server as inline SVG: no JavaScript, no library, no CDN.

The chart is an image with a text alternative (``role="img"``, ``<title>`` and ``<desc>``
naming the period, the number of values, the latest value and the reference range); the
values themselves are always in the table beside it, so nothing depends on seeing the chart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from indblik.chart.presenters.common import COPENHAGEN, number_text

WIDTH = 360
HEIGHT = 130
LEFT = 44  # room for the value labels
RIGHT = 10
TOP = 10
BOTTOM = 24  # room for the date labels
MAX_POINTS = 60


def trend(
    points: Sequence[tuple[dt.datetime, float]],
    *,
    title: str,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
) -> SafeString | None:
    """Return an SVG line chart of ``points`` (any order), or None for fewer than two."""
    ordered = sorted(points, key=lambda point: point[0])[-MAX_POINTS:]
    if len(ordered) < 2:
        return None
    values = [value for _when, value in ordered]
    floor = min([*values, *(v for v in (low,) if v is not None)])
    ceiling = max([*values, *(v for v in (high,) if v is not None)])
    if ceiling == floor:
        floor, ceiling = floor - 1, ceiling + 1
    margin = (ceiling - floor) * 0.08
    floor, ceiling = floor - margin, ceiling + margin
    start, end = ordered[0][0], ordered[-1][0]
    span = (end - start).total_seconds() or 1.0
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(when: dt.datetime) -> float:
        if end == start:
            return LEFT + plot_w / 2
        return LEFT + (when - start).total_seconds() / span * plot_w

    def y(value: float) -> float:
        return TOP + (ceiling - value) / (ceiling - floor) * plot_h

    ident = (
        "trend-"
        + hashlib.sha256(
            repr((title, [(w.isoformat(), v) for w, v in ordered])).encode()
        ).hexdigest()[:10]
    )
    parts: list[str] = []
    if low is not None or high is not None:
        band_top = y(high) if high is not None else TOP
        band_bottom = y(low) if low is not None else TOP + plot_h
        parts.append(
            format_html(
                '<rect class="trend-range" x="{}" y="{}" width="{}" height="{}"/>',
                LEFT,
                _n(band_top),
                plot_w,
                _n(max(band_bottom - band_top, 0.5)),
            )
        )
    parts.append(
        format_html(
            '<line class="trend-axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            LEFT,
            TOP + plot_h,
            LEFT + plot_w,
            TOP + plot_h,
        )
    )
    path = " ".join(f"{_n(x(when))},{_n(y(value))}" for when, value in ordered)
    parts.append(format_html('<polyline class="trend-line" points="{}"/>', path))
    for when, value in ordered:
        outside = (high is not None and value > high) or (low is not None and value < low)
        if outside:
            # Abnormal values: a larger square, not just another colour.
            size = 7
            parts.append(
                format_html(
                    '<rect class="trend-point trend-abnormal" x="{}" y="{}" width="{}" '
                    'height="{}"/>',
                    _n(x(when) - size / 2),
                    _n(y(value) - size / 2),
                    size,
                    size,
                )
            )
        else:
            parts.append(
                format_html(
                    '<circle class="trend-point" cx="{}" cy="{}" r="3"/>',
                    _n(x(when)),
                    _n(y(value)),
                )
            )
    label_top, label_bottom = max(values), min(values)
    parts.append(
        format_html(
            '<text class="trend-label" x="{}" y="{}" text-anchor="end">{}</text>',
            LEFT - 6,
            _n(y(label_top) + 4),
            number_text(label_top),
        )
    )
    if label_bottom != label_top:
        parts.append(
            format_html(
                '<text class="trend-label" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT - 6,
                _n(y(label_bottom) + 4),
                number_text(label_bottom),
            )
        )
    parts.append(
        format_html(
            '<text class="trend-label" x="{}" y="{}" text-anchor="start">{}</text>',
            LEFT,
            HEIGHT - 6,
            _day(start),
        )
    )
    parts.append(
        format_html(
            '<text class="trend-label" x="{}" y="{}" text-anchor="end">{}</text>',
            LEFT + plot_w,
            HEIGHT - 6,
            _day(end),
        )
    )
    description = _describe(ordered, unit=unit, low=low, high=high)
    return format_html(
        '<svg class="trend" role="img" viewBox="0 0 {} {}" width="{}" height="{}" '
        'aria-labelledby="{}-title {}-desc" focusable="false">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        ident,
        ident,
        ident,
        title,
        ident,
        description,
        mark_safe("".join(parts)),  # noqa: S308 - every part was built with format_html
    )


def _describe(
    ordered: Sequence[tuple[dt.datetime, float]],
    *,
    unit: str,
    low: float | None,
    high: float | None,
) -> str:
    latest_when, latest = ordered[-1]
    text = _(
        "%(count)s values from %(start)s to %(end)s; latest %(value)s %(unit)s on %(date)s."
    ) % {
        "count": len(ordered),
        "start": _day(ordered[0][0]),
        "end": _day(latest_when),
        "value": number_text(latest),
        "unit": unit,
        "date": _day(latest_when),
    }
    if low is not None and high is not None:
        text += " " + _("Reference range %(low)s to %(high)s.") % {
            "low": number_text(low),
            "high": number_text(high),
        }
    return text


def _day(when: dt.datetime) -> str:
    return when.astimezone(COPENHAGEN).strftime("%d.%m.%Y")


def _n(value: float) -> str:
    return f"{value:.1f}"
