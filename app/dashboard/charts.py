"""Dashboard charts as inline SVG built on the server: days, weeks or months against the compared
period, and the key figures' sparklines. The bar of the interval that holds today is hatched: its
figures still grow (docs/dashboard.md).

The pages' CSP (style-src 'self') forbids style attributes: colours and fonts come from classes
that static/charts.css defines, geometry from presentation attributes. Strings are joined
directly, not rendered per bar from a template, so a 365-day chart takes about a millisecond.
Every text that comes from data or from the caller is escaped here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal

from markupsafe import Markup, escape

from app.core.intervals import Interval
from app.core.periods import Period
from app.dashboard.formatting import COLON, SEMICOLON, Lang, count
from app.reports import BucketFigures

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

SPARK_WIDTH = 120
SPARK_HEIGHT = 28
# A point every two units of its width, finer than a card shows: a year by day drew 365 points
# in 120 units (~4 KB a card).
SPARK_POINTS = SPARK_WIDTH // 2

# The previous period's mark in the legend: the shape it has in each chart.
DAILY_KEY = '<line class="legend-previous" x1="{x}" y1="13" x2="{x2}" y2="13"/>'


def daily_chart(
    grouped: Sequence[BucketFigures],
    metric: Metric,
    *,
    title: str,
    current_label: str,
    previous_label: str | None,
    lang: Lang,
    id_prefix: str,
    interval: Interval = Interval.DAY,
    today: date | None = None,
) -> Markup:
    """One bar per day, week or month of the period; the compared days at the same positions
    as a line, left out when previous_label is None (no comparison).

    The bars are geometry only: every interval's days and figures are in the table the page
    puts under the chart, once, which the crosshair of static/dashboard.js reads, row i for bar
    i (a year by day draws 366 bars in ~30 KB). The bar whose interval holds `today` is
    partial: `data-partial`, hatched.
    """
    values = [_value(bucket, metric) for bucket in grouped]
    before = [_value(bucket, metric, previous=True) for bucket in grouped]
    compared = previous_label is not None
    ticks = axis_ticks(max([*values, *(before if compared else [])], default=0))
    now = str(escape(current_label))
    then = str(escape(previous_label)) if previous_label is not None else ""
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(len(values), 1)
    scale = (PLOT_BOTTOM - LEGEND_HEIGHT) / ticks[-1]
    width, inset = _n(slot * BAR_SHARE), slot * (1 - BAR_SHARE) / 2
    # "Total" is spelt the same in English and French.
    desc = (
        _sentence("Total", sum(values), sum(before), now, then, lang)
        if compared
        else f"Total — {now}{COLON[lang]} {count(sum(values), lang)}"
    ) + "."
    # The interval that holds today: its figures still grow.
    partial = next((i for i, b in enumerate(grouped) if holds(b.bucket.current, today)), None)
    hatch = f"{escape(id_prefix)}-partial"
    parts = [
        _svg_open("chart daily", DAILY_WIDTH, DAILY_HEIGHT, id_prefix, title, desc),
        _hatch_pattern(hatch) if partial is not None else "",
        _legend(PLOT_LEFT, now, then, DAILY_KEY) if compared else _legend(PLOT_LEFT, now),
        _y_axis(ticks, lang),
    ]
    for i, value in enumerate(values):
        box = (
            f' x="{_n(PLOT_LEFT + i * slot + inset)}" y="{_n(PLOT_BOTTOM - value * scale)}"'
            f' width="{width}" height="{_n(value * scale)}"'
        )
        mark = ' data-partial="true"' if i == partial else ""
        parts.append(f'<rect class="bar"{mark}{box}/>')
        if i == partial:  # the hatch over the bar: its fill is the pattern, not a class's colour
            parts.append(f'<rect class="hatch" fill="url(#{hatch})" pointer-events="none"{box}/>')
    if compared:  # after the bars, so they never hide it
        parts.append(_previous_line(before, slot, scale))
    parts.append(_x_labels([b.bucket.current.start for b in grouped], slot, interval))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- built from escaped texts and our own numbers


def holds(part: Period, day: date | None) -> bool:
    """Whether `part` holds `day` (None: no day is today)."""
    return day is not None and part.start <= day <= part.end


def _hatch_pattern(pattern_id: str) -> str:
    # Diagonal lines in the bar's colour (static/charts.css): a partial bar differs from the
    # others in texture, not only in colour.
    return (
        f'<defs><pattern id="{pattern_id}" patternUnits="userSpaceOnUse" width="5" height="5"'
        ' patternTransform="rotate(45)"><line class="hatch-line" x1="1" y1="0" x2="1" y2="5"/>'
        "</pattern></defs>"
    )


def sparkline(values: Sequence[int], *, label: str) -> Markup:
    """A card's trend: the current period's values as a line, no axis (the card has figures).
    At most SPARK_POINTS points: past them, each point is the mean of its share of the values."""
    if len(values) < 2:
        return Markup("")
    drawn = _thinned(values, SPARK_POINTS)
    peak = max(drawn) or 1
    step = SPARK_WIDTH / (len(drawn) - 1)
    points = " ".join(
        f"{_n(i * step)},{_n(SPARK_HEIGHT - 1 - value * (SPARK_HEIGHT - 2) / peak)}"
        for i, value in enumerate(drawn)
    )
    return Markup(  # noqa: S704 -- our own numbers and an escaped label
        f'<svg xmlns="{SVG_NS}" class="spark" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}"'
        f' preserveAspectRatio="none" role="img" aria-label="{escape(label)}">'
        f'<polyline fill="none" points="{points}"/></svg>'
    )


def _thinned(values: Sequence[int], most: int) -> Sequence[float]:
    """`values` in at most `most` consecutive groups, each its mean (the groups' sizes differ by
    one at most, so the line keeps its shape)."""
    if len(values) <= most:
        return values
    bounds = [len(values) * i // most for i in range(most + 1)]
    return [sum(values[a:b]) / (b - a) for a, b in itertools.pairwise(bounds)]


def _value(bucket: BucketFigures, metric: Metric, previous: bool = False) -> int:
    trend = getattr(bucket.figures, metric)
    return int(trend.previous if previous else trend.current)


def when(start: date, end: date, interval: Interval) -> str:
    """A bar's days as the tooltip names them: a day, "2024-01-08 – 2024-01-14", "2024-01"."""
    if interval is Interval.MONTH and start.day == 1 and (end + timedelta(days=1)).day == 1:
        return start.isoformat()[:7]
    if start == end:
        return start.isoformat()
    return f"{start.isoformat()} – {end.isoformat()}"


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


