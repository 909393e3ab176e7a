"""The server-rendered charts: accessible images, escaped text, sane geometry."""

from __future__ import annotations

from indblik.usage import svg


def test_a_column_chart_is_an_image_with_a_title_and_description() -> None:
    chart = str(
        svg.columns([("W01", 3), ("W02", 0), ("W03", 7)], title="Lookups", description="10 in all")
    )
    assert chart.startswith('<svg class="usage-chart" role="img" aria-labelledby=')
    assert '<title id="' in chart and ">Lookups</title>" in chart and ">10 in all</desc>" in chart
    assert chart.count('class="usage-bar"') == 3
    assert "style=" not in chart and "<script" not in chart


def test_labels_are_escaped() -> None:
    chart = str(svg.bars([("<script>x</script>", 1)], title="<b>", description="&"))
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    assert "<title" in chart and "&lt;b&gt;" in chart and "&amp;" in chart


def test_empty_and_zero_data_draw_without_dividing_by_zero() -> None:
    assert "<svg" in str(svg.columns([], title="t", description="d"))
    assert "<svg" in str(svg.bars([("a", 0)], title="t", description="d"))
    assert "<svg" in str(
        svg.stacked_bars([("a", (0, 0, 0))], series=["x", "y", "z"], title="t", description="d")
    )


def test_stacked_bars_draw_one_segment_per_non_zero_value_and_a_legend() -> None:
    chart = str(
        svg.stacked_bars(
            [("Municipality", (1, 2, 0)), ("Hospice", (0, 1, 1))],
            series=["Onboarding", "Live", "Suspended"],
            title="Organisations",
            description="5",
        )
    )
    assert chart.count('class="usage-series-1"') == 1 + 2  # legend + two live segments
    assert ">Onboarding</text>" in chart


def test_the_same_data_gives_the_same_ids_and_other_data_other_ids() -> None:
    one = str(svg.bars([("a", 1)], title="t", description="d"))
    assert one == str(svg.bars([("a", 1)], title="t", description="d"))
    assert one != str(svg.bars([("a", 2)], title="t", description="d"))
