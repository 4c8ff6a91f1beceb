"""Add merged counters to usage_daily and the summary tables, inside the caller's transaction.

Counts are added with INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x (tortoise's
bulk_create(on_conflict=...) would replace them). Used by a batch counted in its request
(USAGE_METRICS_FOLD_INTERVAL=0) and by the folder, which adds up many batches first.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.core.records import UsageKey
from app.ingest.aggregate import Counters
from app.ingest.domain_cap import CappedBatch, DomainCap
from app.storage.database import is_postgres, placeholders
from app.storage.models import UsageDaily
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.models.usage import COUNTER_COLUMNS, KEY_COLUMNS
from app.storage.sql import column_types
from app.storage.summaries import Summary, Totals, batch_days, covers, spread

_COUNTER_TYPES = column_types(UsageDaily, (*KEY_COLUMNS, *COUNTER_COLUMNS))
# The first key of the advisory locks that order the writers of one dataset's counters (the
# second is a hash of the dataset); the migrations' lock uses the one-key form, apart from these.
_DATASET_LOCKS = 0x666F6C64  # "fold"


async def add_counters(
    client: BaseDBAsyncClient, counters: dict[UsageKey, Counters], cap: DomainCap | None
) -> CappedBatch | None:
    """Add `counters` (the domain cap applied) to usage_daily and every summary table.

    The caller commits, then tells the cap what is stored (`cap.remember(capped)`).
    """
    capped: CappedBatch | None = None
    if cap is not None:
        await _lock_datasets(client, counters)
        capped = await cap.apply(client, counters)
        counters = capped.counters
    await _upsert_counters(client, counters)
    for summary, rows in batch_days(counters).items():
        await _upsert_summary(client, summary, rows)
    return capped


async def _lock_datasets(client: BaseDBAsyncClient, counters: dict[UsageKey, Counters]) -> None:
    """Writers of one dataset's counters take turns until they commit (PostgreSQL), so the cap
    sees the domains every writer before stored; SQLite has one writer at a time anyway.

    Sorted: one lock order for every writer. A hash collision only makes two datasets wait on
    each other.
    """
    if not is_postgres(client):
        return
    datasets = {(key.resource_type, key.resource_id) for key in counters}
    keys = sorted({_lock_key(rtype, rid) for rtype, rid in datasets})
    if keys:
        await client.execute_query(
            "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) WITH ORDINALITY "
            "AS t(k, n) ORDER BY n",
            [_DATASET_LOCKS, keys],
        )


def _lock_key(resource_type: str, resource_id: str) -> int:
    digest = hashlib.blake2b(f"{resource_type}/{resource_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _upsert_counters(client: BaseDBAsyncClient, counters: dict[UsageKey, Counters]) -> None:
    # In key order: a stable lock order for concurrent writers.
    rows = [(*key, *counts) for key, counts in sorted(counters.items())]
    if not rows:
        return
    increments = ", ".join(f"{c} = usage_daily.{c} + excluded.{c}" for c in COUNTER_COLUMNS)
    await upsert(
        client,
        "usage_daily",
        (*KEY_COLUMNS, *COUNTER_COLUMNS),
        _COUNTER_TYPES,
        rows,
        f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {increments}",
    )


async def _upsert_summary(client: BaseDBAsyncClient, summary: Summary, daily: Totals) -> None:
    """Add a batch's per-day figures to every block of `summary` that contains their days."""
    if not daily:
        return
    table = summary.table
    increments = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in FIGURE_COLUMNS)
    on_conflict = f"ON CONFLICT ({', '.join(summary.key)}) DO UPDATE SET {increments}"
    if is_postgres(client):
        await _upsert_summary_postgres(client, summary, daily, on_conflict)
        return
    # Sorted: a block's new rows land next to each other, and its readers scan them together.
    rows = sorted(spread(summary, daily, date.isoformat))  # SQLite stores days as ISO text
    columns = (*summary.key, *FIGURE_COLUMNS)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({placeholders(client, len(columns))}) {on_conflict}"
    )
    await client.execute_many(sql, rows)


async def _upsert_summary_postgres(
    client: BaseDBAsyncClient, summary: Summary, daily: Totals, on_conflict: str
) -> None:
    """PostgreSQL gets each day once and adds the days up per block itself.

    A third of the rows to send (one unnest() array per column, as for usage_daily), and the
    ORDER BY gives concurrent writers one lock order.
    """
    dimensions = summary.dimensions
    day_columns = ("resource_type", "day", *dimensions, *FIGURE_COLUMNS)
    types = (
        "varchar",
        "date",
        *("varchar" for _ in dimensions),
        *("bigint" for _ in FIGURE_COLUMNS),
    )
    arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(types, start=1))
    n = len(types)
    block_key = ", ".join(
        ("r.resource_type", "c.span", "c.first_day", *(f"r.{d}" for d in dimensions))
    )
    sql = (
        f"INSERT INTO {summary.table} ({', '.join((*summary.key, *FIGURE_COLUMNS))}) "
        f"SELECT {block_key}, {', '.join(f'SUM(r.{c})' for c in FIGURE_COLUMNS)} "
        f"FROM unnest({arrays}) AS r({', '.join(day_columns)}) "
        f"JOIN unnest(${n + 1}::date[], ${n + 2}::int2[], ${n + 3}::date[]) "
        "AS c(day, span, first_day) ON c.day = r.day "
        f"GROUP BY {block_key} ORDER BY {block_key} {on_conflict}"
    )
    rows = [day_key + tuple(figures) for day_key, figures in daily.items()]
    cover = covers(summary, {day_key[1] for day_key in daily})
    arguments = [list(column) for column in (*zip(*rows, strict=True), *zip(*cover, strict=True))]
    await client.execute_query(sql, arguments)


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
    names = ", ".join(columns)
    if is_postgres(client):
        arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(types, start=1))
        sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) {on_conflict}"
        await client.execute_query(sql, [list(column) for column in zip(*rows, strict=True)])
        return
    sql = (
        f"INSERT INTO {table} ({names}) VALUES ({placeholders(client, len(columns))}) {on_conflict}"
    )
    days = [i for i, kind in enumerate(types) if kind == "date"]
    await client.execute_many(sql, _sqlite_rows(rows, days))


def _sqlite_rows(rows: list[tuple[Any, ...]], day_index: list[int]) -> list[list[Any]]:
    # SQLite stores days as ISO text, as tortoise does.
    converted = []
    for row in rows:
        values = list(row)
        for i in day_index:
            values[i] = values[i].isoformat()
        converted.append(values)
    return converted
