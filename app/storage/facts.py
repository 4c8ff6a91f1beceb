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
from app.storage.dimensions import add_ids, id_of
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
# The unnest() arrays' casts of a row of usage_daily (KEY_COLUMNS, then COUNTER_COLUMNS).
ROW_TYPES = (
    *("date" if column == "day" else "varchar" for column in KEY_COLUMNS),
    *("bigint" for _ in COUNTER_COLUMNS),
)


async def add_facts(client: BaseDBAsyncClient, rows: list[tuple[Any, ...]]) -> int:
    """Add usage_daily rows (KEY_COLUMNS, then COUNTER_COLUMNS; sorted by key) to usage_facts,
    in the caller's transaction; the rows written with a counter at its ceiling."""
    if not rows:
        return 0
    for dimension in _DIMENSIONS:
        at = [KEY_COLUMNS.index(column) for column in dimension.values]
        await add_ids(client, dimension, sorted({tuple(row[i] for i in at) for row in rows}))
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


def _postgres_select(rows: str) -> str:
    """The rows (an unnest() of KEY_COLUMNS and counters) with their ids, by joins on the
    dimensions (a hash of each small table, not a look-up per row), sorted by the stored key:
    concurrent writers then lock rows in one order."""
    joins = "".join(
        f" JOIN {d.table} ON " + " AND ".join(f"{d.table}.{c} = v.{c}" for c in d.values)
        for d in _DIMENSIONS
    )
    key = [f"v.{part}" if isinstance(part, str) else f"{part.table}.id" for part in STORED]
    counters = ", ".join(f"v.{c}" for c in COUNTER_COLUMNS)
    names = ", ".join((*KEY_COLUMNS, *COUNTER_COLUMNS))
    return (
        f"SELECT {', '.join(key)}, {counters} FROM {rows} AS v({names}){joins} "  # noqa: S608
        f"ORDER BY {', '.join(key)}"
    )


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
