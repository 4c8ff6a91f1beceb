"""Watch, and hold, a batch's transaction from a second PostgreSQL connection.

A fault test needs the fault to land at a known point of the batch, not after a guessed delay.
pg_locks shows where the server's backend is: from its first statement, the Idempotency-Key
INSERT, until it commits or rolls back, a batch's transaction holds a RowExclusiveLock on
ingest_batches (nothing else takes one); a lock it waits for is not granted. pg_stat_activity
would not do: it reports a statement that waits while being prepared as `idle`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from app.storage.summaries import SUMMARIES
from tests.helpers import stored_key

POLL_S = 0.005
WITHIN_S = 30.0

_OPEN_BATCHES = (
    "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'RowExclusiveLock' "
    "AND relation = 'ingest_batches'::regclass "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_BLOCKED_BATCHES = (
    "SELECT count(*) FROM pg_locks WHERE granted AND mode = 'RowExclusiveLock' "
    "AND relation = 'ingest_batches'::regclass "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND pid IN (SELECT pid FROM pg_locks WHERE NOT granted)"
)


@asynccontextmanager
async def watching(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        conn.terminate()  # no goodbye: the cluster may have crashed under it


async def lock_summaries(conn: asyncpg.Connection) -> None:
    """Until this connection's transaction ends, a batch stops at its first summary write, its
    key row, resources and counters written and not committed."""
    tables = ", ".join(summary.table for summary in SUMMARIES)
    await conn.execute(f"BEGIN; LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")


async def release(conn: asyncpg.Connection) -> None:
    await conn.execute("ROLLBACK")


async def batch_blocked(conn: asyncpg.Connection) -> bool:
    """A batch's transaction waits for a lock."""
    count: int = await conn.fetchval(_BLOCKED_BATCHES)
    return count > 0


async def batch_writing(conn: asyncpg.Connection) -> bool:
    """A batch's transaction is open: begun, not committed."""
    count: int = await conn.fetchval(_OPEN_BATCHES)
    return count > 0


async def no_batch_open(conn: asyncpg.Connection) -> bool:
    """No batch's transaction is open: the backend of a killed server has ended its own too
    (rolled back, or committed if the COMMIT was sent before the kill)."""
    return not await batch_writing(conn)


def batch_committed(key: str) -> Callable[[asyncpg.Connection], Awaitable[bool]]:
    async def committed(conn: asyncpg.Connection) -> bool:
        sql = "SELECT count(*) FROM ingest_batches WHERE idempotency_key = $1"
        count: int = await conn.fetchval(sql, stored_key(key))
        return count > 0

    return committed


async def wait_for(
    condition: Callable[[asyncpg.Connection], Awaitable[bool]],
    conn: asyncpg.Connection,
    is_answered: Callable[[], bool],
) -> None:
    """Poll until `condition` holds; fail if the batch's sender has its answer first."""
    for _ in range(int(WITHIN_S / POLL_S)):
        answered = is_answered()  # before the check: an answer comes after the commit
        if await condition(conn):
            return
        if answered:
            pytest.fail(f"the batch was answered before {condition.__name__}")
        await asyncio.sleep(POLL_S)
    pytest.fail(f"not {condition.__name__} within {WITHIN_S} s")
