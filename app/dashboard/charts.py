"""Dashboard charts as inline SVG built on the server: days against the previous period, top lists.

The pages' CSP (style-src 'self') forbids style attributes: colours and fonts come from classes
that static/charts.css defines, geometry from presentation attributes. Strings are joined
directly, not rendered per bar from a template, so a 365-day chart takes about a millisecond.
Every text that comes from data or from the caller is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from markupsafe import Markup, escape

from app.dashboard.formatting import COLON, SEMICOLON, Lang, count
from app.dashboard.overview import Group
from app.reports import DayFigures, Figures, Trend

Metric = Literal["api_calls", "downloads"]

# Geometry in viewBox units. The SVG takes its container's width (width="100%") and scales text
# with it, so each chart's width is close to the pixels the page gives it: ~540 for a daily
# chart, ~360 for a breakdown, and 11-unit text stays near 11px.
SVG_NS = "http://www.w3.org/2000/svg"
LEGEND_HEIGHT = 28
DAILY_WIDTH = 560
DAILY_HEIGHT = 220
PLOT_LEFT = 60  # room for y tick labels up to "9,000,000"
PLOT_RIGHT = DAILY_WIDTH - 32  # the last x label is centred on its day and must not be clipped
PLOT_BOTTOM = DAILY_HEIGHT - 22  # room for the x labels
BAR_SHARE = 0.8  # of a day's slot; the rest separates neighbouring bars
MAX_TICK_INTERVALS = 4  # so 3 to 5 ticks, 0 included (2 for a maximum of 0 or 1)
DATE_LABEL_WIDTH = 72  # an ISO date at 11px is ~62 units wide, plus a gap
DENSE_SLOT = 4  # narrower days get a thin line through their centres (see _previous_line)
LEGEND_CHAR_WIDTH = 6.5  # average glyph width at 11px: places the second legend entry

BARS_WIDTH = 400
LABEL_RIGHT = 140  # row labels end here, right-aligned against the bars
LABEL_MAX_CHARS = 20  # what fits left of LABEL_RIGHT at 12px; longer labels end with "…"
BAR_LEFT = 146
BAR_MAX_LENGTH = BARS_WIDTH - BAR_LEFT - 60  # room for the figure after the longest bar
ROW_HEIGHT = 28
BAR_THICKNESS = 14
GHOST_THICKNESS = 5  # the previous period sits under the current bar, thinner

# The previous period's mark in the legend: the shape it has in each chart.
DAILY_KEY = '<line class="legend-previous" x1="{x}" y1="13" x2="{x2}" y2="13"/>'
BARS_KEY = '<rect class="legend-previous" x="{x}" y="11" width="16" height="5"/>'


@dataclass(frozen=True)
class BarRow:
    """One row of a horizontal bar chart: a label and its figure in both periods."""

    label: str
    current: int
    previous: int


def daily_chart(
    current: Sequence[DayFigures],
    previous: Sequence[DayFigures],
    metric: Metric,
    *,
    title: str,
    current_label: str,
    previous_label: str,
    lang: Lang,
    id_prefix: str,
) -> Markup:
    """One bar per day of current; previous (same length, day i against day i) as a line.

    current_label and previous_label name the two series ("This period", "Previous period"):
    the legend, each bar's <title> and the <desc> are made of them and of count() in lang.
    """
    if len(previous) != len(current):
        raise ValueError(f"{len(current)} current days against {len(previous)} previous days")
    values, before = _values(current, metric), _values(previous, metric)
    ticks = axis_ticks(max([*values, *before], default=0))
    now, then = str(escape(current_label)), str(escape(previous_label))
    colon, semicolon = COLON[lang], SEMICOLON[lang]
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(values), 1)
    scale = (PLOT_BOTTOM - LEGEND_HEIGHT) / ticks[-1]
    width, inset = _n(slot * BAR_SHARE), slot * (1 - BAR_SHARE) / 2
    # "Total" is spelt the same in English and French.
    desc = _sentence("Total", sum(values), sum(before), now, then, lang) + "."
    parts = [
        _svg_open("chart daily", DAILY_WIDTH, DAILY_HEIGHT, id_prefix, title, desc),
        _legend(PLOT_LEFT, now, then, DAILY_KEY),
        _y_axis(ticks, lang),
    ]
    for i, (day, value) in enumerate(zip(current, values, strict=True)):
        height = value * scale
        iso = day.day.isoformat()
        parts.append(
            f'<rect class="bar" data-day="{iso}" x="{_n(PLOT_LEFT + i * slot + inset)}"'
            f' y="{_n(PLOT_BOTTOM - height)}" width="{width}" height="{_n(height)}">'
            f"<title>{now}, {iso}{colon} {count(value, lang)}{semicolon} "
            f"{then}, {previous[i].day.isoformat()}{colon} {count(before[i], lang)}</title></rect>"
        )
    parts.append(_previous_line(before, slot, scale))  # after the bars, so they never hide it
    parts.append(_x_labels([day.day for day in current], slot))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- built from escaped texts and our own numbers


def bar_chart(
    rows: Sequence[BarRow],
    *,
    title: str,
    current_label: str,
    previous_label: str,
    lang: Lang,
    id_prefix: str,
    empty_text: str,
) -> Markup:
    """Horizontal bars, one row each: the current figure as a bar, the previous one thinner below.

    A row's <title> sits on its <g>, so label, bars and figure all show the full label and exact
    figures; the <desc> lists every row, since role="img" hides those titles from screen readers.
    No rows: a paragraph with empty_text.
    """
    if not rows:
        return Markup(f'<p class="chart-empty">{escape(empty_text)}</p>')  # noqa: S704 -- escaped
    now, then = str(escape(current_label)), str(escape(previous_label))
    peak = max(max(row.current, row.previous) for row in rows)
    scale = BAR_MAX_LENGTH / peak if peak else 0.0
    sentences, body = [], []
    for i, row in enumerate(rows):
        sentence = _sentence(str(escape(row.label)), row.current, row.previous, now, then, lang)
        sentences.append(sentence)
        body.append(_bar_row(row, LEGEND_HEIGHT + i * ROW_HEIGHT, scale, sentence, lang))
    height = LEGEND_HEIGHT + len(rows) * ROW_HEIGHT
    desc = ". ".join(sentences) + "."
    parts = [
        _svg_open("chart bars", BARS_WIDTH, height, id_prefix, title, desc),
        _legend(4, now, then, BARS_KEY),
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))  # noqa: S704 -- built from escaped texts and our own numbers


def top_rows(
    groups: Sequence[Group],
    figure: Callable[[Figures], Trend],
    limit: int = 10,
    *,
    others_label: str,
    lang: Lang,
) -> list[BarRow]:
    """The first limit groups (they arrive ordered) and one row summing the rest.

    others_label is a format string given n, the number of groups folded written with count() in
    lang: "{n} others". A single group past the limit keeps its own row: folding it would only
    hide its name (and "1 others" reads wrong).
    """
    rows = [BarRow(group.key, *figure(group.figures)) for group in groups]
    if len(rows) <= limit + 1:
        return rows
    rest = rows[limit:]
    others = BarRow(
        others_label.format(n=count(len(rest), lang)),
        sum(row.current for row in rest),
        sum(row.previous for row in rest),
    )
    return [*rows[:limit], others]


def axis_ticks(maximum: int) -> list[int]:
    """From 0 by the smallest round step (1, 2 or 5 x 10^k) that reaches maximum in 4 steps.

    37 -> [0, 10, 20, 30, 40]; 0 and 1 -> [0, 1], so an empty chart still has an axis.
    """
    magnitude = 1
    while True:
        for multiple in (1, 2, 5):
            step = multiple * magnitude
            intervals = max(-(-maximum // step), 1)
            if intervals <= MAX_TICK_INTERVALS:
                return [step * k for k in range(intervals + 1)]
        magnitude *= 10


def _values(days: Sequence[DayFigures], metric: Metric) -> list[int]:
    if metric == "api_calls":
        return [day.api_calls for day in days]
    return [day.downloads for day in days]


def _svg_open(classes: str, width: int, height: int, id_prefix: str, title: str, desc: str) -> str:
    """The root element, its title and desc (desc already escaped)."""
    # Both ids in aria-labelledby: screen readers that skip <desc> still read the summary.
    prefix = escape(id_prefix)
    return (
        f'<svg xmlns="{SVG_NS}" class="{classes}" viewBox="0 0 {width} {height}" width="100%"'
        f' role="img" aria-labelledby="{prefix}-title {prefix}-desc">'
        f'<title id="{prefix}-title">{escape(title)}</title><desc id="{prefix}-desc">{desc}</desc>'
    )


def _sentence(label: str, current: int, previous: int, now: str, then: str, lang: Lang) -> str:
    """'example.org — This period: 1,234; Previous period: 1,000' (label and names escaped)."""
    colon = COLON[lang]
    return (
        f"{label} \u2014 {now}{colon} {count(current, lang)}{SEMICOLON[lang]} "
        f"{then}{colon} {count(previous, lang)}"
    )


def _legend(left: int, now: str, then: str, previous_mark: str) -> str:
    # The previous period's mark differs in shape, not only in colour. Its own classes keep the
    # key out of a count of the "bar" and "ghost" elements.
    second = left + 14 + len(now) * LEGEND_CHAR_WIDTH + 24
    mark = previous_mark.format(x=_n(second), x2=_n(second + 16))
    return (
        f'<g class="legend"><rect class="legend-current" x="{left}" y="8" width="10"'
        f' height="10"/><text x="{left + 14}" y="13" dy=".35em">{now}</text>'
        f'{mark}<text x="{_n(second + 20)}" y="13" dy=".35em">{then}</text></g>'
    )


def _y_axis(ticks: list[int], lang: Lang) -> str:
    scale = (PLOT_BOTTOM - LEGEND_HEIGHT) / ticks[-1]
    parts = []
    for tick in ticks:
        y = _n(PLOT_BOTTOM - tick * scale)
        line = "axis" if tick == 0 else "grid"
        parts.append(
            f'<line class="{line}" x1="{PLOT_LEFT}" y1="{y}" x2="{PLOT_RIGHT}" y2="{y}"/>'
            f'<text class="tick tick-y" x="{PLOT_LEFT - 6}" y="{y}" dy=".35em"'
            f' text-anchor="end">{count(tick, lang)}</text>'
        )
    return "".join(parts)


def _previous_line(values: list[int], slot: float, scale: float) -> str:
    # Steps rather than a line through bar centres: each previous day reads flat across the slot
    # of the day it is compared with, and a single day still draws something. Below DENSE_SLOT
    # units a day, the steps' risers would bury the bars: a thin line through the centres then.
    points = []
    if slot >= DENSE_SLOT:
        for i, value in enumerate(values):
            y = _n(PLOT_BOTTOM - value * scale)
            points.append(f"{_n(PLOT_LEFT + i * slot)},{y} {_n(PLOT_LEFT + (i + 1) * slot)},{y}")
        classes = "ghost"
    else:
        for i, value in enumerate(values):
            points.append(f"{_n(PLOT_LEFT + (i + 0.5) * slot)},{_n(PLOT_BOTTOM - value * scale)}")
        classes = "ghost dense"
    return f'<polyline class="{classes}" fill="none" points="{" ".join(points)}"/>'


def _x_labels(days: list[date], slot: float) -> str:
    # Every stride-th day from the first, where a stride holds a label without overlap, and the
    # last day, dropping the label before it when the two would touch.
    if not days:
        return ""
    stride, last = math.ceil(DATE_LABEL_WIDTH / slot), len(days) - 1
    shown = [i for i in range(0, last, stride) if last - i >= stride]
    shown.append(last)
    y = PLOT_BOTTOM + 16
    return "".join(
        f'<text class="tick tick-x" x="{_n(PLOT_LEFT + (i + 0.5) * slot)}" y="{y}"'
        f' text-anchor="middle">{days[i].isoformat()}</text>'
        for i in shown
    )


def _bar_row(row: BarRow, top: int, scale: float, sentence: str, lang: Lang) -> str:
    label = row.label
    if len(label) > LABEL_MAX_CHARS:
        label = label[: LABEL_MAX_CHARS - 1] + "\u2026"  # the <title> keeps the full label
    length = row.current * scale
    middle = _n(top + 3 + BAR_THICKNESS / 2)
    return (
        f'<g class="row"><title>{sentence}</title>'
        f'<text class="label" x="{LABEL_RIGHT}" y="{middle}" dy=".35em" text-anchor="end">'
        f"{escape(label)}</text>"
        f'<rect class="bar" x="{BAR_LEFT}" y="{top + 3}" width="{_n(length)}"'
        f' height="{BAR_THICKNESS}"/>'
        f'<rect class="ghost" x="{BAR_LEFT}" y="{top + 5 + BAR_THICKNESS}"'
        f' width="{_n(row.previous * scale)}" height="{GHOST_THICKNESS}"/>'
        f'<text class="value" x="{_n(BAR_LEFT + length + 6)}" y="{middle}" dy=".35em">'
        f"{count(row.current, lang)}</text></g>"
    )


def _n(value: float) -> str:
    # A tenth of a unit is finer than a pixel at the widths the page uses, and keeps the SVG small.
    return f"{value:.1f}".rstrip("0").rstrip(".")
