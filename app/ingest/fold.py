"""The folder: ledger rows -> merged in memory -> usage_daily and the summaries, exactly once.

A pass takes the oldest waiting ledger rows, adds their counters up (consecutive batches of a live
log hit the same keys, so fifty batches write about what one does) and, in one transaction,
deletes those rows and adds their sum to the tables: a row is folded once or, if the pass fails or
the process dies, not at all and taken by the next pass. On PostgreSQL passes of several processes
share the rows (FOR UPDATE SKIP LOCKED); on SQLite they take turns on its single write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from app.ingest import ledger
from app.ingest.counting import add_counters
from app.ingest.domain_cap import DomainCap
from app.storage.database import connection, is_postgres

log = logging.getLogger(__name__)

# Ledger rows per pass: a pass's transaction stays short (~100 000 merged keys at most) while
# a backlog still folds many batches in each.
ROWS_PER_PASS = 100
_TAKE_POSTGRES = (
    "DELETE FROM ingest_ledger WHERE id IN (SELECT id FROM ingest_ledger ORDER BY id "
    "LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, counters"
)
# The DELETE takes SQLite's write lock at once, so two processes never fold the same rows.
_TAKE_SQLITE = (
    "DELETE FROM ingest_ledger WHERE id IN (SELECT id FROM ingest_ledger ORDER BY id LIMIT ?) "
    "RETURNING id, counters"
)


@dataclass(frozen=True)
class Folded:
    """What one or more passes folded."""

    batches: int = 0
    keys: int = 0  # merged usage_daily keys written


async def fold_pass(cap: DomainCap | None, rows: int = ROWS_PER_PASS) -> Folded:
    """Fold up to `rows` of the oldest waiting ledger rows; Folded() when none waits."""
    if not await _is_waiting():
        return Folded()
    async with in_transaction() as tx:
        take = _TAKE_POSTGRES if is_postgres(tx) else _TAKE_SQLITE
        # execute_query_dict: tortoise's execute_query drops what a DELETE returns on asyncpg.
        taken = sorted(await tx.execute_query_dict(take, [rows]), key=lambda row: row["id"])
        counters = ledger.merge(row["counters"] for row in taken)
        capped = await add_counters(tx, counters, cap)
    if cap is not None and capped is not None:
        cap.remember(capped)
    return Folded(len(taken), len(counters))


async def fold_waiting(cap: DomainCap | None, rows: int = ROWS_PER_PASS) -> Folded:
    """Passes until no ledger row waits (rows other processes hold are theirs to fold)."""
    batches = keys = 0
    while True:
        folded = await fold_pass(cap, rows)
        if not folded.batches:
            return Folded(batches, keys)
        batches, keys = batches + folded.batches, keys + folded.keys


async def _is_waiting() -> bool:
    # A read first: an idle folder never takes SQLite's write lock.
    _, found = await connection().execute_query("SELECT id FROM ingest_ledger LIMIT 1")
    return bool(found)


@asynccontextmanager
async def folding_periodically(interval_s: float, cap: DomainCap) -> AsyncIterator[None]:
    """Fold what waits every `interval_s` seconds while the app runs (0: once, at start, for
    rows left by a process that counted in the ledger; the requests fold their own)."""
    stop = asyncio.Event()
    task = asyncio.create_task(_fold_until(stop, interval_s, cap))
    try:
        yield
    finally:
        stop.set()  # a pass in progress ends with its commit, never cut in the middle
        await task


async def _fold_until(stop: asyncio.Event, interval_s: float, cap: DomainCap) -> None:
    while not stop.is_set():
        try:
            await _fold_until_empty(stop, cap)
        except Exception:
            # The rows stay in the ledger, the next pass takes them; the folder itself goes on
            # (the database may be back by then).
            log.exception("folding the ledger failed; retrying in %s s", interval_s)
        if interval_s <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def _fold_until_empty(stop: asyncio.Event, cap: DomainCap) -> None:
    # Pass by pass, so that a stop waits for one pass's commit, not for a whole backlog.
    batches = keys = 0
    while not stop.is_set():
        folded = await fold_pass(cap)
        batches, keys = batches + folded.batches, keys + folded.keys
        if not folded.batches:
            break
    if batches:
        log.debug("folded", extra={"batches": batches, "keys": keys})
