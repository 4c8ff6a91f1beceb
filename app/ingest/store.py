"""Write a reduced batch in one transaction: counter increments, summaries, resources, its key.

Counts are added with INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x (tortoise's
bulk_create(on_conflict=...) would replace them). The Idempotency-Key row is written first in the
same transaction, so a batch counts exactly once or not at all, and a concurrent replay of the
same key waits on that row until the first request commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import (
    IntegrityError,
)
from tortoise.transactions import in_transaction

from app.core.records import Owner, UsageKey
from app.errors import DatabaseUnavailableError, IdempotencyConflictError
from app.ingest.aggregate import BatchTotals, Counters
from app.ingest.domain_cap import CappedBatch, DomainCap
from app.storage.database import DATABASE_ERRORS, connection, is_postgres, placeholders
from app.storage.models import ResourceRow, UsageDaily
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.models.usage import COUNTER_COLUMNS, KEY_COLUMNS
from app.storage.sql import column_types
from app.storage.summaries import Summary, Totals, batch_days, covers, spread

_RESOURCE_COLUMNS = (
    "resource_type",
    "resource_id",
    "title",
    "owner_type",
    "owner_id",
    "first_day",
    "last_day",
)
_COUNTER_TYPES = column_types(UsageDaily, (*KEY_COLUMNS, *COUNTER_COLUMNS))
_RESOURCE_TYPES = column_types(ResourceRow, _RESOURCE_COLUMNS)


@dataclass(frozen=True)
class StoredBatch:
    body_sha256: str
    answer: str  # the JSON answer given the first time


@dataclass(frozen=True)
class BatchWrite:
    totals: BatchTotals
    idempotency_key: str | None
    body_sha256: str
    answer: str
    received_at: datetime
    key_wait_ms: int = 30_000
    domain_cap: DomainCap | None = None


async def find_batch(key: str) -> StoredBatch | None:
    client = connection()
    sql = "SELECT body_sha256, answer FROM ingest_batches WHERE idempotency_key = " + placeholders(
        client, 1
    )
    try:
        _, rows = await client.execute_query(sql, [key])
    except DATABASE_ERRORS as exc:
        raise _unavailable() from exc
    return StoredBatch(rows[0]["body_sha256"], rows[0]["answer"]) if rows else None


async def known_owners(refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Owner]:
    """Owners of these resources from the resources table, in one query."""
    wanted = set(refs)
    if not wanted:
        return {}
    client = connection()
    ids = sorted({resource_id for _, resource_id in wanted})
    sql = (
        "SELECT resource_type, resource_id, owner_type, owner_id FROM resources "
        f"WHERE resource_id IN ({placeholders(client, len(ids))})"
    )
    try:
        _, rows = await client.execute_query(sql, ids)
    except DATABASE_ERRORS as exc:
        raise _unavailable() from exc
    found = {
        (r["resource_type"], r["resource_id"]): Owner(r["owner_type"], r["owner_id"]) for r in rows
    }
    return {ref: owner for ref, owner in found.items() if ref in wanted}


async def write_batch(batch: BatchWrite) -> StoredBatch | None:
    """Count the batch; if its key was already counted, write nothing and return that batch."""
    cap = batch.domain_cap
    capped: CappedBatch | None = None
    try:
        async with in_transaction() as client:
            if batch.idempotency_key is not None:
                await _insert_batch_row(client, batch)
            # Before the counters: a dataset's resources row lock orders the batches that count
            # it, so the domain cap sees what the batches before stored (app/ingest/domain_cap.py).
            await _upsert_resources(client, batch.totals)
            counters = batch.totals.counters
            if cap is not None:
                capped = await cap.apply(client, counters)
                counters = capped.counters
            await _upsert_counters(client, counters)
            for summary, rows in batch_days(counters).items():
                await _upsert_summary(client, summary, rows)
        if cap is not None and capped is not None:
            cap.remember(capped)
        return None
    except IntegrityError as exc:
        if batch.idempotency_key is not None:
            existing = await find_batch(batch.idempotency_key)
            if existing is not None:
                return existing
        raise _unavailable() from exc
    except DATABASE_ERRORS as exc:
        if isinstance(exc, asyncpg.LockNotAvailableError) or isinstance(
            exc.__cause__, asyncpg.LockNotAvailableError
        ):
            raise IdempotencyConflictError(
                "a request with this Idempotency-Key is still being processed; "
                "retry later with the same key"
            ) from exc
        raise _unavailable() from exc


async def _insert_batch_row(client: BaseDBAsyncClient, batch: BatchWrite) -> None:
    if is_postgres(client):
        # A replay waits for the first request's transaction on this row, at most this long.
        await client.execute_script(f"SET LOCAL lock_timeout = {int(batch.key_wait_ms)}")
    sql = (
        "INSERT INTO ingest_batches (idempotency_key, body_sha256, answer, received_at) "
        f"VALUES ({placeholders(client, 4)})"
    )
    received = batch.received_at if is_postgres(client) else batch.received_at.isoformat()
    await client.execute_query(
        sql, [batch.idempotency_key, batch.body_sha256, batch.answer, received]
    )
    if is_postgres(client):
        # Counter rows shared with concurrent batches are worth waiting for: no timeout there.
        await client.execute_script("SET LOCAL lock_timeout = 0")


async def _upsert_counters(client: BaseDBAsyncClient, counters: dict[UsageKey, Counters]) -> None:
    # In key order: a stable lock order for concurrent writers.
    rows = [(*key, *counts) for key, counts in sorted(counters.items())]
    if not rows:
        return
    increments = ", ".join(f"{c} = usage_daily.{c} + excluded.{c}" for c in COUNTER_COLUMNS)
    await _upsert(
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


async def _upsert_resources(client: BaseDBAsyncClient, totals: BatchTotals) -> None:
    if not totals.resources:
        return
    rows = [
        (ref[0], ref[1], seen.title, seen.owner.type, seen.owner.id, seen.first_day, seen.last_day)
        for ref, seen in sorted(totals.resources.items())
    ]
    await _upsert(
        client,
        "resources",
        _RESOURCE_COLUMNS,
        _RESOURCE_TYPES,
        rows,
        "ON CONFLICT (resource_type, resource_id) DO UPDATE SET "
        "title = COALESCE(excluded.title, resources.title), "
        "owner_type = excluded.owner_type, owner_id = excluded.owner_id, "
        "first_day = CASE WHEN excluded.first_day < resources.first_day "
        "THEN excluded.first_day ELSE resources.first_day END, "
        "last_day = CASE WHEN excluded.last_day > resources.last_day "
        "THEN excluded.last_day ELSE resources.last_day END",
    )


async def _upsert(
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


def _unavailable() -> DatabaseUnavailableError:
    return DatabaseUnavailableError(
        "the database did not take the batch; nothing of it was counted: retry later with the "
        "same Idempotency-Key"
    )
