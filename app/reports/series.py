"""Usage series: every figure per day, ISO week or month of a period, beside the compared
period's figure at the same positions, from one grouped statement for both periods that reads
each bucket from its fewest summary blocks (a month is one row, not thirty)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.core.intervals import Bucket, Interval, buckets
from app.core.periods import Period
from app.reports.figures import day_totals
from app.reports.rows import NO_FIGURES, TOTAL, Figures, Trend, UsageFilter
from app.reports.sources import read_parts, with_clause
from app.reports.statement import Statement
from app.storage.models.summaries import FIGURE_COLUMNS

_ZEROS = (0,) * len(FIGURE_COLUMNS)


@dataclass(frozen=True)
class BucketFigures:
    bucket: Bucket
    figures: Figures


async def series(
    usage: UsageFilter,
    period: Period,
    interval: Interval,
    *,
    compared: Period | None,
    by_dataset: bool = False,
) -> dict[str, list[BucketFigures]]:
    """Per dataset id (TOTAL without `by_dataset`), the period's buckets with their figures, each
    beside the days at its positions in `compared` (zeros when None); datasets without a
    status-ok row in either period are absent. One statement reads every bucket of both sides."""
    cut = buckets(period, interval, compared)
    parts = [bucket.current for bucket in cut]
    if compared is not None:
        parts += [bucket.previous for bucket in cut]
    found = await _parts(usage, parts, by_dataset)
    return {
        dataset: [
            BucketFigures(bucket, _figures(sums.get(i), sums.get(len(cut) + i)))
            for i, bucket in enumerate(cut)
        ]
        for dataset, sums in found.items()
    }


def empty_series(
    period: Period, interval: Interval, compared: Period | None = None
) -> list[BucketFigures]:
    return [BucketFigures(bucket, NO_FIGURES) for bucket in buckets(period, interval, compared)]


_Sums = dict[str, dict[int, tuple[int, ...]]]  # dataset id -> part index -> the FIGURE_COLUMNS


async def _parts(usage: UsageFilter, parts: list[Period], by_dataset: bool) -> _Sums:
    """The figures of each part, per dataset id (or TOTAL)."""
    sql = Statement()
    source = read_parts(sql, usage, parts, by_dataset=by_dataset)
    if source is None:
        return await _parts_from_days(usage, parts, by_dataset)
    group = ["t.resource_id"] if by_dataset else []
    sums = ", ".join(f"SUM({source.figures[c]}) AS {c}" for c in FIGURE_COLUMNS)
    statement = (
        f"{with_clause(source.ctes)}SELECT {''.join(c + ', ' for c in group)}"  # noqa: S608
        f"{source.part} AS part, {sums} FROM {source.tables} WHERE {source.where} "
        f"GROUP BY {''.join(c + ', ' for c in group)}{source.part}"
    )
    found: _Sums = {}
    for row in await sql.rows(statement):
        dataset = str(row["resource_id"]) if by_dataset else TOTAL
        found.setdefault(dataset, {})[int(row["part"])] = tuple(
            int(row[c] or 0) for c in FIGURE_COLUMNS
        )
    return found


async def _parts_from_days(usage: UsageFilter, parts: list[Period], by_dataset: bool) -> _Sums:
    """usage_daily (no summary has the dimensions): its days, each added to its parts, in one
    statement per run of touching parts (the period and a year before it are two)."""
    where: dict[date, list[int]] = {}  # day -> the parts that hold it
    for index, part in enumerate(parts):
        for day in part.each_day():
            where.setdefault(day, []).append(index)
    found: dict[str, dict[int, list[int]]] = {}
    for run in _runs(parts):
        for dataset, days in (await day_totals(usage, run, by_dataset=by_dataset)).items():
            sums = found.setdefault(dataset, {})
            for day, figures in days.items():
                for index in where[day]:
                    totals = sums.setdefault(index, list(_ZEROS))
                    for i, value in enumerate(figures):
                        totals[i] += value
    return {
        dataset: {index: tuple(totals) for index, totals in sums.items()}
        for dataset, sums in found.items()
    }


def _runs(parts: list[Period]) -> list[Period]:
    """The fewest periods that cover the parts' days and no other day."""
    runs: list[Period] = []
    for part in sorted(parts, key=lambda p: p.start):
        if runs and part.start <= runs[-1].end + timedelta(days=1):
            runs[-1] = Period(runs[-1].start, max(runs[-1].end, part.end))
        else:
            runs.append(part)
    return runs


def _figures(current: tuple[int, ...] | None, previous: tuple[int, ...] | None) -> Figures:
    now, then = current or _ZEROS, previous or _ZEROS
    return Figures(**{c: Trend(now[i], then[i]) for i, c in enumerate(FIGURE_COLUMNS)})
