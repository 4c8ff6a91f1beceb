"""Datasets: count, one page (by title or by usage in a period), and rows by id, each with its
owner's name (joined: no statement more)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from app.core.periods import Period
from app.core.records import Owner, OwnerFilter
from app.core.titles import fold
from app.reports.owners import OWNER_NAME_JOIN
from app.reports.rows import DATASETS, DatasetOrder, DatasetRow, UsageFilter
from app.reports.sources import Source, owner_clauses, read_usage, with_clause
from app.reports.statement import Statement
from app.storage.kept_answers import closed_part

# The folded title (app/core/titles.py), else the id: accents and case ignored. Compared byte
# by byte on both databases ("C" on PostgreSQL), so that they order alike; then the title
# itself ("Ecole" before "école") and the id, so that the order is total.
_TITLE_KEY = "COALESCE(r.title_folded, LOWER(r.resource_id))"
_BYTES = ' COLLATE "C"'
_COLUMNS = "r.resource_id, r.title, r.owner_type, r.owner_id, o.name AS owner_name"
_KEPT_AT_LEAST = 100  # datasets a kept ranking holds, at least (a dashboard page is 20)
_SUMS = ("kept_dataset_sums", ("resource_id", "n"))


async def count_datasets(
    owner: OwnerFilter, search: str | None, ids: Sequence[str] | None = None
) -> int:
    sql = Statement()
    statement = f"SELECT COUNT(*) AS n FROM resources r WHERE {_in_scope(sql, owner, search, ids)}"  # noqa: S608
    rows = await sql.rows(statement)
    return int(rows[0]["n"])


async def datasets_page(
    owner: OwnerFilter,
    search: str | None,
    order: DatasetOrder,
    period: Period | None,
    offset: int,
    limit: int,
    *,
    ranked_by: UsageFilter | None = None,
    descending: bool | None = None,
) -> list[DatasetRow]:
    """One page of datasets; ties (and TITLE) ordered by title, then id, so pages never overlap.

    `ranked_by`: the usage that orders them (default: all of the owner's), and with dataset ids,
    the only datasets listed. `descending`: None orders TITLE ascending, usage most-used first.
    """
    if descending is None:
        descending = order is not DatasetOrder.TITLE
    sql = Statement()
    usage = ranked_by or UsageFilter(owner=owner)
    ids = usage.dataset_ids
    ranking, join = "", ""
    order_by = _by_title(sql, descending=descending and order is DatasetOrder.TITLE)
    if order is not DatasetOrder.TITLE:
        if period is None:
            raise ValueError("ordering datasets by usage needs a period")
        column = "api_calls" if order is DatasetOrder.API_CALLS else "downloads"
        # A search keeps few of the most used in scope: ranked at once rather than twice.
        if sql.postgres and descending and not search:
            page = await _most_used_page(owner, usage, column, period, offset, limit)
            if page is not None:
                return page
        source = read_usage(sql, usage, period, by_dataset=True)
        ranking = with_clause((*source.ctes, _usage_per_dataset(source, column)))
        join = " LEFT JOIN u ON u.resource_id = r.resource_id"
        order_by = f"COALESCE(u.n, 0) {'DESC' if descending else 'ASC'}, " + order_by
    statement = (
        f"{ranking}SELECT {_COLUMNS} FROM resources r{join}{OWNER_NAME_JOIN} "  # noqa: S608
        f"WHERE {_in_scope(sql, owner, search, ids)} "
        f"ORDER BY {order_by} LIMIT {sql.bind(limit)} OFFSET {sql.bind(offset)}"
    )
    rows = await sql.rows(statement)
    return [_dataset(row) for row in rows]


def _usage_per_dataset(source: Source, column: str) -> str:
    """The CTE `u`: each dataset's sum of `column` (resource_id, n).

    MATERIALIZED: aggregated once, even when the planner's statistics are stale (after a bulk
    import, PostgreSQL re-aggregated it for every dataset: seconds instead of ms)."""
    return f"u AS MATERIALIZED ({_sums(source, column)})"


def _sums(source: Source, column: str) -> str:
    return (
        f"SELECT t.resource_id, SUM({source.figures[column]}) AS n "  # noqa: S608
        f"FROM {source.tables} WHERE {source.where} GROUP BY t.resource_id"
    )


def _top(sql: Statement, kept: int, extra: str = "") -> str:
    """The datasets of `u` whose sum ranks within the first `kept` (ties included), with the
    count of `u`'s datasets."""
    # Those whose sum is at least the `kept`-th largest (a top-N sort, bounded), rather than a
    # window's sort of every dataset: the same datasets rank() would place within `kept`.
    # Sums are never negative: fewer than `kept` datasets, all of them.
    return (
        f"SELECT resource_id, n, (SELECT count(*) FROM u) AS counted{extra} FROM u "  # noqa: S608
        f"WHERE n >= COALESCE((SELECT n FROM u ORDER BY n DESC OFFSET {sql.bind(kept - 1)} "
        "LIMIT 1), 0)"
    )


