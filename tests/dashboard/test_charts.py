"""Server-rendered SVG charts: well-formed, a bar per interval, no style; the main chart's exact
figures in its table, a row a bar (the bars are geometry only, issue 24)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from markupsafe import Markup

from app.core.intervals import Interval, buckets
from app.core.periods import Period
from app.dashboard.charts import SPARK_POINTS, SVG_NS, axis_ticks, daily_chart, sparkline
from app.dashboard.formatting import Lang
from app.dashboard.labels import translator
from app.dashboard.overview import Overview
from app.dashboard.present import ChartRow, present_overview
from app.dashboard.view import Compare, View
from app.reports import NO_FIGURES, BucketFigures, DayFigures, Figures, Ranking, Trend

NB = "\u00a0"
NN = "\u202f"
LABELS = {"current_label": "This period", "previous_label": "Previous period"}
FR_LABELS = {"current_label": "Cette période", "previous_label": "Période précédente"}
WEEK = date(2024, 1, 8)  # a Monday; the previous week starts on 2024-01-01
API_CALLS = [3, 37, 0, 12, 20, 8, 1]
PREVIOUS_API_CALLS = [1, 2, 3, 4, 5, 6, 36]


def days(start: date, api_calls: list[int], downloads: list[int] | None = None) -> list[DayFigures]:
    downloads = downloads or [0] * len(api_calls)
    return [
        DayFigures(start + timedelta(days=i), calls, loads)
        for i, (calls, loads) in enumerate(zip(api_calls, downloads, strict=True))
    ]


def bucketed(
    current: list[DayFigures], previous: list[DayFigures], interval: Interval
) -> list[BucketFigures]:
    """The chart's buckets as the read side gives them: each interval of the current days with
    its sums, beside the sums of the previous days at the same positions."""
    by_day = {day.day: day for day in [*current, *previous]}

    def total(part: Period, figure: str) -> int:
        return sum(getattr(by_day[day], figure) for day in part.each_day())

    period = Period(current[0].day, current[-1].day)
    against = Period(previous[0].day, previous[-1].day)
    return [
        BucketFigures(
            bucket,
            Figures(
                api_calls=Trend(
                    total(bucket.current, "api_calls"), total(bucket.previous, "api_calls")
                ),
                downloads=Trend(
                    total(bucket.current, "downloads"), total(bucket.previous, "downloads")
                ),
                downloaded_bytes=NO_FIGURES.downloaded_bytes,
                app_opens=NO_FIGURES.app_opens,
            ),
        )
        for bucket in buckets(period, interval, against)
    ]


def week_chart(lang: Lang = "en", **changes: object) -> Markup:
    current = changes.pop("current", days(WEEK, API_CALLS))
    previous = changes.pop("previous", days(WEEK - timedelta(days=7), PREVIOUS_API_CALLS))
    interval = changes.get("interval", Interval.DAY)
    arguments: dict[str, object] = {
        "grouped": bucketed(current, previous, interval),  # type: ignore[arg-type]
        "metric": "api_calls",
        "title": "API calls per day",
        "lang": lang,
        "id_prefix": "daily-api",
        **(FR_LABELS if lang == "fr" else LABELS),
        **changes,
    }
    return daily_chart(**arguments)  # type: ignore[arg-type]


def chart_table(
    grouped: list[BucketFigures],
    lang: Lang = "en",
    *,
    metric: str = "api_calls",
    interval: Interval = Interval.DAY,
    compare: Compare = Compare.PREVIOUS,
    today: date | None = None,
) -> list[ChartRow]:
    """The main chart's table as the page shows it, a row a bar."""
    period = Period(grouped[0].bucket.current.start, grouped[-1].bucket.current.end)
    view = View(
        period,
        None,
        None,
        lang=lang,
        compare=compare,
        interval_chosen=interval,
        metric=metric,
        today=today,
    )
    none = Ranking([], 0, NO_FIGURES)
    overview = Overview(period, view.compared, NO_FIGURES, grouped, none, none, none)
    return present_overview(view, overview, "/dashboard", translator(lang)).chart.table


def parse(chart: Markup) -> ET.Element:
    # Raises unless the SVG is well-formed XML. The input is our own output, not untrusted data.
    return ET.fromstring(str(chart))  # noqa: S314


