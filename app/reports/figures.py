"""Usage figures and days: one grouped statement per figure set, both periods together."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from app.core.periods import Period
from app.reports.rows import (
    BREAKDOWN_COLUMNS,
    TOTAL,
    DayFigures,
    Figures,
    Trend,
    UsageFilter,
)
from app.reports.sources import Source, named, read_usage, with_clause
from app.reports.statement import Statement
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.sql import BIGINT_MAX, as_day


async def figures(
    usage: UsageFilter, period: Period, *, by_dataset: bool = False, column: str | None = None
) -> dict[tuple[str, str], Figures]:
    """Figures per (dataset id, group) of the period and the previous one, in one statement.

    Without `by_dataset` the dataset id is TOTAL, without `column` the group is TOTAL; groups
    without any status-ok row in either period are absent.
    """
    columns = ("resource_id",) if by_dataset else ()
    found = await grouped(usage, period, (*columns, *((column,) if column else ())))
    return {
        (key[0] if by_dataset else TOTAL, key[-1] if column else TOTAL): value
        for key, value in found.items()
    }


CALLER_COLUMNS = ("user_group", "referer_domain", "referer_category")


async def callers(
    usage: UsageFilter,
    period: Period,
    columns: tuple[str, ...] = CALLER_COLUMNS,
    *,
    against: Period | None,
) -> dict[tuple[str, str], Figures]:
    """Figures per (breakdown column, group) of `columns` (caller columns), both periods: the
    breakdowns of a view from one statement, which reads every caller row of the period once
    (~1 M for a large portal's year: the scan is what a breakdown costs).

    PostgreSQL groups the rows by each column at once (GROUPING SETS), answering each
    breakdown's groups only. SQLite has no grouping sets: its rows are grouped by every column
    together and added up here in integers (an owner's year has ~2 000 callers; building and
    adding Figures for each took most of a page's Python time). The previous sides count
    `against` (a period before `period`), zeros without."""
    sums: dict[tuple[str, str], list[int]] = {}
    flags = [(column, f"by_{column}") for column in columns]
    # A whole portal's year is ~10⁵ groups: the loop does the least per row (the sums come
    # as integers: bigints on PostgreSQL, integers on SQLite).
    rows = await _grouped_rows(usage, period, columns, each_column=True, against=against)
    for row in rows:
        values = [row[side] or 0 for side in SIDE_BY_SIDE]
        for column, flag in flags:
            if row.get(flag, 1) == 0:  # the row of another column's grouping set
                continue
            key = (column, str(row[column]))
            totals = sums.get(key)
            if totals is None:
                sums[key] = values.copy()
            else:
                for i, value in enumerate(values):
                    totals[i] += value
    return {key: _both(totals) for key, totals in sums.items() if any(totals)}


# One name per side of a figure, in this order: <figure>_1 the period's, <figure>_0 the
# compared period's. Every grouped statement returns both sides of a group in one row.
SIDES = (1, 0)
SIDE_BY_SIDE = tuple(f"{f}_{side}" for f in FIGURE_COLUMNS for side in SIDES)
assert len(FIGURE_COLUMNS) == 4  # _both names each
_tuple = tuple.__new__  # a Trend without NamedTuple's Python-level __new__: ~2× faster


def both_sides(sql: Statement, source: Source) -> str:
    """The SELECT list of SIDE_BY_SIDE: each figure's sums over the period's rows and over the
    compared period's, side by side (FILTER on the source's part)."""
    return ", ".join(
        f"{capped_sum(sql, source.figures[f], f'{source.part} = {side}')} AS {f}_{side}"
        for f in FIGURE_COLUMNS
        for side in SIDES
    )


def side_by_side(row: Mapping[str, Any]) -> Figures:
    """The Figures of a row that selected both_sides()."""
    return _both([row[side] or 0 for side in SIDE_BY_SIDE])


def _both(sums: list[int]) -> Figures:
    """Figures of sums in SIDE_BY_SIDE's order."""
    return Figures(
        _tuple(Trend, (sums[0], sums[1])),
        _tuple(Trend, (sums[2], sums[3])),
        _tuple(Trend, (sums[4], sums[5])),
        _tuple(Trend, (sums[6], sums[7])),
    )


async def grouped(
    usage: UsageFilter, period: Period, columns: tuple[str, ...]
) -> dict[tuple[str, ...], Figures]:
    """Figures per value of `columns` (resource_id and breakdown columns), both periods."""
    found: dict[tuple[str, ...], Figures] = {}
    for row in await _grouped_rows(usage, period, columns, against=period.previous()):
        figures = side_by_side(row)
        if any(
            any(trend)
            for trend in (
                figures.api_calls,
                figures.downloads,
                figures.downloaded_bytes,
                figures.app_opens,
            )
        ):
            found[tuple(str(row[c]) for c in columns)] = figures
    return found


async def _grouped_rows(
    usage: UsageFilter,
    period: Period,
    columns: tuple[str, ...],
    *,
    against: Period | None,
    each_column: bool = False,
) -> list[dict[str, Any]]:
    """Each value of `columns` with both_sides() (the period's, and `against`'s: a period
    before `period`; zeros without); with `each_column` on PostgreSQL, per value of each
    column apart, `by_<column>` saying which (1 on the rows grouped by that column)."""
    unknown = [c for c in columns if c != "resource_id" and c not in BREAKDOWN_COLUMNS]
    if unknown:
        raise ValueError(f"{unknown} are not breakdown columns")
    by_dataset = "resource_id" in columns
    breakdown = next((c for c in columns if c != "resource_id"), None)
    sql = Statement()
    source = read_usage(
        sql,
        usage,
        period,
        with_previous=against is not None,
        by_dataset=by_dataset,
        column=breakdown,
        against=against,
    )
    group = [source.key(c) for c in columns]
    sums = [both_sides(sql, source)]
    grouping = ", ".join(group)
    if each_column and sql.postgres and len(group) > 1:
        sums += [f"1 - GROUPING({key}) AS by_{c}" for key, c in zip(group, columns, strict=True)]
        grouping = "GROUPING SETS (" + ", ".join(f"({g})" for g in group) + ")"
    keys = "".join(f"{source.selected(c)}, " for c in columns)
    # GROUP BY () would be one row even without any: the total's statement groups by nothing.
    by = f" GROUP BY {grouping}" if grouping else ""
    statement = (
        f"SELECT {keys}{', '.join(sums)} "  # noqa: S608
        f"FROM {source.tables} WHERE {source.where}{by}"
    )
    return await sql.rows(f"{with_clause(source.ctes)}{named(source, statement, columns)}")


def capped_sum(sql: Statement, value: str, where: str | None = None) -> str:
    """SUM of a figure (of the rows `where` holds). PostgreSQL's SUM of bigints is a numeric,
    which its driver decodes ~5× slower than a bigint (a whole portal's year of callers is ~10⁵
    groups): capped at the columns' ceiling and cast back, as the stored sums saturate
    (docs/storage.md)."""
    summed = f"SUM({value})"
    if where is not None:  # no row: 0 (LEAST(NULL, n) would be n)
        summed = f"COALESCE(SUM({value}) FILTER (WHERE {where}), 0)"
    return f"LEAST({summed}, {BIGINT_MAX})::bigint" if sql.postgres else summed


DayTotals = dict[str, dict[date, tuple[int, ...]]]  # dataset id -> day -> the FIGURE_COLUMNS

_API_CALLS, _DOWNLOADS = FIGURE_COLUMNS.index("api_calls"), FIGURE_COLUMNS.index("downloads")


async def daily(
    usage: UsageFilter, period: Period, *, by_dataset: bool = False
) -> dict[str, list[DayFigures]]:
    """API calls and downloads of every day of the period, zeros included, per dataset id."""
    return {
        dataset: [
            DayFigures(day, sums[_API_CALLS], sums[_DOWNLOADS])
            if (sums := days.get(day)) is not None
            else DayFigures(day, 0, 0)
            for day in period.each_day()
        ]
        for dataset, days in (await day_totals(usage, period, by_dataset=by_dataset)).items()
    }


async def day_totals(usage: UsageFilter, period: Period, *, by_dataset: bool) -> DayTotals:
    """Every figure of each day of the period that has a status-ok row, per dataset id (TOTAL
    without `by_dataset`), in one statement grouped by day."""
    sql = Statement()
    group = ["t.resource_id"] if by_dataset else []
    source = read_usage(sql, usage, period, by_dataset=by_dataset, by_day=True)
    sums = ", ".join(f"SUM({source.figures[c]}) AS {c}" for c in FIGURE_COLUMNS)
    keys = ", ".join([*group, "t.day"])
    statement = (
        f"{with_clause(source.ctes)}SELECT {keys}, {sums} "  # noqa: S608
        f"FROM {source.tables} WHERE {source.where} GROUP BY {keys}"
    )
    found: DayTotals = {}
    for row in await sql.rows(statement):
        dataset = str(row["resource_id"]) if by_dataset else TOTAL
        figures = tuple(int(row[c] or 0) for c in FIGURE_COLUMNS)
        found.setdefault(dataset, {})[as_day(row["day"])] = figures
    return found


def zero_days(period: Period) -> list[DayFigures]:
    return [DayFigures(day, 0, 0) for day in period.each_day()]