async def _live_top(
    usage: UsageFilter, column: str, period: Period, kept: int
) -> list[dict[str, Any]] | None:
    """_most_used_page's top of a period that ends today: each dataset's sum over the closed
    days, kept until a write reaches them, added to its sum over the live days in one
    statement (docs/storage.md#periods-that-end-today). None when the period does not end
    today, or its sums cannot be kept or were deleted meanwhile."""
    closed = closed_part(period, period.start)
    if closed is None:
        return None
    sums = Statement()
    source = read_usage(sums, usage, closed, by_dataset=True)
    grouped = f"{with_clause(source.ctes)}{_sums(source, column)}"
    answer = await sums.kept_sums(_SUMS, grouped, closed.start, closed.end)
    if answer is None:
        return None
    sql = Statement()
    live = Period(closed.end + timedelta(days=1), period.end)
    source = read_usage(sql, usage, live, by_dataset=True)
    # Each kept dataset beside its sum of the live days, if any: a join on the few.
    added = (
        "u AS MATERIALIZED (SELECT COALESCE(k.resource_id, l.resource_id) AS resource_id, "  # noqa: S608
        "COALESCE(k.n, 0) + COALESCE(l.n, 0) AS n FROM (SELECT resource_id, n "
        f"FROM {_SUMS[0]} WHERE answer_id = {sql.bind(answer)}) AS k "
        f"FULL JOIN ({_sums(source, column)}) AS l ON l.resource_id = k.resource_id)"
    )
    statement = _top(sql, kept, f", {sql.still_kept(answer)}")
    return await sql.rows_if_kept(f"{with_clause((*source.ctes, added))}{statement}")


async def _most_used_page(
    owner: OwnerFilter,
    usage: UsageFilter,
    column: str,
    period: Period,
    offset: int,
    limit: int,
) -> list[DatasetRow] | None:
    """A page of the most used datasets (PostgreSQL), from the datasets whose sum ranks within
    the first offset + limit or more (ties included), kept until a write reaches the period's days
    (docs/storage.md#kept-answers): the admin's year adds up ~10^6 rows once, then reads a few
    hundred. None when those datasets do not decide the page (datasets whose owner changed
    left fewer of them in scope): the caller then ranks every dataset.

    Exact: every dataset outside them has a smaller sum than each of them, so the first
    offset + limit datasets in scope are among them whenever at least that many are in scope,
    and ordered as every dataset would be (sum, then title)."""
    wanted = offset + limit
    # At least 100, in powers of two: the next pages of a listing find the same kept answer.
    kept = _KEPT_AT_LEAST if wanted <= _KEPT_AT_LEAST else 1 << (wanted - 1).bit_length()
    ranked = await _live_top(usage, column, period, kept)
    if ranked is None:
        top = Statement()
        source = read_usage(top, usage, period, by_dataset=True)
        ranking = with_clause((*source.ctes, _usage_per_dataset(source, column)))
        ranked = await top.kept_rows(f"{ranking}{_top(top, kept)}", period.start, period.end)
    sql = Statement()
    ids = sql.bind([row["resource_id"] for row in ranked])
    sums = sql.bind([int(row["n"]) for row in ranked])
    page = await sql.rows(
        f"WITH u AS (SELECT * FROM unnest({ids}::varchar[], {sums}::numeric[]) "  # noqa: S608
        f"AS u(resource_id, n)) SELECT {_COLUMNS}, count(u.resource_id) OVER () AS ranked "
        f"FROM resources r LEFT JOIN u ON u.resource_id = r.resource_id{OWNER_NAME_JOIN} "
        f"WHERE {_in_scope(sql, owner, None, usage.dataset_ids)} "
        f"ORDER BY COALESCE(u.n, 0) DESC, {_by_title(sql, descending=False)} "
        f"LIMIT {sql.bind(limit)} OFFSET {sql.bind(offset)}"
    )
    every = not ranked or len(ranked) == int(ranked[0]["counted"])
    if every or (page and int(page[0]["ranked"]) >= wanted):
        return [_dataset(row) for row in page]
    return None


async def datasets_by_id(ids: Sequence[str]) -> dict[str, DatasetRow]:
    sql = Statement()
    statement = (
        f"SELECT {_COLUMNS} FROM resources r{OWNER_NAME_JOIN} "  # noqa: S608
        f"WHERE r.resource_type = {sql.bind(DATASETS)} AND r.resource_id IN ({sql.bind_all(ids)})"
    )
    rows = await sql.rows(statement)
    return {row["resource_id"]: _dataset(row) for row in rows}


def _in_scope(
    sql: Statement, owner: OwnerFilter, search: str | None, ids: Sequence[str] | None = None
) -> str:
    where = [f"r.resource_type = {sql.bind(DATASETS)}", *owner_clauses(sql, "r", owner)]
    if ids is not None:
        where.append(f"r.resource_id IN ({sql.bind_all(ids)})")
    if search:
        # A substring of the title (or of the id when there is no title), accents and case
        # ignored on both sides; LIKE's wildcards in the search text are matched literally.
        escaped = fold(search).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = sql.bind(f"%{escaped}%")
        where.append(f"{_TITLE_KEY} LIKE {pattern} ESCAPE '\\'")
    return " AND ".join(where)


def _by_title(sql: Statement, *, descending: bool) -> str:
    collate = _BYTES if sql.postgres else ""
    way = " DESC" if descending else ""
    keys = (_TITLE_KEY, "COALESCE(r.title, '')", "r.resource_id")
    return ", ".join(f"{key}{collate}{way}" for key in keys)


def _dataset(row: dict[str, Any]) -> DatasetRow:
    owner = Owner(row["owner_type"], row["owner_id"])
    return DatasetRow(row["resource_id"], row["title"], owner, row["owner_name"])
