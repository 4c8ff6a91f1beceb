"""usage_daily rows summed per any of its dimensions, over one owner and a period: the read side
of Data Fair's compatible API (docs/coming-from-data-fair.md). One grouped statement each.

Values here are ours (`api`, `client_error`, `OWNER`); app/datafair translates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.core.periods import Period
from app.core.records import Owner
from app.reports.statement import Statement
from app.storage.dimensions import id_of
from app.storage.facts import FACTS, holder, matching
from app.storage.facts import named as facts_named
from app.storage.models.usage import COUNTER_COLUMNS, KEY_COLUMNS
from app.storage.sql import as_day
from app.storage.summaries import OWNER_KEYS

# The columns a request may group on: pasted into SQL, never bound, so a closed set.
GROUP_COLUMNS = frozenset(
    {
        "day",
        "operation",
        "resource",
        "user_group",
        "referer_app",
        "referer_domain",
        "referer_category",
    }
)
MAX_DOCUMENTS = 10_000  # Data Fair's raw list stops there too
# usage_daily's key past the owner, which a request always fixes.
_KEY = KEY_COLUMNS[KEY_COLUMNS.index("day") :]
# The columns the raw list may sort on: pasted into SQL, never bound, so a closed set.
_SORT_COLUMNS = frozenset({*_KEY, *COUNTER_COLUMNS})
_NOT_TEXT = frozenset({"day", *COUNTER_COLUMNS})  # sorted without a collation
# What usage_by_status keeps of usage_daily's key past the owner: a request that groups and
# filters on nothing else reads it (Data Fair's `_agg?split=day`: a large owner's year is
# ~4 000 rows there, ~1.4 M in usage_daily).
_STATUS_COLUMNS = frozenset({"day", "operation"})


@dataclass(frozen=True)
class MetricsFilter:
    """Which usage_daily rows count: one owner's, in a period; each other field narrows (None:
    any value)."""

    owner: Owner
    period: Period
    operations: tuple[str, ...] | None = None
    status_classes: tuple[str, ...] | None = None
    user_groups: tuple[str, ...] | None = None
    resource_type: str | None = None
    resource_ids: tuple[str, ...] | None = None
    referer_domains: tuple[str, ...] | None = None
    referer_categories: tuple[str, ...] | None = None
    with_app: bool = False  # only rows opened from an application page (referer_app set)


@dataclass(frozen=True)
class MetricsRow:
    """One group's sums; the grouped columns in `key` (resource: type, id and title)."""

    key: dict[str, Any]
    requests: int
    bytes: int
    duration_ms: int


async def grouped_metrics(usage: MetricsFilter, columns: tuple[str, ...]) -> list[MetricsRow]:
    """Sums per value of `columns`, by day first when grouped by day."""
    unknown = set(columns) - GROUP_COLUMNS
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not columns to group on")
    sql = Statement()
    names = [name for c in columns for name in _names(c)]
    if _by_status(usage, columns):  # it stores these columns as they are
        table, stored = "usage_by_status", names
    else:  # grouped on the ids that stand for values: integers, and each group named once
        table = FACTS
        parts = dict.fromkeys(holder(name) for name in names)
        stored = [part if isinstance(part, str) else part.column for part in parts]
    grouped = (
        f"SELECT {', '.join((*(f'u.{c} AS {c}' for c in stored), _SUMS))} "  # noqa: S608
        f"FROM {table} u WHERE {_where(sql, usage)}"
        + (f" GROUP BY {', '.join(f'u.{c}' for c in stored)}" if stored else "")
    )
    named, joins = facts_named("g", names) if table == FACTS else ({n: f"g.{n}" for n in names}, "")
    picked = [*(f"{named[name]} AS {name}" for name in names), *_FIGURES]
    if "resource" in columns:
        # Titles joined to the groups, not to every row counted: far fewer lookups.
        joins += (
            " LEFT JOIN resources r ON r.resource_type = g.resource_type "
            f"AND r.resource_id = {named['resource_id']}"
        )
        picked.append("r.title")
    order = f" ORDER BY {', '.join(named[name] for name in names)}" if names else ""
    statement = f"SELECT {', '.join(picked)} FROM ({grouped}) g{joins}{order}"  # noqa: S608
    return [_row(row, columns) for row in await sql.rows(statement)]


@dataclass(frozen=True)
class Order:
    """One sort key of the raw list: a usage_daily column, in the order of its values' labels
    when `labels` is given (values it lacks sort as `otherwise`, or as themselves)."""

    column: str
    descending: bool = False
    labels: Mapping[str, str] | None = None
    otherwise: str | None = None


@dataclass(frozen=True)
class DocumentsQuery:
    """A page of one owner's usage_daily rows, between two days when given (both included)."""

    owner: Owner
    start: date | None = None
    end: date | None = None
    order: tuple[Order, ...] = (Order("day"),)
    offset: int = 0
    limit: int = MAX_DOCUMENTS


async def documents(query: DocumentsQuery) -> list[dict[str, Any]]:
    """The page's rows with their resource's title, in `query.order`, then in key order (the
    key is unique, so pages never overlap)."""
    sql = Statement()
    orders = (*query.order, *map(Order, _KEY))
    columns = ", ".join(f"u.{c}" for c in (*_KEY, *COUNTER_COLUMNS))
    page = (
        f"SELECT {columns} FROM ({_owner_rows(sql, query)}) u "  # noqa: S608
        f"ORDER BY {', '.join(_order_by(sql, o, 'u') for o in orders)} "
        f"LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
    )
    # Titles joined to the page's rows only, not to every row sorted: 100 lookups, not 30 000.
    statement = (
        f"SELECT p.*, r.title FROM ({page}) p LEFT JOIN resources r "  # noqa: S608
        "ON r.resource_type = p.resource_type AND r.resource_id = p.resource_id "
        f"ORDER BY {', '.join(_order_by(sql, o, 'p') for o in orders)}"
    )
    rows = await sql.rows(statement)
    return [
        {
            **row,
            "day": as_day(row["day"]),
            "requests": int(row["requests"]),
            "bytes": int(row["bytes"]),
            "duration_ms": int(row["duration_ms"]),
        }
        for row in rows
    ]


