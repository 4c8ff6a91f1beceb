"""usage_daily rows summed per any of its dimensions, over one owner and a period: the read side
of Data Fair's compatible API (docs/coming-from-data-fair.md). One grouped statement each.

Values here are ours (`api`, `client_error`, `OWNER`); app/datafair translates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.periods import Period
from app.core.records import Owner
from app.reports.statement import Statement, as_day
from app.storage.models.usage import KEY_COLUMNS

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
    group = ", ".join(f"u.{name}" for name in names)
    grouped = (
        f"SELECT {', '.join((*(f'u.{n} AS {n}' for n in names), _SUMS))} "  # noqa: S608
        f"FROM usage_daily u WHERE {_where(sql, usage)}" + (f" GROUP BY {group}" if names else "")
    )
    order = f" ORDER BY {', '.join(f'g.{n}' for n in names)}" if names else ""
    if "resource" in columns:
        # Titles joined to the groups, not to every row counted: far fewer lookups.
        statement = (
            f"SELECT g.*, r.title FROM ({grouped}) g LEFT JOIN resources r "  # noqa: S608
            f"ON r.resource_type = g.resource_type AND r.resource_id = g.resource_id{order}"
        )
    else:
        statement = f"SELECT g.* FROM ({grouped}) g{order}"  # noqa: S608
    return [_row(row, columns) for row in await sql.rows(statement)]


async def documents(owner: Owner, limit: int = MAX_DOCUMENTS) -> list[dict[str, Any]]:
    """The owner's usage_daily rows with their resource's title, by day then key, at most
    `limit`."""
    sql = Statement()
    columns = ", ".join(f"u.{c}" for c in _KEY)
    statement = (
        f"SELECT {columns}, r.title, u.requests, u.bytes, u.duration_ms "  # noqa: S608
        "FROM usage_daily u LEFT JOIN resources r ON r.resource_type = u.resource_type "
        "AND r.resource_id = u.resource_id "
        f"WHERE u.owner_type = {sql.bind(owner.type)} AND u.owner_id = {sql.bind(owner.id)} "
        f"ORDER BY {columns} LIMIT {int(limit)}"
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


_SUMS = "SUM(u.requests) AS requests, SUM(u.bytes) AS bytes, SUM(u.duration_ms) AS duration_ms"


def _names(column: str) -> tuple[str, ...]:
    return ("resource_type", "resource_id") if column == "resource" else (column,)


def _where(sql: Statement, usage: MetricsFilter) -> str:
    owner, period = usage.owner, usage.period
    conditions = [
        f"u.owner_type = {sql.bind(owner.type)}",
        f"u.owner_id = {sql.bind(owner.id)}",
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
            conditions.append(f"u.{column} IN ({sql.bind_all(values)})")
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
