"""Usage series: every figure per day, ISO week or month of a period, beside the previous
period's figure at the same position, from one grouped statement for both periods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from app.core.intervals import Bucket, Interval, buckets
from app.core.periods import Period
from app.reports.rows import NO_FIGURES, TOTAL, Figures, Trend, UsageFilter
from app.reports.sources import read_usage, with_clause
from app.reports.statement import Statement, as_day
from app.storage.models.summaries import FIGURE_COLUMNS

_DayFigures = Mapping[date, tuple[int, ...]]  # day -> the FIGURE_COLUMNS of that day
_ZEROS = (0,) * len(FIGURE_COLUMNS)


@dataclass(frozen=True)
class BucketFigures:
    bucket: Bucket
    figures: Figures


async def series(
    usage: UsageFilter, period: Period, interval: Interval, *, by_dataset: bool = False
) -> dict[str, list[BucketFigures]]:
    """Per dataset id (TOTAL without `by_dataset`), the period's buckets with their figures;
    datasets without a status-ok row in either period are absent."""
    days = await _days(usage, period, by_dataset)
    cut = buckets(period, interval)
    position = _positions(cut)
    return {dataset: _add_up(cut, position, found) for dataset, found in days.items()}


def empty_series(period: Period, interval: Interval) -> list[BucketFigures]:
    return [BucketFigures(bucket, NO_FIGURES) for bucket in buckets(period, interval)]


async def _days(
    usage: UsageFilter, period: Period, by_dataset: bool
) -> dict[str, dict[date, tuple[int, ...]]]:
    sql = Statement()
    group = ["t.resource_id"] if by_dataset else []
    source = read_usage(sql, usage, period, with_previous=True, by_dataset=by_dataset, by_day=True)
    sums = ", ".join(f"SUM({source.figures[c]}) AS {c}" for c in FIGURE_COLUMNS)
    keys = ", ".join([*group, "t.day"])
    statement = (
        f"{with_clause(source.ctes)}SELECT {keys}, {sums} "  # noqa: S608
        f"FROM {source.tables} WHERE {source.where} GROUP BY {keys}"
    )
    found: dict[str, dict[date, tuple[int, ...]]] = {}
    for row in await sql.rows(statement):
        dataset = str(row["resource_id"]) if by_dataset else TOTAL
        figures = tuple(int(row[c] or 0) for c in FIGURE_COLUMNS)
        found.setdefault(dataset, {})[as_day(row["day"])] = figures
    return found


def _positions(cut: list[Bucket]) -> dict[date, tuple[int, int]]:
    """Each day of both periods -> (its bucket's index, 0 for the current side, 1 for previous)."""
    found = {}
    for index, bucket in enumerate(cut):
        for side, part in enumerate((bucket.current, bucket.previous)):
            for day in part.each_day():
                found[day] = (index, side)
    return found


def _add_up(
    cut: list[Bucket], position: Mapping[date, tuple[int, int]], days: _DayFigures
) -> list[BucketFigures]:
    # One pass over the days that have usage (most have none): a year of weeks for a page of
    # 100 datasets took 250 ms of the event loop when each bucket summed its own days.
    sums: dict[int, list[list[int]]] = {}
    for day, figures in days.items():
        index, side = position[day]
        totals = sums.setdefault(index, [list(_ZEROS), list(_ZEROS)])[side]
        for i, value in enumerate(figures):
            totals[i] += value
    return [
        BucketFigures(bucket, _figures(sums[index]) if index in sums else NO_FIGURES)
        for index, bucket in enumerate(cut)
    ]


def _figures(sides: list[list[int]]) -> Figures:
    current, previous = sides
    return Figures(**{c: Trend(current[i], previous[i]) for i, c in enumerate(FIGURE_COLUMNS)})