async def count_documents(query: DocumentsQuery) -> int:
    """How many rows the query's owner has between its days, every page together."""
    sql = Statement()
    where = _owner_days(sql, query)
    rows = await sql.rows(f"SELECT COUNT(*) AS n FROM {FACTS} u WHERE {where}")  # noqa: S608
    return int(rows[0]["n"])


def _owner_rows(sql: Statement, query: DocumentsQuery) -> str:
    """The query's usage_daily rows, read from usage_facts by the owner's id (the first column
    of its key), their ids named."""
    named, joins = facts_named("u", (*_KEY, *COUNTER_COLUMNS))
    columns = ", ".join(f"{named[c]} AS {c}" for c in (*_KEY, *COUNTER_COLUMNS))
    return f"SELECT {columns} FROM {FACTS} u{joins} WHERE {_owner_days(sql, query)}"  # noqa: S608


def _owner_days(sql: Statement, query: DocumentsQuery) -> str:
    owner = query.owner
    conditions = [f"u.owner_key = {id_of(OWNER_KEYS, [sql.bind(owner.type), sql.bind(owner.id)])}"]
    if query.start is not None:
        conditions.append(f"u.day >= {sql.bind(query.start)}")
    if query.end is not None:
        conditions.append(f"u.day <= {sql.bind(query.end)}")
    return " AND ".join(conditions)


def _order_by(sql: Statement, order: Order, table: str) -> str:
    if order.column not in _SORT_COLUMNS:
        raise ValueError(f"{order.column!r} is not a column to sort on")
    found = f"{table}.{order.column}"
    if order.labels is not None:
        cases = " ".join(
            f"WHEN {sql.bind(ours)} THEN {sql.bind(label)}" for ours, label in order.labels.items()
        )
        otherwise = found if order.otherwise is None else sql.bind(order.otherwise)
        found = f"(CASE {found} {cases} ELSE {otherwise} END)"
    if sql.postgres and order.column not in _NOT_TEXT:
        # Bytes order, as SQLite's: PostgreSQL's collation may order text otherwise.
        found += ' COLLATE "C"'
    return found + (" DESC" if order.descending else "")


_SUMS = "SUM(u.requests) AS requests, SUM(u.bytes) AS bytes, SUM(u.duration_ms) AS duration_ms"
_FIGURES = ("g.requests", "g.bytes", "g.duration_ms")


def _names(column: str) -> tuple[str, ...]:
    return ("resource_type", "resource_id") if column == "resource" else (column,)


def _by_status(usage: MetricsFilter, columns: tuple[str, ...]) -> bool:
    """Whether usage_by_status has what the request groups and filters on."""
    return (
        set(columns) <= _STATUS_COLUMNS
        and usage.user_groups is None
        and usage.resource_ids is None
        and usage.referer_domains is None
        and usage.referer_categories is None
        and not usage.with_app
    )


def _where(sql: Statement, usage: MetricsFilter) -> str:
    """The rows of usage_facts or usage_by_status, as `u`, that `usage` counts."""
    owner, period = usage.owner, usage.period
    conditions = [  # the owner as its id (none: the owner has no rows, nor does the answer)
        f"u.owner_key = {id_of(OWNER_KEYS, [sql.bind(owner.type), sql.bind(owner.id)])}",
        f"u.day BETWEEN {sql.bind(period.start)} AND {sql.bind(period.end)}",
    ]
    for column, values in (
        ("operation", usage.operations),
        ("status_class", usage.status_classes),
        ("user_group", usage.user_groups),
        ("resource_id", usage.resource_ids),
        ("referer_domain", usage.referer_domains),
        ("referer_category", usage.referer_categories),
    ):
        if values is not None:
            conditions.append(matching("u", column, sql.bind_all(values)))
    if usage.resource_type is not None:
        conditions.append(f"u.resource_type = {sql.bind(usage.resource_type)}")
    if usage.with_app:
        conditions.append("u.referer_app <> ''")
    return " AND ".join(conditions)


def _row(row: dict[str, Any], columns: tuple[str, ...]) -> MetricsRow:
    key: dict[str, Any] = {}
    for column in columns:
        if column == "resource":
            key["resource"] = (row["resource_type"], row["resource_id"], row["title"])
        elif column == "day":
            key["day"] = as_day(row["day"])
        else:
            key[column] = row[column]
    # PostgreSQL sums bigints as numeric.
    return MetricsRow(
        key, int(row["requests"] or 0), int(row["bytes"] or 0), int(row["duration_ms"] or 0)
    )


async def owner_resources(owner: Owner, resource_type: str) -> list[tuple[str, str | None]]:
    """The owner's resources of a type we know of (id, title), counted or not, by id."""
    sql = Statement()
    statement = (
        "SELECT resource_id, title FROM resources "  # noqa: S608
        f"WHERE owner_type = {sql.bind(owner.type)} AND owner_id = {sql.bind(owner.id)} "
        f"AND resource_type = {sql.bind(resource_type)} ORDER BY resource_id"
    )
    return [(row["resource_id"], row["title"]) for row in await sql.rows(statement)]
