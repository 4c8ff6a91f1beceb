"""Server-rendered SVG charts: well-formed, a bar per day or row, exact figures, no style."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from markupsafe import Markup

from app.dashboard.charts import (
    BAR_MAX_LENGTH,
    SVG_NS,
    BarRow,
    axis_ticks,
    bar_chart,
    daily_chart,
    top_rows,
)
from app.dashboard.formatting import Lang
from app.dashboard.overview import Group
from app.reports import DayFigures, Figures, Trend

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


def week_chart(lang: Lang = "en", **changes: object) -> Markup:
    arguments: dict[str, object] = {
        "current": days(WEEK, API_CALLS),
        "previous": days(WEEK - timedelta(days=7), PREVIOUS_API_CALLS),
        "metric": "api_calls",
        "title": "API calls per day",
        "lang": lang,
        "id_prefix": "daily-api",
        **(FR_LABELS if lang == "fr" else LABELS),
        **changes,
    }
    return daily_chart(**arguments)  # type: ignore[arg-type]


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
    assert [bar.get("data-day") for bar in bars] == [
        "2024-01-08",
        "2024-01-09",
        "2024-01-10",
        "2024-01-11",
        "2024-01-12",
        "2024-01-13",
        "2024-01-14",
    ]


def test_daily_chart_draws_the_previous_period_as_one_line_and_no_bar() -> None:
    root = parse(week_chart())
    (line,) = find(root, "polyline", "ghost")
    assert line.get("class") == "ghost"  # not "bar": a count of bars stays a count of days
    # Day i of the previous period steps across the slot of day i: 2 points a day.
    assert len(line.get("points", "").split()) == 14


def test_daily_chart_titles_each_bar_with_both_exact_figures() -> None:
    current = days(WEEK, [1_234, 5])
    previous = days(WEEK - timedelta(days=7), [1_000, 0])
    en = find(parse(week_chart(current=current, previous=previous)), "rect", "bar")
    fr = find(parse(week_chart("fr", current=current, previous=previous)), "rect", "bar")
    assert title_of(en[0]) == "This period, 2024-01-08: 1,234; Previous period, 2024-01-01: 1,000"
    assert title_of(fr[0]) == (
        f"Cette période, 2024-01-08{NB}: 1{NN}234{NN}; Période précédente, 2024-01-01{NB}: 1{NN}000"
    )


def test_daily_chart_shows_the_chosen_metric() -> None:
    current = days(WEEK, [100, 100], downloads=[7, 9])
    previous = days(WEEK - timedelta(days=7), [100, 100], downloads=[2, 3])
    root = parse(week_chart(current=current, previous=previous, metric="downloads"))
    assert [title_of(bar) for bar in find(root, "rect", "bar")] == [
        "This period, 2024-01-08: 7; Previous period, 2024-01-01: 2",
        "This period, 2024-01-09: 9; Previous period, 2024-01-02: 3",
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
    assert (bars[0].get("data-day"), bars[-1].get("data-day")) == ("2023-01-01", "2023-12-31")
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
    assert title_of(find(root, "rect", "bar")[0]).startswith("A & B, 2024-01-08: 3;")


def test_daily_chart_refuses_periods_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="7 current days against 6 previous days"):
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


# Bar chart

ROWS = [BarRow("example.org", 1_234, 1_000), BarRow("none", 0, 617)]


def rows_chart(rows: list[BarRow], lang: Lang = "en") -> Markup:
    return bar_chart(
        rows,
        title="By calling domain",
        lang=lang,
        id_prefix="by-domain",
        empty_text="Nothing <here> yet.",
        **(FR_LABELS if lang == "fr" else LABELS),
    )


def test_bar_chart_has_a_bar_and_a_ghost_per_row_with_exact_figures() -> None:
    root = parse(rows_chart(ROWS))
    rows = find(root, "g", "row")
    assert [title_of(row) for row in rows] == [
        "example.org — This period: 1,234; Previous period: 1,000",
        "none — This period: 0; Previous period: 617",
    ]
    assert [bar.get("width") for bar in find(root, "rect", "bar")] == [str(BAR_MAX_LENGTH), "0"]
    assert [bar.get("width") for bar in find(root, "rect", "ghost")] == ["157.2", "97"]
    assert [t.text for t in find(root, "text", "value")] == ["1,234", "0"]
    assert [t.text for t in find(root, "text", "label")] == ["example.org", "none"]


def test_bar_chart_writes_french_figures() -> None:
    root = parse(rows_chart(ROWS, "fr"))
    assert title_of(find(root, "g", "row")[0]) == (
        f"example.org — Cette période{NB}: 1{NN}234{NN}; Période précédente{NB}: 1{NN}000"
    )
    assert find(root, "text", "value")[0].text == f"1{NN}234"


def test_bar_chart_summarises_every_row_for_screen_readers() -> None:
    root = parse(rows_chart(ROWS))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "by-domain-title by-domain-desc"
    assert title_of(root) == "By calling domain"
    desc = root.find(f"{{{SVG_NS}}}desc")
    assert desc is not None and desc.get("id") == "by-domain-desc"
    assert desc.text == (
        "example.org — This period: 1,234; Previous period: 1,000. "
        "none — This period: 0; Previous period: 617."
    )


def test_bar_chart_shortens_long_labels_but_titles_them_in_full() -> None:
    label = "a-very-long-subdomain.example.org"
    root = parse(rows_chart([BarRow(label, 1, 0)]))
    assert find(root, "text", "label")[0].text == "a-very-long-subdoma…"
    assert title_of(find(root, "g", "row")[0]).startswith(f"{label} — ")


def test_bar_chart_escapes_labels() -> None:
    chart = rows_chart([BarRow("<script>&", 1, 0)])
    assert "<script>" not in chart
    assert "&lt;script&gt;&amp;" in chart
    root = parse(chart)
    assert find(root, "text", "label")[0].text == "<script>&"
    assert title_of(find(root, "g", "row")[0]) == ("<script>& — This period: 1; Previous period: 0")


def test_bar_chart_of_zeros_draws_empty_bars() -> None:
    root = parse(rows_chart([BarRow("a", 0, 0), BarRow("b", 0, 0)]))
    assert [bar.get("width") for bar in find(root, "rect", "bar")] == ["0", "0"]


def test_bar_chart_uses_no_style_attribute() -> None:
    chart = rows_chart(ROWS)
    assert not has_style(parse(chart))
    assert "style=" not in chart


def test_bar_chart_without_rows_says_so() -> None:
    assert rows_chart([]) == Markup('<p class="chart-empty">Nothing &lt;here&gt; yet.</p>')


# top_rows


def api_calls(figures: Figures) -> Trend:
    return figures.api_calls


def groups(n: int) -> list[Group]:
    # Group i: 100 - i API calls now, i before (they arrive ordered by current figures).
    return [Group(f"domain{i}.example", Figures(api_calls=Trend(100 - i, i))) for i in range(n)]


def test_top_rows_folds_the_rest_into_one_row() -> None:
    rows = top_rows(groups(15), api_calls, others_label="{n} others", lang="en")
    assert rows[:10] == [BarRow(f"domain{i}.example", 100 - i, i) for i in range(10)]
    # Groups 10 to 14: 90 + 89 + 88 + 87 + 86 now, 10 + 11 + 12 + 13 + 14 before.
    assert rows[10:] == [BarRow("5 others", 440, 60)]


def test_top_rows_keeps_a_single_group_past_the_limit() -> None:
    rows = top_rows(groups(11), api_calls, others_label="{n} others", lang="en")
    assert [row.label for row in rows] == [f"domain{i}.example" for i in range(11)]


def test_top_rows_writes_the_number_folded_in_the_language() -> None:
    many = [Group(f"d{i}", Figures(api_calls=Trend(1, 2))) for i in range(1_245)]
    en = top_rows(many, api_calls, 10, others_label="{n} others", lang="en")
    fr = top_rows(many, api_calls, 10, others_label="{n} autres", lang="fr")
    assert (en[-1], fr[-1]) == (
        BarRow("1,235 others", 1_235, 2_470),
        BarRow(f"1{NN}235 autres", 1_235, 2_470),
    )
    assert len(en) == 11


def test_top_rows_of_few_groups_keeps_them_all() -> None:
    assert top_rows(groups(3), api_calls, others_label="{n} others", lang="en") == [
        BarRow("domain0.example", 100, 0),
        BarRow("domain1.example", 99, 1),
        BarRow("domain2.example", 98, 2),
    ]
