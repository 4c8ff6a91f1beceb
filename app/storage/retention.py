"""Retention: forget old Idempotency-Keys, and purge usage rows older than the days kept.

- ingest_batches rows received more than USAGE_METRICS_IDEMPOTENCY_DAYS ago are deleted: a replay
  of such a batch is counted again (its key is forgotten).
- The keys of consumer epochs whose grace is over are deleted (app/storage/epochs.py), whatever
  the other settings: nobody can hash a guess under them again
  (docs/security.md#distinct-consumers).
- With USAGE_METRICS_KEEP_DAYS, usage_daily rows, summary rows (usage_by_status's too) and
  consumer sketches (daily and their owners' unions) of days before the cut go. The cut is
  today - KEEP_DAYS rounded down to the first day of the largest summary block containing it
  (a calendar month): a summary row covers a whole block, so a cut inside one would leave the
  summaries and usage_daily disagreeing about the same period. Resources and owners rows stay
  (what the portal says of its datasets and their owners, not usage).

Rows go in chunks of CHUNK_ROWS, each its own short transaction (no long lock, no giant
transaction), found through each table's index; running it again removes nothing more. On
PostgreSQL the usage tables are partitioned by month: the months before the cut are dropped
whole, and the round also places the coming months and packs the closed ones
(app/storage/partitions.py). The server
runs it by itself every `purge_interval_s`; on PostgreSQL one process at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.config import Settings
from app.storage.database import DATABASE_ERRORS, connection, is_postgres
from app.storage.epochs import count_expired, delete_expired
from app.storage.facts import FACTS, RESOURCE_KEYS
from app.storage.kept_answers import forget_before, forget_old
from app.storage.models.summaries import MONTH_SPAN
from app.storage.partitions import (
    OPEN_FILLFACTOR,
    default_partition,
    drop_before,
    pack,
    place_around,
)
from app.storage.planner import refresh_statistics
from app.storage.status_days import STATUS_TABLE
from app.storage.summaries import CONSUMERS_BY_OWNER, SUMMARIES, covering

log = logging.getLogger(__name__)

CHUNK_ROWS = 5_000
# The first automatic purge waits this long after start-up (at most one interval), so that
# starting a server stays quick and tests that count statements are not disturbed.
FIRST_PURGE_DELAY_S = 600.0
_PURGE_LOCK_ID = 0x75736770  # "usgp": one purging process at a time on PostgreSQL
_RESOURCES_PER_PAGE = 500
KEYS_TABLE = "ingest_batches"
DAILY_TABLE = FACTS
CONSUMERS_TABLE = "usage_consumers"
CONSUMER_UNIONS_TABLE = CONSUMERS_BY_OWNER.table
EPOCHS_TABLE = "consumer_epochs"
DELIVERIES_TABLE = "deliveries"
# The deliveries ledger keeps the days a round or a command may still send (last month's
# report, the last days' alerts) and the dashboard's list of what went: past this, its rows go
# (a portal's thousands of subscriptions write a row each a day, with the alerts' quiet days).
DELIVERIES_KEEP_DAYS = 400


@dataclass(frozen=True)
class Cutoffs:
    """What goes: keys received before `keys_before`, usage rows of days before `days_before`."""

    keys_before: datetime
    days_before: date | None  # None: usage rows are kept forever


@dataclass(frozen=True)
class PurgeReport:
    cutoffs: Cutoffs
    rows: dict[str, int]  # table -> rows removed, or that would be with dry_run
    dry_run: bool


def cutoffs(settings: Settings, now: datetime) -> Cutoffs:
    keys_before = (now - timedelta(days=settings.idempotency_days)).astimezone(UTC)
    if settings.keep_days is None:
        return Cutoffs(keys_before, None)
    today = now.astimezone(settings.timezone).date()
    return Cutoffs(keys_before, whole_blocks_from(today - timedelta(days=settings.keep_days)))


def whole_blocks_from(day: date) -> date:
    """The first day of the largest summary block that contains `day` (its month)."""
    return min(first for summary in SUMMARIES for _, first in covering(summary, day))


async def purge(
    settings: Settings, now: datetime, *, dry_run: bool = False, chunk_rows: int = CHUNK_ROWS
) -> PurgeReport:
    """Apply the retention settings (or, with dry_run, count what they would remove)."""
    cut = cutoffs(settings, now)
    client = connection()
    rows: dict[str, int] = {}
    keys_before = cut.keys_before if is_postgres(client) else cut.keys_before.isoformat()
    if dry_run:
        rows[KEYS_TABLE] = await _count(client, KEYS_TABLE, "received_at", keys_before)
    else:
        rows[KEYS_TABLE] = await _delete_keys(client, keys_before, chunk_rows)
    today = now.astimezone(settings.timezone).date()
    if dry_run:
        rows[EPOCHS_TABLE] = await count_expired(client, settings.consumer_epoch, today)
    else:
        rows[EPOCHS_TABLE] = await delete_expired(client, settings.consumer_epoch, today)
    deliveries_before = today - timedelta(days=DELIVERIES_KEEP_DAYS)
    delivered = deliveries_before if is_postgres(client) else deliveries_before.isoformat()
    if dry_run:
        rows[DELIVERIES_TABLE] = await _count(client, DELIVERIES_TABLE, "day", delivered)
    else:
        # One statement: a day's worth of rows, found without an index on `day` in a small table.
        sql = f"DELETE FROM {DELIVERIES_TABLE} WHERE day < {_mark(client, 1)}"  # noqa: S608
        rows[DELIVERIES_TABLE], _ = await client.execute_query(sql, [delivered])
    if not dry_run:
        # Months' partitions where rows wait in the default ones, and the next month's ahead.
        await place_around(client, now.astimezone(UTC).date())
    if cut.days_before is not None:
        usage = await _purge_usage(client, cut.days_before, dry_run, chunk_rows)
        if not dry_run and any(usage.values()):
            await forget_before(client, cut.days_before)
        rows |= usage
    if not dry_run:
        await forget_old(client)
        # Once a day: what was ingested since (and purged now) reaches the planner's statistics.
        await refresh_statistics(client)
        # Last, the longest step (seconds a month at 10^7 rows): should it fail, the rest of
        # the round is done, and the next round packs what is left.
        await pack(client, now.astimezone(UTC).date())
    return PurgeReport(cut, rows, dry_run)


async def _purge_usage(
    client: BaseDBAsyncClient, before: date, dry_run: bool, chunk_rows: int
) -> dict[str, int]:
    postgres = is_postgres(client)
    day = before if postgres else before.isoformat()
    rows: dict[str, int] = {}
    # PostgreSQL: the months before the cut go whole, their partitions dropped; what is left
    # before it waits in the default partitions (docs/storage.md#monthly-partitions).
    dropped = {} if dry_run or not postgres else await drop_before(client, before)
    tables = (
        DAILY_TABLE,
        *(summary.table for summary in SUMMARIES),
        STATUS_TABLE,
        CONSUMERS_TABLE,
        CONSUMER_UNIONS_TABLE,
    )
    for table in tables:
        if dry_run:
            rows[table] = await _count(client, table, "day", day)
        elif postgres and table in OPEN_FILLFACTOR:
            rows[table] = dropped.get(table, 0) + await _delete_default(
                client, table, day, chunk_rows
            )
        elif table == DAILY_TABLE:
            rows[table] = await _delete_daily(client, day, chunk_rows)
        elif table == STATUS_TABLE:
            rows[table] = await _delete_statuses(client, day, chunk_rows)
        elif table == CONSUMERS_TABLE:
            rows[table] = await _delete_consumers(client, day, chunk_rows)
        elif table == CONSUMER_UNIONS_TABLE:
            rows[table] = await _delete_consumer_unions(client, day, chunk_rows)
        else:
            rows[table] = await _delete_summary(client, table, day, chunk_rows)
    return rows


@contextlib.asynccontextmanager
async def purging_periodically(settings: Settings) -> AsyncIterator[None]:
    """Run the purge in the background while the server runs (entered by the lifespan)."""
    task = asyncio.create_task(_purge_periodically(settings))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _purge_periodically(settings: Settings) -> None:
    await asyncio.sleep(min(FIRST_PURGE_DELAY_S, settings.purge_interval_s))
    while True:
        try:
            report = await _purge_alone(settings)
        except DATABASE_ERRORS as exc:
            log.warning("retention: the purge failed (%s); it runs again later", type(exc).__name__)
        except Exception:
            # A fault of ours must not end the loop for the life of the server.
            log.exception("retention: the purge failed; it runs again later")
        else:
            if report is not None and any(report.rows.values()):
                removed = ", ".join(f"{table} {n}" for table, n in report.rows.items())
                log.info("retention: rows removed: %s", removed)
        await asyncio.sleep(settings.purge_interval_s)


async def _purge_alone(settings: Settings) -> PurgeReport | None:
    """Purge unless another process is at it (PostgreSQL; on SQLite writes take turns)."""
    client = connection()
    if not is_postgres(client):
        return await purge(settings, datetime.now(UTC))
    async with client.acquire_connection() as raw:
        if not await raw.fetchval("SELECT pg_try_advisory_lock($1)", _PURGE_LOCK_ID):
            return None
        try:
            return await purge(settings, datetime.now(UTC))
        finally:
            await raw.execute("SELECT pg_advisory_unlock($1)", _PURGE_LOCK_ID)


async def _count(client: BaseDBAsyncClient, table: str, column: str, before: Any) -> int:
    sql = f"SELECT COUNT(*) AS n FROM {table} WHERE {column} < {_mark(client, 1)}"  # noqa: S608
    rows = await client.execute_query_dict(sql, [before])
    return int(rows[0]["n"])


async def _delete_keys(client: BaseDBAsyncClient, before: Any, chunk_rows: int) -> int:
    # Through the index on received_at (migration 0002).
    return await _delete_chunks(
        client,
        f"DELETE FROM {KEYS_TABLE} WHERE idempotency_key IN (SELECT idempotency_key "  # noqa: S608
        f"FROM {KEYS_TABLE} WHERE received_at < {_mark(client, 1)} LIMIT {_mark(client, 2)})",
        [before, chunk_rows],
    )


async def _delete_summary(client: BaseDBAsyncClient, table: str, day: Any, chunk_rows: int) -> int:
    """Per resource type and span: a range of the unique key (resource_type, span, day, ...)."""
    spans = next(summary for summary in SUMMARIES if summary.table == table).spans
    sql = (
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "  # noqa: S608
        f"WHERE resource_type = {_mark(client, 1)} AND span = {_mark(client, 2)} "
        f"AND day < {_mark(client, 3)} LIMIT {_mark(client, 4)})"
    )
    removed = 0
    for resource_type in await _resource_types(client):
        for span in (*spans, MONTH_SPAN):
            removed += await _delete_chunks(client, sql, [resource_type, span, day, chunk_rows])
    return removed


async def _delete_daily(client: BaseDBAsyncClient, day: Any, chunk_rows: int) -> int:
    """Per resource: a range of the (resource_key, day) index.

    Every row's dataset has its id in resource_keys (written first, never purged).
    """
    sql = (
        f"DELETE FROM {DAILY_TABLE} WHERE id IN (SELECT id FROM {DAILY_TABLE} "  # noqa: S608
        f"WHERE resource_key = {_mark(client, 1)} AND day < {_mark(client, 2)} "
        f"LIMIT {_mark(client, 3)})"
    )
    page = (
        f"SELECT id FROM {RESOURCE_KEYS.table} "  # noqa: S608
        f"WHERE id > {_mark(client, 1)} ORDER BY id LIMIT {_RESOURCES_PER_PAGE}"
    )
    removed, after = 0, -1
    while True:
        resources = await client.execute_query_dict(page, [after])
        for resource in resources:
            removed += await _delete_chunks(client, sql, [resource["id"], day, chunk_rows])
        if len(resources) < _RESOURCES_PER_PAGE:
            return removed
        after = resources[-1]["id"]


async def _delete_statuses(client: BaseDBAsyncClient, day: Any, chunk_rows: int) -> int:
    """Per owner: a range of the unique key (owner_key, day, ...)."""
    sql = (
        f"DELETE FROM {STATUS_TABLE} WHERE id IN (SELECT id FROM {STATUS_TABLE} "  # noqa: S608
        f"WHERE owner_key = {_mark(client, 1)} AND day < {_mark(client, 2)} "
        f"LIMIT {_mark(client, 3)})"
    )
    removed = 0
    for row in await client.execute_query_dict("SELECT id FROM owner_keys ORDER BY id"):
        removed += await _delete_chunks(client, sql, [row["id"], day, chunk_rows])
    return removed


async def _delete_consumers(client: BaseDBAsyncClient, day: Any, chunk_rows: int) -> int:
    """Through the unique key (day, ...): a range of its first column."""
    return await _delete_chunks(
        client,
        f"DELETE FROM {CONSUMERS_TABLE} WHERE id IN (SELECT id FROM {CONSUMERS_TABLE} "  # noqa: S608
        f"WHERE day < {_mark(client, 1)} LIMIT {_mark(client, 2)})",
        [day, chunk_rows],
    )


async def _delete_consumer_unions(client: BaseDBAsyncClient, day: Any, chunk_rows: int) -> int:
    """Per span: a range of the unique key (span, day, ...). The cut is a month's first day, so
    a month row goes whole with its days."""
    sql = (
        f"DELETE FROM {CONSUMER_UNIONS_TABLE} WHERE id IN (SELECT id "  # noqa: S608
        f"FROM {CONSUMER_UNIONS_TABLE} WHERE span = {_mark(client, 1)} "
        f"AND day < {_mark(client, 2)} LIMIT {_mark(client, 3)})"
    )
    removed = 0
    for span in (*CONSUMERS_BY_OWNER.spans, MONTH_SPAN):
        removed += await _delete_chunks(client, sql, [span, day, chunk_rows])
    return removed


async def _delete_default(client: BaseDBAsyncClient, table: str, day: Any, chunk_rows: int) -> int:
    """A partitioned table's rows before the cut left in its default partition (few: late lines
    of months without a partition yet), by their places in the table (no id index there)."""
    part = default_partition(table)
    return await _delete_chunks(
        client,
        f"DELETE FROM {part} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {part} "  # noqa: S608
        "WHERE day < $1 LIMIT $2))",
        [day, chunk_rows],
    )


async def _delete_chunks(client: BaseDBAsyncClient, sql: str, params: list[Any]) -> int:
    """Run a DELETE of at most params[-1] rows (its own transaction) until one removes fewer."""
    removed = 0
    while True:
        count, _ = await client.execute_query(sql, params)
        removed += count
        if count < params[-1]:
            return removed


async def _resource_types(client: BaseDBAsyncClient) -> list[str]:
    rows = await client.execute_query_dict(
        "SELECT DISTINCT resource_type FROM resources ORDER BY resource_type"
    )
    return [row["resource_type"] for row in rows]


def _mark(client: BaseDBAsyncClient, number: int) -> str:
    # Numbered placeholders in both dialects (SQLite reads ?1, ?2 too).
    return f"${number}" if is_postgres(client) else f"?{number}"