def _legend(left: int, now: str, then: str = "", previous_mark: str = "") -> str:
    # The previous period's mark differs in shape, not only in colour. Its own classes keep the
    # key out of a count of the "bar" and "ghost" elements.
    if not then:
        return (
            f'<g class="legend"><rect class="legend-current" x="{left}" y="8" width="10"'
            f' height="10"/><text x="{left + 14}" y="13" dy=".35em">{now}</text></g>'
        )
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


def _x_labels(days: list[date], slot: float, interval: Interval) -> str:
    # Every stride-th day from the first, where a stride holds a label without overlap, and the
    # last day, dropping the label before it when the two would touch.
    if not days:
        return ""
    stride, last = math.ceil(DATE_LABEL_WIDTH / slot), len(days) - 1
    shown = [i for i in range(0, last, stride) if last - i >= stride]
    shown.append(last)
    y = PLOT_BOTTOM + 16
    # Every second label counted from the last is "wide": a phone's larger text hides it
    # (static/charts.css), so the labels it keeps never overlap.
    return "".join(
        f'<text class="tick tick-x{" wide" if (len(shown) - 1 - k) % 2 else ""}"'
        f' x="{_n(PLOT_LEFT + (i + 0.5) * slot)}" y="{y}"'
        f' text-anchor="middle">{_tick(days[i], interval)}</text>'
        for k, i in enumerate(shown)
    )


def _tick(day: date, interval: Interval) -> str:
    return day.isoformat()[:7] if interval is Interval.MONTH else day.isoformat()


def _n(value: float) -> str:
    # A tenth of a unit is finer than a pixel at the widths the page uses, and keeps the SVG small.
    return f"{value:.1f}".rstrip("0").rstrip(".")
