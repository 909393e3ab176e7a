"""Bar charts drawn on the server as inline SVG: no JavaScript, no library, no CDN.

Each chart is one image (``role="img"`` with ``<title>`` and ``<desc>`` naming what it shows
and its largest value); the numbers themselves are always in a table beside it, so nothing
depends on seeing the chart. Colours and fonts come from ``usage/usage.css`` (classes only:
no inline style, so a strict Content-Security-Policy holds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

LABEL_MAX = 28


def _ident(kind: str, title: str, data: object) -> str:
    digest = hashlib.sha256(repr((kind, title, data)).encode()).hexdigest()[:10]
    return f"usage-{kind}-{digest}"


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _frame(
    ident: str, *, width: int, height: int, title: str, description: str, body: str
) -> SafeString:
    return format_html(
        '<svg class="usage-chart" role="img" aria-labelledby="{0}-t {0}-d" '
        'viewBox="0 0 {1} {2}" width="{1}" height="{2}" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{0}-t">{3}</title><desc id="{0}-d">{4}</desc>{5}</svg>',
        ident,
        width,
        height,
        title,
        description,
        mark_safe(body),  # noqa: S308 - built from format_html parts only
    )


def columns(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    description: str,
    ceiling: float | None = None,
) -> SafeString:
    """Return a column chart of ``(label, value)`` in the given order (e.g. weeks)."""
    width, height, left, bottom, top = 640, 200, 36, 34, 16
    plot_w, plot_h = width - left - 8, height - top - bottom
    top_value = max([ceiling or 0, *(value for _label, value in points)]) or 1
    slot = plot_w / max(len(points), 1)
    bar_w = max(slot * 0.7, 1)
    # At most ~13 date labels, so they never overlap.
    every = max(1, -(-len(points) // 13))
    parts = [
        format_html(
            '<line class="usage-axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            left,
            top + plot_h,
            width - 8,
            top + plot_h,
        ),
        format_html(
            '<text class="usage-label" x="{}" y="{}" text-anchor="end">{}</text>',
            left - 4,
            top + 4,
            _number(top_value),
        ),
        format_html(
            '<text class="usage-label" x="{}" y="{}" text-anchor="end">0</text>',
            left - 4,
            top + plot_h,
        ),
    ]
    for index, (label, value) in enumerate(points):
        bar_h = plot_h * value / top_value
        x = left + index * slot + (slot - bar_w) / 2
        parts.append(
            format_html(
                '<rect class="usage-bar" x="{}" y="{}" width="{}" height="{}"/>',
                _n(x),
                _n(top + plot_h - bar_h),
                _n(bar_w),
                _n(max(bar_h, 0)),
            )
        )
        if value and len(points) <= 26:
            parts.append(
                format_html(
                    '<text class="usage-value" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _n(x + bar_w / 2),
                    _n(top + plot_h - bar_h - 3),
                    _number(value),
                )
            )
        if index % every == 0:
            parts.append(
                format_html(
                    '<text class="usage-label" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _n(x + bar_w / 2),
                    height - bottom + 16,
                    label,
                )
            )
    ident = _ident("columns", title, list(points))
    body = "".join(parts)
    return _frame(
        ident, width=width, height=height, title=title, description=description, body=body
    )


def bars(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    description: str,
    ceiling: float | None = None,
) -> SafeString:
    """Return a horizontal bar chart of ``(label, value)``, one row each, in the given order."""
    row, left, width = 22, 190, 640
    plot_w = width - left - 48
    height = max(len(items), 1) * row + 8
    top_value = max([ceiling or 0, *(value for _label, value in items)]) or 1
    parts = []
    for index, (label, value) in enumerate(items):
        y = 4 + index * row
        bar_w = plot_w * value / top_value
        parts.append(
            format_html(
                '<text class="usage-label" x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="usage-bar" x="{}" y="{}" width="{}" height="{}"/>'
                '<text class="usage-value" x="{}" y="{}">{}</text>',
                left - 6,
                y + 15,
                _short(label),
                left,
                y + 3,
                _n(max(bar_w, 0)),
                row - 6,
                _n(left + bar_w + 4),
                y + 15,
                _number(value),
            )
        )
    ident = _ident("bars", title, list(items))
    return _frame(
        ident,
        width=width,
        height=height,
        title=title,
        description=description,
        body="".join(parts),
    )


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[float]]],
    *,
    series: Sequence[str],
    title: str,
    description: str,
) -> SafeString:
    """Return horizontal bars split into ``series`` (e.g. organisation types by status)."""
    row, left, width, legend = 22, 190, 640, 24
    plot_w = width - left - 48
    height = legend + max(len(rows), 1) * row + 8
    top_value = max([sum(values) for _label, values in rows] or [0]) or 1
    parts = [
        format_html_join(
            "",
            '<rect class="usage-series-{}" x="{}" y="4" width="12" height="12"/>'
            '<text class="usage-label" x="{}" y="15">{}</text>',
            (
                (index, left + index * 130, left + index * 130 + 16, name)
                for index, name in enumerate(series)
            ),
        )
    ]
    for index, (label, values) in enumerate(rows):
        y = legend + 4 + index * row
        x = float(left)
        parts.append(
            format_html(
                '<text class="usage-label" x="{}" y="{}" text-anchor="end">{}</text>',
                left - 6,
                y + 15,
                _short(label),
            )
        )
        for series_index, value in enumerate(values):
            if not value:
                continue
            bar_w = plot_w * value / top_value
            parts.append(
                format_html(
                    '<rect class="usage-series-{}" x="{}" y="{}" width="{}" height="{}"/>',
                    series_index,
                    _n(x),
                    y + 3,
                    _n(bar_w),
                    row - 6,
                )
            )
            x += bar_w
        parts.append(
            format_html(
                '<text class="usage-value" x="{}" y="{}">{}</text>',
                _n(x + 4),
                y + 15,
                _number(sum(values)),
            )
        )
    ident = _ident("stacked", title, list(rows))
    return _frame(
        ident,
        width=width,
        height=height,
        title=title,
        description=description,
        body="".join(parts),
    )