def find(root: ET.Element, tag: str, css_class: str | None = None) -> list[ET.Element]:
    return [
        element
        for element in root.iter(f"{{{SVG_NS}}}{tag}")
        if css_class is None or css_class in element.get("class", "").split()
    ]


def title_of(element: ET.Element) -> str:
    title = element.find(f"{{{SVG_NS}}}title")
    assert title is not None and title.text is not None
    return title.text


def has_style(root: ET.Element) -> bool:
    return any("style" in e.attrib or e.tag.endswith("}style") for e in root.iter())


# Daily chart


def test_daily_chart_has_one_bar_per_day_from_first_to_last() -> None:
    bars = find(parse(week_chart()), "rect", "bar")
    # 7 slots of 468 / 7 units from x = 60, each bar 80 % of its slot, centred in it.
    assert [bar.get("x") for bar in bars] == [
        "66.7",
        "133.5",
        "200.4",
        "267.3",
        "334.1",
        "401",
        "467.8",
    ]
    assert {bar.get("width") for bar in bars} == {"53.5"}


def test_daily_chart_draws_the_previous_period_as_one_line_and_no_bar() -> None:
    root = parse(week_chart())
    (line,) = find(root, "polyline", "ghost")
    assert line.get("class") == "ghost"  # not "bar": a count of bars stays a count of days
    # Day i of the previous period steps across the slot of day i: 2 points a day.
    assert len(line.get("points", "").split()) == 14


def test_the_chart_table_holds_each_bars_exact_figures_once() -> None:
    current = days(WEEK, [1_234, 5])
    previous = days(WEEK - timedelta(days=7), [1_000, 0])
    grouped = bucketed(current, previous, Interval.DAY)
    assert chart_table(grouped) == [
        ("2024-01-08", "1,234", "2024-01-01", "1,000", f"▲{NB}+23{NB}%", ""),
        ("2024-01-09", "5", "2024-01-02", "0", "new", ""),
    ]
    assert chart_table(grouped, "fr")[0] == (
        "2024-01-08",
        f"1{NN}234",
        "2024-01-01",
        f"1{NN}000",
        f"▲{NB}+23{NB}%",
        "",
    )
    # The bars are geometry: their figures are the table's (static/dashboard.js reads row i
    # for bar i), not repeated in each bar.
    chart = week_chart(current=current, previous=previous)
    bars = find(parse(chart), "rect", "bar")
    assert [set(bar.attrib) for bar in bars] == [{"class", "x", "y", "width", "height"}] * 2
    assert "1,234" not in chart and "<title>" not in chart.split("</desc>", 1)[1]


def test_daily_chart_shows_the_chosen_metric() -> None:
    current = days(WEEK, [100, 100], downloads=[7, 9])
    previous = days(WEEK - timedelta(days=7), [100, 100], downloads=[2, 3])
    root = parse(week_chart(current=current, previous=previous, metric="downloads"))
    # Ticks 0, 5, 10 over 170 units: 7 -> 119, 9 -> 153.
    assert [bar.get("height") for bar in find(root, "rect", "bar")] == ["119", "153"]
    assert chart_table(bucketed(current, previous, Interval.DAY), metric="downloads") == [
        ("2024-01-08", "7", "2024-01-01", "2", f"▲{NB}+250{NB}%", ""),
        ("2024-01-09", "9", "2024-01-02", "3", f"▲{NB}+200{NB}%", ""),
    ]


def test_daily_chart_scales_bars_to_round_ticks() -> None:
    root = parse(week_chart())
    assert [t.text for t in find(root, "text", "tick-y")] == ["0", "10", "20", "30", "40"]
    heights = [bar.get("height") for bar in find(root, "rect", "bar")]
    # The plot is 170 units high and its top tick 40: 37 -> 157.25, 0 -> 0.
    assert heights == ["12.8", "157.2", "0", "51", "85", "34", "4.2"]
    tallest = find(root, "rect", "bar")[1]
    assert (tallest.get("y"), tallest.get("height")) == ("40.8", "157.2")  # from 198 upwards


