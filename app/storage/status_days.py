"""usage_by_status: usage_daily's counters added up per owner, day, resource type, operation and
status class (docs/storage.md#summary-tables), written in the transaction that writes
usage_daily, by every writer of counters.

Unlike the other summaries it keeps every status class (Data Fair's `_agg` counts errors too)
and single days only (its reads split by day, and a large owner's year is ~4 000 rows), so a
batch adds its rows as they are, import units included: nothing is left to a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.storage.database import is_postgres
from app.storage.dimensions import id_of
from app.storage.facts import ROW_TYPES
from app.storage.models.summaries import STATUS_KEY, STATUS_STORED_KEY
from app.storage.models.usage import COUNTER_COLUMNS, KEY_COLUMNS
from app.storage.summaries import OWNER_KEYS
from app.storage.upserts import add_saturating, rows_from, upsert_counted

STATUS_TABLE = "usage_by_status"
# Where each column of STATUS_KEY sits in a usage_daily key (app/core/records.UsageKey).
_PICKED = tuple(KEY_COLUMNS.index(column) for column in STATUS_KEY)
# The rows' types (rows_from()): usage_daily's types of the key and counters.
_TYPES = (*(ROW_TYPES[i] for i in _PICKED), *ROW_TYPES[len(KEY_COLUMNS) :])


StatusTotals = dict[tuple[Any, ...], list[int]]


def add_up(totals: StatusTotals, usage: Iterable[Sequence[Any]]) -> None:
    """Add usage_daily rows (key, then counters) to their STATUS_KEY in `totals` (a caller may
    pass a batch in parts)."""
    first = len(KEY_COLUMNS)
    for row in usage:
        key = tuple(row[i] for i in _PICKED)
        found = totals.get(key)
        if found is None:
            totals[key] = list(row[first:])
        else:
            for slot, value in enumerate(row[first:]):
                found[slot] += value


async def add_status_rows(client: BaseDBAsyncClient, rows: list[list[Any]]) -> int:
    """Add these rows ([*key, *counters], in key order) to the table, sums saturating at the
    ceiling, their owners having their ids (those of the usage_daily rows they add up:
    add_every ran); the rows written at it."""
    if not rows:
        return 0
    conflict = f"ON CONFLICT ({', '.join(STATUS_STORED_KEY)}) "
    if is_postgres(client):

        async def write_postgres(update: str) -> tuple[int, int]:
            return len(rows), await _upsert_postgres(client, rows, conflict + update)

        return await add_saturating(client, STATUS_TABLE, COUNTER_COLUMNS, write_postgres)
    columns = (*STATUS_STORED_KEY, *COUNTER_COLUMNS)
    owner = id_of(OWNER_KEYS, ["?", "?"])
    values = ", ".join([owner, *("?" for _ in columns[1:])])

    async def write_sqlite(update: str) -> tuple[int, int]:
        # _TYPES lines up with the rows: upsert_counted writes their day as SQLite's ISO text.
        written = await upsert_counted(
            client, STATUS_TABLE, columns, _TYPES, rows, conflict + update, values
        )
        return len(rows), written

    return await add_saturating(client, STATUS_TABLE, COUNTER_COLUMNS, write_sqlite)


async def _upsert_postgres(
    client: BaseDBAsyncClient, rows: list[list[Any]], on_conflict: str
) -> int:
    """One statement: the rows (rows_from()), each owner's id joined."""
    names = (*STATUS_KEY, *COUNTER_COLUMNS)
    picked = ", ".join(("o.id", *(f"r.{c}" for c in names[2:])))
    key = ", ".join(("o.id", *(f"r.{c}" for c in STATUS_KEY[2:])))
    columns = ", ".join((*STATUS_STORED_KEY, *COUNTER_COLUMNS))
    async with rows_from(client, STATUS_TABLE, _TYPES, rows, (0, 1)) as (source, arguments):
        sql = (
            f"WITH written AS (INSERT INTO {STATUS_TABLE} ({columns}) "  # noqa: S608
            f"SELECT {picked} FROM {source} AS r({', '.join(names)}) "
            "JOIN owner_keys o ON o.owner_type = r.owner_type AND o.owner_id = r.owner_id "
            f"ORDER BY {key} {on_conflict} RETURNING 1) SELECT count(*) AS n FROM written"
        )
        found = await client.execute_query_dict(sql, arguments)
    return int(found[0]["n"])
