"""INSERT ... ON CONFLICT for many rows, written once for both dialects: plain upserts, and
additions of counters that saturate at the columns' maximum instead of overflowing
(docs/storage.md#sums-that-cannot-overflow).

Values are always bound; table and column names come from our own constants.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.storage.database import is_postgres, placeholders
from app.storage.sql import BIGINT_MAX, rows_written

_SAVEPOINT = "counting"


async def add_saturating(
    client: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    write: Callable[[str], Awaitable[tuple[int, int]]],
) -> int:
    """Run `write(update)` (rows wanted, rows written) with plain additions that skip any row
    whose sum would pass the ceiling; if one was skipped, undo and write again with saturating
    sums. The rows written at the ceiling: 0, but for the rare write that reaches it."""
    adding = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    fits = " AND ".join(f"{table}.{c} <= {BIGINT_MAX} - excluded.{c}" for c in columns)
    await client.execute_query(f"SAVEPOINT {_SAVEPOINT}")
    wanted, written = await write(f"DO UPDATE SET {adding} WHERE {fits}")
    if written < wanted:
        await client.execute_query(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        saturating = ", ".join(
            f"{c} = CASE WHEN {table}.{c} > {BIGINT_MAX} - excluded.{c} THEN {BIGINT_MAX} "
            f"ELSE {table}.{c} + excluded.{c} END"
            for c in columns
        )
        await write(f"DO UPDATE SET {saturating}")
    await client.execute_query(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    return wanted - written


def clamp_rows(rows: list[Any], first: int) -> int:
    """Bring the values from column `first` on down to the ceiling, in place (a sum of many
    batches, or of an import's documents, can pass it); how many rows had one past it."""
    clamped = 0
    for i, row in enumerate(rows):
        if max(row[first:]) > BIGINT_MAX:
            rows[i] = type(row)((*row[:first], *(min(v, BIGINT_MAX) for v in row[first:])))
            clamped += 1
    return clamped


def clamp_totals(totals: Iterable[list[int]]) -> int:
    """clamp_rows for lists of figures alone, in place."""
    clamped = 0
    for figures in totals:
        if max(figures) > BIGINT_MAX:
            figures[:] = [min(v, BIGINT_MAX) for v in figures]
            clamped += 1
    return clamped


async def upsert_counted(
    client: BaseDBAsyncClient,
    table: str,
    columns: tuple[str, ...],
    types: tuple[str, ...],
    rows: list[Any],
    on_conflict: str,
    sqlite_values: str | None = None,
    postgres_select: Callable[[str], str] | None = None,
) -> int:
    """`upsert`, and the rows it inserted or updated (a DO UPDATE ... WHERE that is false
    writes none). Where the rows are not the table's columns (dimension values whose ids it
    stores): `sqlite_values`, SQLite's VALUES list, and `postgres_select(rows)`, the SELECT of
    the columns from the rows' unnest() (`types` then are the rows' own)."""
    sql, arguments = _upsert_statement(
        client, table, columns, types, rows, on_conflict, sqlite_values, postgres_select
    )
    if is_postgres(client):
        return await rows_written(client, sql, arguments)
    before = await _total_changes(client)
    await client.execute_many(sql, arguments)
    return await _total_changes(client) - before


async def _total_changes(client: BaseDBAsyncClient) -> int:
    found = await client.execute_query_dict("SELECT total_changes() AS n")
    return int(found[0]["n"])


async def upsert(
    client: BaseDBAsyncClient,
    table: str,
    columns: tuple[str, ...],
    types: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    on_conflict: str,
) -> None:
    """One INSERT ... ON CONFLICT for many rows, the fastest way each driver offers.

    PostgreSQL takes the rows as one array per column through unnest(): one statement, one
    round trip (asyncpg's executemany costs a round trip's work per row). SQLite runs the
    prepared statement per row in process, which is what executemany does.
    """
    sql, arguments = _upsert_statement(client, table, columns, types, rows, on_conflict)
    if is_postgres(client):
        await client.execute_query(sql, arguments)
    else:
        await client.execute_many(sql, arguments)


def _upsert_statement(
    client: BaseDBAsyncClient,
    table: str,
    columns: tuple[str, ...],
    types: tuple[str, ...],
    rows: list[Any],
    on_conflict: str,
    sqlite_values: str | None = None,
    postgres_select: Callable[[str], str] | None = None,
) -> tuple[str, list[Any]]:
    names = ", ".join(columns)
    if is_postgres(client):
        arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(types, start=1))
        unnest = f"unnest({arrays})"
        select = postgres_select(unnest) if postgres_select else f"SELECT * FROM {unnest}"  # noqa: S608
        sql = f"INSERT INTO {table} ({names}) {select} {on_conflict}"
        return sql, [list(column) for column in zip(*rows, strict=True)]
    values = sqlite_values or placeholders(client, len(columns))
    sql = f"INSERT INTO {table} ({names}) VALUES ({values}) {on_conflict}"  # noqa: S608
    days = [i for i, kind in enumerate(types) if kind == "date"]
    return sql, _sqlite_rows(rows, days) if days else rows


def _sqlite_rows(rows: list[tuple[Any, ...]], day_index: list[int]) -> list[list[Any]]:
    # SQLite stores days as ISO text, as tortoise does.
    converted = []
    for row in rows:
        values = list(row)
        for i in day_index:
            values[i] = values[i].isoformat()
        converted.append(values)
    return converted
