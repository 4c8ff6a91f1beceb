"""Breakdowns ranked: the first groups of each, how many there are and their total, so that
what a page reads is bounded whatever the number of groups (a whole portal's year has ~10⁵
calling domains, a page shows ten)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from app.core.hosts import RESERVED_DOMAINS
from app.core.periods import Period
from app.reports import live_ranking
from app.reports.figures import CALLER_COLUMNS, callers, capped_sum
from app.reports.live_ranking import SIDES, USE, USED
from app.reports.rows import NO_FIGURES, Figures, Group, Ranking, Trend, UsageFilter
from app.reports.sources import Source, named, read_usage, with_clause
from app.reports.statement import Statement
from app.storage.kept_answers import closed_part
from app.storage.models.summaries import FIGURE_COLUMNS

_DOMAIN = "referer_domain"
_DAY = timedelta(days=1)


def _order(group: Group) -> tuple[int, str]:
    figures = group.figures
    return -(figures.api_calls.current + figures.downloads.current), group.key


def _used(figures: Figures) -> bool:
    return any(figures.api_calls) or any(figures.downloads)


def _added(figures: Iterable[Figures]) -> Figures:
    """Figures added up, side by side."""
    sums = [0] * 8
    for one in figures:
        for i, value in enumerate(
            (*one.api_calls, *one.downloads, *one.downloaded_bytes, *one.app_opens)
        ):
            sums[i] += value
    return Figures(*(Trend(sums[i], sums[i + 1]) for i in range(0, 8, 2)))


def rank(groups: Mapping[str, Figures], column: str, upto: int | None) -> Ranking:
    """The ranking of a breakdown's groups read in full (SQLite, a dataset's breakdowns)."""
    used = [Group(key, figures) for key, figures in groups.items() if _used(figures)]
    if upto is not None and upto < len(used):
        top = heapq.nsmallest(upto, used, key=_order)
    else:
        top = sorted(used, key=_order)
    stand_ins = sum(g.key in RESERVED_DOMAINS for g in used) if column == _DOMAIN else 0
    return Ranking(top, len(used), _added(groups.values()), stand_ins)


async def ranked_callers(
    usage: UsageFilter,
    period: Period,
    columns: Sequence[str] = CALLER_COLUMNS,
    upto: int | None = None,
    *,
    against: Period | None,
) -> dict[str, Ranking]:
    """Each breakdown of `columns` (caller columns) ranked, its first `upto` groups (every
    group without `upto`); the previous sides count `against` (a period before `period`: the
    previous one, a year before), zeros without.

    PostgreSQL ranks in the statement: it groups the caller rows by each column at once, both
    periods side by side in each group, ranks each column's groups and names and returns the
    first `upto` of each (with those tied at the last place, ordered here by key), its count
    and its total. SQLite reads every group (a small portal's) and ranks them here."""
    columns = tuple(columns)
    sql = Statement()
    if not sql.postgres or upto is None:
        found = await callers(usage, period, columns, against=against)
        return {
            column: rank(
                {key: figures for (of, key), figures in found.items() if of == column},
                column,
                upto,
            )
            for column in columns
        }
    first = period.start if against is None else against.start
    closed = closed_part(period, first)
    if closed is not None:
        live = await _ranked_live(usage, (first, closed), period, against, columns, upto)
        if live is not None:
            return _rankings(live, columns, upto)
    source = read_usage(
        sql, usage, period, with_previous=against is not None, column=columns[0], against=against
    )
    # A whole portal's year is ~10^6 caller rows to add up: its ranking is kept for the days read.
    statement = _ranked(sql, source, columns, upto, _grouped(sql, source, columns))
    rows = await sql.kept_rows(f"{with_clause(source.ctes)}{statement}", first, period.end)
    return _rankings(rows, columns, upto)


async def _ranked_live(
    usage: UsageFilter,
    kept_days: tuple[date, Period],
    period: Period,
    against: Period | None,
    columns: tuple[str, ...],
    upto: int,
) -> list[dict[str, Any]] | None:
    """The ranking of a period that ends today: the sums of every group of its closed days (and
    of the compared period), kept until a write reaches those days, added to the groups of its
    live days in one statement (docs/storage.md#periods-that-end-today). None when the sums
    cannot be kept or a write deleted them meanwhile: read the period as a whole.
    `kept_days`: the first day the sums read (the compared period's, if earlier) and the
    period's closed days."""
    first, closed = kept_days
    kept = Statement()
    source = read_usage(
        kept, usage, closed, with_previous=against is not None, column=columns[0], against=against
    )
    if any(c not in source.ids for c in columns):
        return None  # usage_daily's text values: a filter on datasets too, rare; read as a whole
    grouped = live_ranking.keeping(_grouped(kept, source, columns), columns)
    into = (live_ranking.SUMS_TABLE, live_ranking.kept_columns(columns))
    answer = await kept.kept_sums(into, f"{with_clause(source.ctes)}{grouped}", first, closed.end)
    if answer is None:
        return None
    sql = Statement()
    source = read_usage(sql, usage, Period(closed.end + _DAY, period.end), column=columns[0])
    live = _grouped(sql, source, columns)
    reserved = _reserved(sql, source) if _DOMAIN in columns else None
    statement = live_ranking.ranked(sql, source, columns, max(upto, 1), answer, live, reserved)
    return await sql.rows_if_kept(statement)


def _grouped(sql: Statement, source: Source, columns: tuple[str, ...]) -> str:
    """Every group of each column's breakdown and the total, both periods side by side."""
    keys = [source.key(c) for c in columns]
    sums = ", ".join(
        f"{capped_sum(sql, source.figures[f], f'{source.part} = {side}')} AS {f}_{side}"
        for f in FIGURE_COLUMNS
        for side in SIDES
    )
    # GROUPING(...) tells the grouping sets apart: all bits set but the column's (the total's
    # row, grouped by none, has them all). Each set's groups come with both periods in one row
    # (FILTER), so that they can be ranked.
    return (
        f"SELECT {', '.join(source.selected(c) for c in columns)}, "  # noqa: S608
        f"GROUPING({', '.join(keys)}) AS grouping_set, {sums} "
        f"FROM {source.tables} WHERE {source.where} "
        f"GROUP BY GROUPING SETS ({', '.join(f'({key})' for key in keys)}, ())"
    )


def _ranked(
    sql: Statement, source: Source, columns: tuple[str, ...], upto: int, grouped: str
) -> str:
    """The first `upto` groups of each breakdown of `grouped` (_grouped()'s rows), named,
    with each breakdown's count of groups and the total's row."""
    everything = live_ranking.total_set(columns)
    stand_ins = _stand_ins(sql, source, columns)
    # Not a window over every group (it sorts them all: ~10^5 for a whole portal's year): each
    # set's count of groups and its `upto`-th largest use (a top-N sort, bounded), then the
    # groups of at least that use: those that rank() would place within the first `upto`,
    # ties included. The total's row is a set of its own, alone.
    ranked = (
        f"WITH g AS MATERIALIZED (SELECT g.*, {USE} AS use FROM ({grouped}) AS g "  # noqa: S608
        f"WHERE {USED} OR grouping_set = {everything}), "
        "s AS (SELECT grouping_set, count(*) AS groups FROM g GROUP BY grouping_set), "
        "l AS (SELECT s.grouping_set, s.groups, x.use AS least_use FROM s LEFT JOIN LATERAL "
        "(SELECT use FROM g WHERE g.grouping_set = s.grouping_set ORDER BY use DESC "
        f"OFFSET {max(int(upto), 1) - 1} LIMIT 1) AS x ON TRUE) "
        # Set by set (a scan of the groups each), not a hash of every group (OFFSET 0: the
        # planner would flatten it into one, misled by its estimate of the groups).
        "SELECT r.*, l.groups FROM l CROSS JOIN LATERAL (SELECT * FROM g AS r "
        "WHERE r.grouping_set = l.grouping_set "
        f"AND (l.least_use IS NULL OR r.use >= l.least_use{stand_ins}) OFFSET 0) AS r"
    )
    return named(source, ranked, columns, few=True)


def _stand_ins(sql: Statement, source: Source, columns: tuple[str, ...]) -> str:
    """The reserved domains are returned wherever they rank: the dashboard counts the named
    domains apart (at most four rows more)."""
    if _DOMAIN not in columns:
        return ""
    if _DOMAIN not in source.ids:
        return f" OR r.{_DOMAIN} IN ({sql.bind_all(sorted(RESERVED_DOMAINS))})"
    return f" OR r.{_DOMAIN}_id IN ({_reserved(sql, source)})"


def _reserved(sql: Statement, source: Source) -> str:
    """The ids of the reserved domains, in a source that holds domains as ids."""
    dimension = source.ids[_DOMAIN]
    reserved = sql.bind_all(sorted(RESERVED_DOMAINS))
    return f"SELECT id FROM {dimension.table} WHERE {dimension.values[0]} IN ({reserved})"  # noqa: S608


def _rankings(
    rows: list[dict[str, Any]], columns: tuple[str, ...], upto: int
) -> dict[str, Ranking]:
    everything = live_ranking.total_set(columns)
    sets = dict(zip(live_ranking.column_sets(columns), columns, strict=True))
    total = NO_FIGURES
    groups: dict[str, list[Group]] = {c: [] for c in columns}
    counts = dict.fromkeys(columns, 0)
    for row in rows:
        figures = Figures(*(Trend(row[f"{f}_1"] or 0, row[f"{f}_0"] or 0) for f in FIGURE_COLUMNS))
        grouping_set = row["grouping_set"]
        if grouping_set == everything:
            total = figures
            continue
        column = sets[grouping_set]
        counts[column] = row["groups"]
        groups[column].append(Group(str(row[column]), figures))
    rankings = {}
    for column, found in groups.items():
        found.sort(key=_order)
        stand_ins = sum(g.key in RESERVED_DOMAINS for g in found) if column == _DOMAIN else 0
        rankings[column] = Ranking(found[:upto], counts[column], total, stand_ins)
    return rankings
