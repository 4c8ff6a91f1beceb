"""Datasets: count, one page (by title or by usage in a period), and rows by id, each with its
owner's name (joined: no statement more)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.periods import Period
from app.core.records import Owner, OwnerFilter
from app.core.titles import fold
from app.reports.owners import OWNER_NAME_JOIN
from app.reports.rows import DATASETS, DatasetOrder, DatasetRow, UsageFilter
from app.reports.sources import owner_clauses, read_usage, with_clause
from app.reports.statement import Statement

# The folded title (app/core/titles.py), else the id: accents and case ignored. Compared byte
# by byte on both databases ("C" on PostgreSQL), so that they order alike; then the title
# itself ("Ecole" before "école") and the id, so that the order is total.
_TITLE_KEY = "COALESCE(r.title_folded, LOWER(r.resource_id))"
_BYTES = ' COLLATE "C"'
_COLUMNS = "r.resource_id, r.title, r.owner_type, r.owner_id, o.name AS owner_name"


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
        source = read_usage(sql, usage, period, by_dataset=True)
        figure = source.figures["api_calls" if order is DatasetOrder.API_CALLS else "downloads"]
        # MATERIALIZED: aggregated once, even when the planner's statistics are stale (after a
        # bulk import, PostgreSQL re-aggregated it for every dataset: seconds instead of ms).
        ranking = with_clause(
            (
                *source.ctes,
                f"u AS MATERIALIZED (SELECT t.resource_id, SUM({figure}) AS n "  # noqa: S608
                f"FROM {source.tables} WHERE {source.where} GROUP BY t.resource_id)",
            )
        )
        join = " LEFT JOIN u ON u.resource_id = r.resource_id"
        order_by = f"COALESCE(u.n, 0) {'DESC' if descending else 'ASC'}, " + order_by
    statement = (
        f"{ranking}SELECT {_COLUMNS} FROM resources r{join}{OWNER_NAME_JOIN} "  # noqa: S608
        f"WHERE {_in_scope(sql, owner, search, ids)} "
        f"ORDER BY {order_by} LIMIT {sql.bind(limit)} OFFSET {sql.bind(offset)}"
    )
    rows = await sql.rows(statement)
    return [_dataset(row) for row in rows]


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