def test_daily_chart_of_zeros_has_flat_bars_and_a_zero_to_one_axis() -> None:
    zeros = [0] * 7
    root = parse(week_chart(current=days(WEEK, zeros), previous=days(date(2024, 1, 1), zeros)))
    assert {bar.get("height") for bar in find(root, "rect", "bar")} == {"0"}
    assert [t.text for t in find(root, "text", "tick-y")] == ["0", "1"]


def test_daily_chart_labels_first_and_last_day_and_some_between() -> None:
    week = parse(week_chart())
    assert [t.text for t in find(week, "text", "tick-x")] == [
        "2024-01-08",
        "2024-01-10",
        "2024-01-12",
        "2024-01-14",
    ]


def test_daily_chart_of_a_year_has_365_bars_and_spaced_labels() -> None:
    start = date(2023, 1, 1)
    year = [i % 50 for i in range(365)]
    root = parse(week_chart(current=days(start, year), previous=days(date(2022, 1, 1), year[::-1])))
    bars = find(root, "rect", "bar")
    assert len(bars) == 365
    (line,) = find(root, "polyline", "ghost")
    # Days under 4 units wide: a thin line through their centres, 1 point a day, not steps.
    assert (line.get("class"), len(line.get("points", "").split())) == ("ghost dense", 365)
    labels = find(root, "text", "tick-x")
    assert [t.text for t in labels] == [
        "2023-01-01",
        "2023-02-27",
        "2023-04-25",
        "2023-06-21",
        "2023-08-17",
        "2023-10-13",
        "2023-12-31",
    ]
    centres = [float(t.get("x", "")) for t in labels]
    # An ISO date is ~62 units wide at 11px: centres 72 apart never overlap.
    assert min(b - a for a, b in itertools.pairwise(centres)) >= 72


def test_daily_chart_is_an_image_labelled_by_its_title_and_summary() -> None:
    root = parse(week_chart())
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("viewBox") == "0 0 560 220"
    assert root.get("aria-labelledby") == "daily-api-title daily-api-desc"
    ids = {e.get("id"): e.text for e in root.iter() if e.get("id")}
    assert ids == {
        "daily-api-title": "API calls per day",
        "daily-api-desc": "Total — This period: 81; Previous period: 57.",
    }


def test_daily_chart_uses_no_style_attribute() -> None:
    chart = week_chart()
    assert not has_style(parse(chart))
    assert "style=" not in chart


def test_daily_chart_escapes_its_texts() -> None:
    chart = week_chart(title="<b>Calls</b>", current_label="A & B", id_prefix='x"y')
    root = parse(chart)
    assert "<b>" not in chart
    assert root.get("aria-labelledby") == 'x"y-title x"y-desc'
    assert title_of(root) == "<b>Calls</b>"
    assert next(t.text for t in find(root, "text")) == "A & B"  # the legend


def test_the_bar_of_today_is_partial_hatched_and_says_so() -> None:
    chart = week_chart(today=WEEK + timedelta(days=6))
    root = parse(chart)
    bars = find(root, "rect", "bar")
    assert [bar.get("data-partial") for bar in bars] == [None] * 6 + ["true"]
    grouped = bucketed(
        days(WEEK, API_CALLS), days(date(2024, 1, 1), PREVIOUS_API_CALLS), Interval.DAY
    )
    assert chart_table(grouped, today=WEEK + timedelta(days=6))[-1] == (
        "2024-01-14",
        "1",
        "2024-01-07",
        "36",
        f"▼{NB}−97{NB}%",
        "today, partial",
    )
    # The hatch covers the bar exactly, filled by the chart's own pattern; still no style.
    (hatch,) = find(root, "rect", "hatch")
    assert {k: hatch.get(k) for k in ("x", "y", "width", "height")} == {
        k: bars[-1].get(k) for k in ("x", "y", "width", "height")
    }
    assert hatch.get("fill") == "url(#daily-api-partial)"
    (pattern,) = find(root, "pattern")
    assert pattern.get("id") == "daily-api-partial"
    assert not has_style(root)
    # A week without today has neither.
    assert "partial" not in week_chart(today=WEEK - timedelta(days=1))


