"""Usage figures and days: one grouped statement per figure set, both periods together."""

from __future__ import annotations

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
from app.reports.sources import named, read_usage, with_clause
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
    width = len(FIGURE_COLUMNS)
    sums: dict[tuple[str, str], list[int]] = {}
    flags = [(column, f"by_{column}") for column in columns]
    # A whole portal's year is ~10⁵ groups (~2 × 10⁵ rows): the loop does the least per row
    # (the sums come as integers: bigints on PostgreSQL, integers on SQLite).
    rows = await _grouped_rows(usage, period, columns, each_column=True, against=against)
    for row in rows:
        offset = 0 if row["is_current"] else width
        values = [row[c] or 0 for c in FIGURE_COLUMNS]
        for column, flag in flags:
            if row.get(flag, 1) == 0:  # the row of another column's grouping set
                continue
            key = (column, str(row[column]))
            totals = sums.get(key)
            if totals is None:
                totals = sums[key] = [0] * (2 * width)
            for i, value in enumerate(values, offset):
                totals[i] += value
    return {key: _both(totals) for key, totals in sums.items() if any(totals)}


assert len(FIGURE_COLUMNS) == 4  # _both names each
_tuple = tuple.__new__  # a Trend without NamedTuple's Python-level __new__: ~2× faster


def _both(totals: list[int]) -> Figures:
    """Figures of the current sums (the first four) against the previous ones (the last four)."""
    return Figures(
        _tuple(Trend, (totals[0], totals[4])),
        _tuple(Trend, (totals[1], totals[5])),
        _tuple(Trend, (totals[2], totals[6])),
        _tuple(Trend, (totals[3], totals[7])),
    )


async def grouped(
    usage: UsageFilter, period: Period, columns: tuple[str, ...]
) -> dict[tuple[str, ...], Figures]:
    """Figures per value of `columns` (resource_id and breakdown columns), both periods."""
    sides: dict[tuple[str, ...], dict[int, dict[str, Any]]] = {}
    for row in await _grouped_rows(usage, period, columns, against=period.previous()):
        key = tuple(str(row[c]) for c in columns)
        sides.setdefault(key, {})[int(row["is_current"])] = row
    found: dict[tuple[str, ...], Figures] = {}
    for key, side in sides.items():
        trends = {
            alias: Trend(_figure(side.get(1), alias), _figure(side.get(0), alias))
            for alias in FIGURE_COLUMNS
        }
        if any(any(trend) for trend in trends.values()):
            found[key] = Figures(**trends)
    return found


async def _grouped_rows(
    usage: UsageFilter,
    period: Period,
    columns: tuple[str, ...],
    *,
    against: Period | None,
    each_column: bool = False,
) -> list[dict[str, Any]]:
    """The sums of each figure per value of `columns` and period (is_current 1, or 0 for
    `against`: a period before `period`); with `each_column` on PostgreSQL, per value of each
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
    # Grouped by period too, rather than one CASE per figure and period: half the sums, and
    # no comparison of days per row.
    sums = [f"{capped_sum(sql, source.figures[alias])} AS {alias}" for alias in FIGURE_COLUMNS]
    grouping = ", ".join([*group, source.part])
    if each_column and sql.postgres and len(group) > 1:
        sums += [f"1 - GROUPING({key}) AS by_{c}" for key, c in zip(group, columns, strict=True)]
        grouping = "GROUPING SETS (" + ", ".join(f"({g}, {source.part})" for g in group) + ")"
    keys = "".join(f"{source.selected(c)}, " for c in columns)
    statement = (
        f"SELECT {keys}{source.part} AS is_current, {', '.join(sums)} "  # noqa: S608
        f"FROM {source.tables} WHERE {source.where} GROUP BY {grouping}"
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


def _figure(row: dict[str, Any] | None, alias: str) -> int:
    return int(row[alias] or 0) if row is not None else 0


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
