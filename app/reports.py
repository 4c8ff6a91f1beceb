"""Read side: usage figures from usage_daily, current and previous period in one grouped query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

from app.db import connection, is_postgres
from app.errors import DatabaseUnavailableError
from app.ingest.records import Owner
from app.ingest.store import DATABASE_ERRORS
from app.periods import Period

DATASETS = "datasets"  # the resource type that GraphQL calls a dataset
# The only columns a breakdown may group on: they are pasted into SQL, never bound.
BREAKDOWN_COLUMNS = frozenset({"user_group", "referer_domain", "referer_category"})
TOTAL = ""  # the group key of figures that are not broken down, and the dataset key of totals


class DatasetOrder(StrEnum):
    TITLE = "title"
    API_CALLS = "api"  # the value is the operation whose status-ok requests are counted
    DOWNLOADS = "download"


@dataclass(frozen=True)
class UsageFilter:
    """Which status-ok dataset rows count: an owner (None: all), datasets, groups, domains."""

    owner: Owner | None = None
    dataset_ids: tuple[str, ...] | None = None
    user_groups: tuple[str, ...] | None = None
    domains: tuple[str, ...] | None = None


class Trend(NamedTuple):
    current: int
    previous: int


ZERO = Trend(0, 0)


@dataclass(frozen=True)
class Figures:
    """Status-ok requests and bytes of one group, in the period and in the previous one."""

    api_calls: Trend = ZERO
    downloads: Trend = ZERO
    downloaded_bytes: Trend = ZERO
    app_opens: Trend = ZERO


NO_FIGURES = Figures()


class DayFigures(NamedTuple):
    day: date
    api_calls: int
    downloads: int


@dataclass(frozen=True)
class DatasetRow:
    id: str
    title: str | None
    owner: Owner


# (alias, operation, counter): the sums of a figures query, each for both periods.
_SUMS = (
    ("api_calls", "api", "requests"),
    ("downloads", "download", "requests"),
    ("downloaded_bytes", "download", "bytes"),
    ("app_opens", "app", "requests"),
)


class _Sql:
    """Collects a statement's parameters; numbered placeholders, so one may appear twice.

    Statements paste only constant column names and these placeholders (hence their
    `noqa: S608`): every value is bound.
    """

    def __init__(self) -> None:
        self.client = connection()
        self.postgres = is_postgres(self.client)
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        if isinstance(value, date) and not self.postgres:
            value = value.isoformat()  # SQLite stores days as ISO text, as the ingest writes them
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else f"?{len(self.params)}"

    def bind_all(self, values: Sequence[Any]) -> str:
        # An empty list matches nothing (`IN ()` is not valid on PostgreSQL).
        return ", ".join(self.bind(v) for v in values) or "NULL"

    async def rows(self, statement: str) -> list[dict[str, Any]]:
        try:
            return await self.client.execute_query_dict(statement, self.params)
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(
                "the database did not answer; nothing is wrong with the query: retry shortly"
            ) from exc


def _usage_where(sql: _Sql, usage: UsageFilter, start: date, end: date) -> str:
    clauses = [
        f"day >= {sql.bind(start)}",
        f"day <= {sql.bind(end)}",
        f"resource_type = {sql.bind(DATASETS)}",
        "status_class = 'ok'",
    ]
    if usage.owner is not None:
        clauses.append(f"owner_type = {sql.bind(usage.owner.type)}")
        clauses.append(f"owner_id = {sql.bind(usage.owner.id)}")
    if usage.dataset_ids is not None:
        clauses.append(f"resource_id IN ({sql.bind_all(usage.dataset_ids)})")
    if usage.user_groups is not None:
        clauses.append(f"user_group IN ({sql.bind_all(usage.user_groups)})")
    if usage.domains is not None:
        clauses.append(f"referer_domain IN ({sql.bind_all(usage.domains)})")
    return " AND ".join(clauses)


def _group_columns(by_dataset: bool, column: str | None) -> list[str]:
    if column is not None and column not in BREAKDOWN_COLUMNS:
        raise ValueError(f"{column!r} is not a breakdown column")
    return [c for c in ("resource_id" if by_dataset else None, column) if c is not None]


def _group_key(row: dict[str, Any], by_dataset: bool, column: str | None) -> tuple[str, str]:
    dataset = str(row["resource_id"]) if by_dataset else TOTAL
    return dataset, str(row[column]) if column is not None else TOTAL


async def figures(
    usage: UsageFilter, period: Period, *, by_dataset: bool = False, column: str | None = None
) -> dict[tuple[str, str], Figures]:
    """Figures per (dataset id, group) of the period and the previous one, in one statement.

    Without `by_dataset` the dataset id is TOTAL, without `column` the group is TOTAL; groups
    without any status-ok row in either period are absent.
    """
    sql = _Sql()
    group = _group_columns(by_dataset, column)
    current_start = sql.bind(period.start)
    sums = [
        f"SUM(CASE WHEN operation = '{operation}' AND day {side} {current_start} "
        f"THEN {counter} ELSE 0 END) AS {alias}_{name}"
        for alias, operation, counter in _SUMS
        for side, name in ((">=", "current"), ("<", "previous"))
    ]
    where = _usage_where(sql, usage, period.previous().start, period.end)
    statement = f"SELECT {', '.join([*group, *sums])} FROM usage_daily WHERE {where}"  # noqa: S608
    if group:
        statement += f" GROUP BY {', '.join(group)}"
    rows = await sql.rows(statement)
    found: dict[tuple[str, str], Figures] = {}
    for row in rows:
        trends = {
            alias: Trend(int(row[f"{alias}_current"] or 0), int(row[f"{alias}_previous"] or 0))
            for alias, _, _ in _SUMS
        }
        if any(any(trend) for trend in trends.values()):
            found[_group_key(row, by_dataset, column)] = Figures(**trends)
    return found


async def daily(
    usage: UsageFilter, period: Period, *, by_dataset: bool = False
) -> dict[str, list[DayFigures]]:
    """API calls and downloads of every day of the period, zeros included, per dataset id."""
    sql = _Sql()
    group = ["resource_id"] if by_dataset else []
    where = _usage_where(sql, usage, period.start, period.end)
    statement = (
        f"SELECT {''.join(c + ', ' for c in group)}day, "  # noqa: S608
        "SUM(CASE WHEN operation = 'api' THEN requests ELSE 0 END) AS api_calls, "
        "SUM(CASE WHEN operation = 'download' THEN requests ELSE 0 END) AS downloads "
        f"FROM usage_daily WHERE {where} AND operation IN ('api', 'download') "
        f"GROUP BY {''.join(c + ', ' for c in group)}day"
    )
    rows = await sql.rows(statement)
    found: dict[str, dict[date, DayFigures]] = {}
    for row in rows:
        day = _day(row["day"])
        dataset = str(row["resource_id"]) if by_dataset else TOTAL
        figures = DayFigures(day, int(row["api_calls"] or 0), int(row["downloads"] or 0))
        found.setdefault(dataset, {})[day] = figures
    return {
        dataset: [days.get(day) or DayFigures(day, 0, 0) for day in period.each_day()]
        for dataset, days in found.items()
    }


def zero_days(period: Period) -> list[DayFigures]:
    return [DayFigures(day, 0, 0) for day in period.each_day()]


async def count_datasets(owner: Owner | None, search: str | None) -> int:
    sql = _Sql()
    statement = f"SELECT COUNT(*) AS n FROM resources r WHERE {_in_scope(sql, owner, search)}"  # noqa: S608
    rows = await sql.rows(statement)
    return int(rows[0]["n"])


async def datasets_page(
    owner: Owner | None,
    search: str | None,
    order: DatasetOrder,
    period: Period | None,
    offset: int,
    limit: int,
) -> list[DatasetRow]:
    """One page of datasets; ties (and TITLE) ordered by title, then id, so pages never overlap."""
    sql = _Sql()
    ranking, join, order_by = "", "", "LOWER(COALESCE(r.title, r.resource_id)), r.resource_id"
    if order is not DatasetOrder.TITLE:
        if period is None:
            raise ValueError("ordering datasets by usage needs a period")
        # MATERIALIZED: aggregated once, even when the planner's statistics are stale (after a
        # bulk import, PostgreSQL re-aggregated it for every dataset: seconds instead of ms).
        ranking = (
            "WITH u AS MATERIALIZED (SELECT resource_id, SUM(requests) AS n FROM usage_daily"  # noqa: S608
            f" WHERE {_usage_where(sql, UsageFilter(owner=owner), period.start, period.end)}"
            f" AND operation = {sql.bind(order.value)} GROUP BY resource_id) "
        )
        join = " LEFT JOIN u ON u.resource_id = r.resource_id"
        order_by = "COALESCE(u.n, 0) DESC, " + order_by
    statement = (
        f"{ranking}SELECT r.resource_id, r.title, r.owner_type, r.owner_id FROM resources r{join} "  # noqa: S608
        f"WHERE {_in_scope(sql, owner, search)} "
        f"ORDER BY {order_by} LIMIT {sql.bind(limit)} OFFSET {sql.bind(offset)}"
    )
    rows = await sql.rows(statement)
    return [_dataset(row) for row in rows]


async def datasets_by_id(ids: Sequence[str]) -> dict[str, DatasetRow]:
    sql = _Sql()
    statement = (
        "SELECT resource_id, title, owner_type, owner_id FROM resources "  # noqa: S608
        f"WHERE resource_type = {sql.bind(DATASETS)} AND resource_id IN ({sql.bind_all(ids)})"
    )
    rows = await sql.rows(statement)
    return {row["resource_id"]: _dataset(row) for row in rows}


def _in_scope(sql: _Sql, owner: Owner | None, search: str | None) -> str:
    where = [f"r.resource_type = {sql.bind(DATASETS)}"]
    if owner is not None:
        where += [f"r.owner_type = {sql.bind(owner.type)}", f"r.owner_id = {sql.bind(owner.id)}"]
    if search:
        # A substring of the title (or of the id when there is no title), case-insensitive;
        # LIKE's wildcards in the search text are matched literally.
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = sql.bind(f"%{escaped}%")
        where.append(f"LOWER(COALESCE(r.title, r.resource_id)) LIKE {pattern} ESCAPE '\\'")
    return " AND ".join(where)


def _dataset(row: dict[str, Any]) -> DatasetRow:
    return DatasetRow(row["resource_id"], row["title"], Owner(row["owner_type"], row["owner_id"]))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