def test_a_week_that_holds_today_is_the_partial_bar() -> None:
    current = days(date(2024, 1, 1), [1] * 28)
    previous = days(date(2023, 12, 4), [1] * 28)
    chart = week_chart(current=current, previous=previous, interval=Interval.WEEK, today=WEEK)
    bars = find(parse(chart), "rect", "bar")
    assert [bar.get("data-partial") for bar in bars] == [None, "true", None, None]
    table = chart_table(bucketed(current, previous, Interval.WEEK), interval=Interval.WEEK)
    assert table[1][0] == "2024-01-08 – 2024-01-14"


def test_daily_chart_refuses_periods_of_different_lengths() -> None:
    with pytest.raises(ValueError, match=r"has 7 days, .* has 6 days"):
        week_chart(previous=days(date(2024, 1, 1), PREVIOUS_API_CALLS[:6]))


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (2, [0, 1, 2]),
        (4, [0, 1, 2, 3, 4]),
        (5, [0, 2, 4, 6]),
        (37, [0, 10, 20, 30, 40]),
        (40, [0, 10, 20, 30, 40]),
        (41, [0, 20, 40, 60]),
        (100, [0, 50, 100]),
        (101, [0, 50, 100, 150]),
        (1_234_567, [0, 500_000, 1_000_000, 1_500_000]),
    ],
)
def test_axis_ticks_are_round_and_reach_the_maximum(maximum: int, ticks: list[int]) -> None:
    assert axis_ticks(maximum) == ticks


# Intervals, no comparison, sparklines


def test_a_year_by_week_has_a_bar_per_monday_to_sunday_week() -> None:
    start = date(2023, 1, 4)  # a Wednesday: the first week is partial
    values = [1] * 365
    current, previous = days(start, values), days(date(2022, 1, 4), values)
    bars = find(
        parse(week_chart(current=current, previous=previous, interval=Interval.WEEK)), "rect", "bar"
    )
    assert len(bars) == 53
    first, second, *_ = chart_table(
        bucketed(current, previous, Interval.WEEK), interval=Interval.WEEK
    )
    assert first[:2] == ("2023-01-04 – 2023-01-08", "5")
    # The compared days in the same positions: 2022-01-09..15 face 2023-01-09..15.
    assert second[:4] == ("2023-01-09 – 2023-01-15", "7", "2022-01-09 – 2022-01-15", "7")


def test_ten_years_by_month_has_120_bars_labelled_by_month() -> None:
    start = date(2014, 1, 1)
    values = [i % 3 for i in range(3652)]
    current, previous = days(start, values), days(date(2004, 1, 1), values)
    root = parse(week_chart(current=current, previous=previous, interval=Interval.MONTH))
    bars = find(root, "rect", "bar")
    assert len(bars) == 120
    table = chart_table(bucketed(current, previous, Interval.MONTH), interval=Interval.MONTH)
    assert (table[0][:2], table[-1][0]) == (("2014-01", str(sum(values[:31]))), "2023-12")
    assert all(len(t.text or "") == 7 for t in find(root, "text", "tick-x"))


def test_without_comparison_the_chart_has_no_previous_line_nor_legend() -> None:
    root = parse(week_chart(previous_label=None))
    assert find(root, "polyline", "ghost") == []
    assert find(root, "line", "legend-previous") == []
    grouped = bucketed(
        days(WEEK, API_CALLS), days(date(2024, 1, 1), PREVIOUS_API_CALLS), Interval.DAY
    )
    assert chart_table(grouped, compare=Compare.NONE)[0] == ("2024-01-08", "3", "", "", "", "")


def test_sparkline_draws_one_point_per_value() -> None:
    root = parse(sparkline([0, 5, 10], label="Trend <of> calls"))
    assert root.get("aria-label") == "Trend <of> calls"
    (line,) = find(root, "polyline")
    assert line.get("points") == "0,27 60,14 120,1"
    assert sparkline([4], label="x") == ""


def test_a_long_sparkline_draws_the_means_of_its_values() -> None:
    # 366 days in 60 points: groups of 6 or 7 days, each drawn at its mean.
    year = [10 if day < 183 else 0 for day in range(366)]
    (line,) = find(parse(sparkline(year, label="x")), "polyline")
    points = line.get("points", "").split()
    assert len(points) == SPARK_POINTS == 60
    heights = [point.split(",")[1] for point in points]
    assert heights[:30] == ["1"] * 30 and heights[30:] == ["27"] * 30
