"""The server-rendered trend chart."""

from __future__ import annotations

import datetime as dt

from indblik.chart import svg

DAY = dt.timedelta(days=1)
START = dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC)


def test_fewer_than_two_points_draw_nothing() -> None:
    assert svg.trend([], title="x") is None
    assert svg.trend([(START, 1.0)], title="x") is None


def test_the_chart_is_an_image_with_a_title_and_a_description() -> None:
    chart = svg.trend(
        [(START, 7.0), (START + DAY, 9.0), (START + 2 * DAY, 11.0)],
        title="Trend for <Hb>",
        unit="mmol/L",
        low=8.3,
        high=10.5,
    )
    assert chart is not None
    assert chart.startswith('<svg class="trend" role="img"')
    assert "<title" in chart and "Trend for &lt;Hb&gt;" in chart
    assert "<desc" in chart and "3" in chart and "03.01.2026" in chart
    assert chart.count('class="trend-point trend-abnormal"') == 2  # 7 and 11 are outside
    assert "<script" not in chart


def test_identical_values_and_identical_times_still_draw() -> None:
    assert svg.trend([(START, 5.0), (START, 5.0)], title="flat") is not None
