"""INSERT ... ON CONFLICT for many rows, written once for both dialects: plain upserts, and
additions of counters that saturate at the columns' maximum instead of overflowing
(docs/storage.md#sums-that-cannot-overflow).

Values are always bound; table and column names come from our own constants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.storage.database import is_postgres, placeholders
from app.storage.sql import BIGINT_MAX, rows_written

_SAVEPOINT = "counting"
# PostgreSQL: writes of this many rows and more read them from a temporary table filled by COPY
# (rows_from()); smaller ones from unnest() arrays, sparing a live log's small batches the table's
# five round trips and catalog work (all of the tests' writes staged took .ci/run 18 % longer
# on the PostgreSQL-heavy tests).
STAGED_ROWS = 1000


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
    postgres_joined: Sequence[int] = (),
) -> int:
    """One INSERT ... ON CONFLICT for many rows, in the caller's transaction (PostgreSQL: read
    from rows_from(); SQLite: its prepared statement per row), and the rows it inserted or
    updated (a DO UPDATE ... WHERE that is false writes none). Where the rows are not the
    table's columns (dimension values whose ids it stores): `sqlite_values`, SQLite's VALUES
    list, and `postgres_select(rows)`, the SELECT of the columns from the rows (`types` then
    are the rows' own), which joins the dimensions on the rows' columns `postgres_joined`."""
    names = ", ".join(columns)
    if is_postgres(client):
        async with rows_from(client, table, types, rows, postgres_joined) as (source, arguments):
            select = postgres_select(source) if postgres_select else f"SELECT * FROM {source}"  # noqa: S608
            sql = f"INSERT INTO {table} ({names}) {select} {on_conflict}"
            return await rows_written(client, sql, arguments)
    sql, arguments = _upsert_statement(
        client, table, columns, types, rows, on_conflict, sqlite_values
    )
    before = await _total_changes(client)
    await client.execute_many(sql, arguments)
    return await _total_changes(client) - before


@asynccontextmanager
async def rows_from(
    client: BaseDBAsyncClient,
    table: str,
    types: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    joined: Sequence[int] = (),
) -> AsyncIterator[tuple[str, list[Any]]]:
    """PostgreSQL, in the caller's transaction: SQL to read `rows` (columns of `types`, to
    write into `table` or to read it with) from, and its arguments, $1 on: unnest() of one
    array per column, or for STAGED_ROWS rows and more a temporary table copied in binary, its
    columns `joined` (what the statement joins or groups on) analysed, dropped after the
    statement (a rollback drops it too).

    COPY, not arrays, for many rows: asyncpg checks every element of an array argument
    against abstract classes, ~12 µs of our CPU, in the event loop, a row of usage_facts, where
    COPY's binary encoding takes ~1 (docs/storage.md#the-fold). One name per table, so that
    the driver's cache of prepared statements keeps one of each statement, and a second write
    of the transaction finds the name free."""
    if len(rows) < STAGED_ROWS:
        arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(types, start=1))
        yield f"unnest({arrays})", [list(column) for column in zip(*rows, strict=True)]
        return
    async with client.acquire_connection() as connection:
        if not connection.is_in_transaction():  # the table would be dropped before the COPY
            raise RuntimeError(f"rows for {table}: staged in a transaction only")
    name = f"staged_{table}"
    columns = ", ".join(f"c{i} {kind}" for i, kind in enumerate(types))
    await client.execute_query(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
    async with client.acquire_connection() as connection:
        await connection.copy_records_to_table(name, records=rows)
    if joined:
        # Without statistics PostgreSQL joins the dimensions by a scan of one per row: 16 000
        # rows of usage_facts took 490 ms to upsert, 50 ms with the joined columns analysed.
        await client.execute_query(f"ANALYZE {name} ({', '.join(f'c{i}' for i in joined)})")
    yield name, []
    await client.execute_query(f"DROP TABLE {name}")


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
    """One INSERT ... ON CONFLICT for many rows, in the caller's transaction, the fastest way
    each driver offers: PostgreSQL reads them from rows_from() (one statement; asyncpg's
    executemany costs a round trip's work per row), SQLite runs the prepared statement per row
    in process, which is what executemany does."""
    await upsert_counted(client, table, columns, types, rows, on_conflict)


def _upsert_statement(
    client: BaseDBAsyncClient,
    table: str,
    columns: tuple[str, ...],
    types: tuple[str, ...],
    rows: list[Any],
    on_conflict: str,
    sqlite_values: str | None = None,
) -> tuple[str, list[Any]]:
    """SQLite's statement and its rows."""
    names = ", ".join(columns)
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
