"""usage_facts: usage_daily's rows as stored, each owner, dataset, user group, domain and category
as its dimension id (docs/storage.md#dimensions); what writers add to it in both dialects.

Readers read the view usage_daily, which names the ids (a left join on each dimension's id, so
that PostgreSQL leaves out the joins a statement does not use; SQLite looks each one up). Writers
add the values their rows have that no dimension has yet, then upsert the rows, each value
looked up as its id in the same statement, as the caller summary's writer does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.storage.database import is_postgres
from app.storage.dimensions import Values, add_every, gather, id_of, key_values
from app.storage.models.usage import COUNTER_COLUMNS, KEY_COLUMNS, STORED_KEY
from app.storage.summaries import CATEGORIES, DOMAINS, OWNER_KEYS, USER_GROUPS, Dimension
from app.storage.upserts import add_saturating, upsert_counted

FACTS = "usage_facts"
RESOURCE_KEYS = Dimension("resource_keys", "resource_key", ("resource_type", "resource_id"))
# usage_facts' key, column by column: a column of KEY_COLUMNS, or the dimension whose id
# stands for its values (in STORED_KEY's order).
STORED: tuple[str | Dimension, ...] = (
    OWNER_KEYS,
    "day",
    "resource_type",
    RESOURCE_KEYS,
    "operation",
    "status_class",
    USER_GROUPS,
    DOMAINS,
    CATEGORIES,
    "referer_app",
)
_DIMENSIONS = tuple(part for part in STORED if isinstance(part, Dimension))
assert tuple(p if isinstance(p, str) else p.column for p in STORED) == STORED_KEY
# The types of a row of usage_daily as written (KEY_COLUMNS, then COUNTER_COLUMNS).
ROW_TYPES = (
    *("date" if column == "day" else "varchar" for column in KEY_COLUMNS),
    *("bigint" for _ in COUNTER_COLUMNS),
)


def fact_values(found: Values, rows: Sequence[Sequence[Any]]) -> None:
    """Add to `found` the dimension values of these usage_daily rows (KEY_COLUMNS first)."""
    gather(found, KEY_COLUMNS, _DIMENSIONS, rows)


async def add_facts(client: BaseDBAsyncClient, rows: list[tuple[Any, ...]]) -> int:
    """write_facts after giving the rows' dimension values their ids: for a writer of
    usage_facts alone."""
    found: Values = {}
    fact_values(found, rows)
    await add_every(client, found)
    return await write_facts(client, rows)


async def write_facts(client: BaseDBAsyncClient, rows: list[tuple[Any, ...]]) -> int:
    """Add usage_daily rows (KEY_COLUMNS, then COUNTER_COLUMNS; sorted by key) to usage_facts,
    in the caller's transaction, each of their dimension values having its id (add_every);
    the rows written with a counter at its ceiling."""
    if not rows:
        return 0
    columns = (*STORED_KEY, *COUNTER_COLUMNS)
    conflict = f"ON CONFLICT ({', '.join(STORED_KEY)}) "
    postgres = is_postgres(client)

    async def write(update: str) -> tuple[int, int]:
        written = await upsert_counted(
            client,
            FACTS,
            columns,
            ROW_TYPES,
            rows,
            conflict + update,
            sqlite_values=None if postgres else _SQLITE_VALUES,
            postgres_select=_postgres_select if postgres else None,
            postgres_joined=_JOINED,
        )
        return len(rows), written

    return await add_saturating(client, FACTS, COUNTER_COLUMNS, write)


def _sqlite_values() -> str:
    """The VALUES of a row of KEY_COLUMNS and counters bound in that order (numbered: a
    dimension may look up a value that a column also stores)."""
    mark = {column: f"?{n}" for n, column in enumerate(KEY_COLUMNS, start=1)}
    values = [
        mark[part] if isinstance(part, str) else id_of(part, [mark[c] for c in part.values])
        for part in STORED
    ]
    counters = (f"?{n}" for n in range(len(KEY_COLUMNS) + 1, len(ROW_TYPES) + 1))
    return ", ".join([*values, *counters])


_SQLITE_VALUES = _sqlite_values()
# The columns of a row that _postgres_select joins the dimensions on.
_JOINED = sorted(KEY_COLUMNS.index(c) for d in _DIMENSIONS for c in d.values)


def _postgres_select(rows: str) -> str:
    """The rows (of rows_from(): KEY_COLUMNS and counters) with their ids, by joins on the
    dimensions (a hash of each small table, not a look-up per row), sorted by the stored key:
    concurrent writers then lock rows in one order."""
    stored, joins = key_values(STORED, lambda column: f"v.{column}")
    key = ", ".join(sql for sql, _ in stored)
    counters = ", ".join(f"v.{c}" for c in COUNTER_COLUMNS)
    names = ", ".join((*KEY_COLUMNS, *COUNTER_COLUMNS))
    return f"SELECT {key}, {counters} FROM {rows} AS v({names}){joins} ORDER BY {key}"  # noqa: S608


def named(alias: str, columns: Sequence[str]) -> tuple[dict[str, str], str]:
    """`columns` (of KEY_COLUMNS and COUNTER_COLUMNS) as SQL over the usage_facts rows `alias`,
    and the joins that name the ids among them, for a statement that reads usage_facts itself,
    its joins in the order it needs: SQLite, before its first ANALYZE, plans the view
    usage_daily's joins in their written order, the facts first, even where a dimension's value
    is what finds the facts (a scan of every fact for each dataset asked for)."""
    found = {column: f"{alias}.{column}" for column in COUNTER_COLUMNS if column in columns}
    joins = ""
    for n, part in enumerate(STORED):
        if isinstance(part, str):
            found[part] = f"{alias}.{part}"
        elif any(c in columns and c not in STORED for c in part.values):
            joins += f" JOIN {part.table} n{n} ON n{n}.id = {alias}.{part.column}"
            for column in part.values:  # resource_type: the fact's own column, not the join's
                found.setdefault(column, f"n{n}.{column}")
    return found, joins


def holder(column: str) -> str | Dimension:
    """What holds a column of KEY_COLUMNS in usage_facts: itself, or the dimension whose id
    stands for it."""
    if column in STORED:
        return column
    return next(p for p in _DIMENSIONS if column in p.values)


def matching(alias: str, column: str, values: str) -> str:
    """SQL: the usage_facts rows `alias` whose `column` (of KEY_COLUMNS) is among `values` (SQL
    of a list), a dimension's values looked up as their ids first (a few ids, not a join
    on every row)."""
    part = holder(column)
    if isinstance(part, str):
        return f"{alias}.{column} IN ({values})"
    return (
        f"{alias}.{part.column} IN (SELECT id FROM {part.table} "  # noqa: S608
        f"WHERE {column} IN ({values}))"
    )
