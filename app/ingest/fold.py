"""The fold: ledger rows -> merged in memory -> usage_daily and the summaries, exactly once.

A pass takes the oldest waiting ledger rows, adds their counters up (consecutive batches of a live
log hit the same keys, so fifty batches write about what one does) and, in one transaction,
deletes those rows and adds their sum to the tables: a row is folded once or, if the pass fails or
the process dies, not at all and taken by the next pass. On PostgreSQL passes of several processes
share the rows (FOR UPDATE SKIP LOCKED); on SQLite they take turns on its single write lock.

A pass is bounded in rows and in merged keys, and merges in slices that give the event loop back.
A pass that fails for a lasting reason is done again row by row: the rows that fold are folded,
a row that fails alone is set aside in the quarantine (app/ingest/quarantine.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.core.records import FoldFailure
from app.ingest import ledger, quarantine
from app.ingest.counting import add_counters, prepare
from app.ingest.domain_cap import DomainCap
from app.ingest.failures import classify, describe
from app.ingest.sketching import add_sketches
from app.storage.database import connection, is_postgres

log = logging.getLogger(__name__)

# Ledger rows per pass: a backlog still folds many batches in each.
ROWS_PER_PASS = 100
# Merged keys past which a pass takes no more rows: its transaction stays short (on SQLite every
# request waits for it) and its memory small; measured in docs/storage.md#the-fold.
KEYS_PER_PASS = 5_000
# Ledger rows' rows merged between two returns to the event loop (~10 ms of work).
MERGE_SLICE = 5_000
# Sketches merged between two returns to the event loop (~1 ms each: 16 384 registers).
SKETCH_SLICE = 10
# A pass whose rows another SQLite process folded first is done again, this many times at most.
_RACES = 3
_TAKE_POSTGRES = (
    "SELECT id, counters FROM ingest_ledger WHERE id > $1 ORDER BY id LIMIT $2 "
    "FOR UPDATE SKIP LOCKED"
)
_TAKE_ONE_POSTGRES = "SELECT id, counters FROM ingest_ledger WHERE id = $1 FOR UPDATE SKIP LOCKED"
# Read outside the write transaction: SQLite's single write lock is held for the write alone.
_TAKE_SQLITE = "SELECT id, counters FROM ingest_ledger WHERE id > ? ORDER BY id LIMIT ?"
_TAKE_ONE_SQLITE = "SELECT id, counters FROM ingest_ledger WHERE id = ?"


@dataclass(frozen=True)
class Folded:
    """What one or more passes did."""

    batches: int = 0
    keys: int = 0  # merged usage_daily keys written
    set_aside: tuple[FoldFailure, ...] = ()  # the reason of each row moved to the quarantine
    saturated: Counter[str] = field(default_factory=Counter)  # rows written at a ceiling, by table

    def __add__(self, other: Folded) -> Folded:
        return Folded(
            self.batches + other.batches,
            self.keys + other.keys,
            self.set_aside + other.set_aside,
            self.saturated + other.saturated,
        )


class FoldError(Exception):
    """A pass that failed for no row's fault (the database is away, or every pass would fail
    alike): its rows wait in the ledger. Its text is the failure's code, never a value."""

    def __init__(self, failure: FoldFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


@dataclass(frozen=True)
class _Limits:
    rows: int
    keys: int
    only: int | None = None  # one ledger row by id


class _RacedError(Exception):
    """Another SQLite process folded some of the rows this pass read: nothing written."""


async def fold_pass(
    cap: DomainCap | None, rows: int = ROWS_PER_PASS, keys: int = KEYS_PER_PASS
) -> Folded:
    """Fold the oldest waiting ledger rows, up to `rows` rows or `keys` merged keys; Folded()
    when none waits. FoldError when nothing could be folded for no row's fault."""
    try:
        if not await _is_waiting():
            return Folded()
    except Exception as exc:
        raise FoldError(classify(exc)) from exc
    taken: list[int] = []
    try:
        return await _fold_raced(cap, _Limits(rows, keys), taken)
    except Exception as exc:
        failure = classify(exc)
        if not failure.blames_row or not taken:
            raise FoldError(failure) from exc
    return await _fold_one_by_one(cap, taken, keys)


async def fold_waiting(
    cap: DomainCap | None, rows: int = ROWS_PER_PASS, keys: int = KEYS_PER_PASS
) -> Folded:
    """Passes until no ledger row waits (rows other processes hold are theirs to fold)."""
    done = Folded()
    while True:
        folded = await fold_pass(cap, rows, keys)
        if not folded.batches and not folded.set_aside:
            return done
        done += folded


async def _fold_one_by_one(cap: DomainCap | None, ids: list[int], keys: int) -> Folded:
    """Each row of a failed pass alone: folded, or set aside when it fails for a lasting reason."""
    done = Folded()
    for ledger_id in ids:
        try:
            done += await _fold_raced(cap, _Limits(1, keys, only=ledger_id), [])
            continue
        except Exception as exc:
            failure = classify(exc)
            if not failure.blames_row:
                raise FoldError(failure) from exc
            cause = describe(exc)
        try:
            lines = await quarantine.set_aside(ledger_id, failure, datetime.now(UTC))
        except Exception as exc:
            raise FoldError(classify(exc)) from exc
        if lines is not None:
            # Once per row: it leaves the ledger. The cause's type, never its text (it may hold
            # the row's values).
            log.error(
                "a batch of %s lines could not be folded (%s: %s); set aside in the quarantine "
                "as ledger row %s until `usage-metrics fold --retry-quarantined`",
                lines,
                failure.value,
                cause,
                ledger_id,
                extra={"reason": failure.value},
            )
            done += Folded(set_aside=(failure,))
    return done


async def _fold_raced(cap: DomainCap | None, limits: _Limits, taken: list[int]) -> Folded:
    for _ in range(_RACES):
        try:
            return await _fold(cap, limits, taken)
        except _RacedError:
            taken.clear()
    return Folded()


async def _fold(cap: DomainCap | None, limits: _Limits, taken: list[int]) -> Folded:
    """One pass; `taken` gets the ids of the rows it read, for a retry row by row."""
    if is_postgres(connection()):
        async with in_transaction() as tx:
            merged = await _take(tx, limits, taken)
            if not taken:
                return Folded()
            prepared = await prepare(merged.counters, postgres=True)  # before any lock
            await tx.execute_query(
                "DELETE FROM ingest_ledger WHERE id = ANY($1::bigint[])", [taken]
            )
            counted = await add_counters(tx, merged.counters, cap, prepared)
            await add_sketches(tx, merged.sketches)
    else:
        merged = await _take(connection(), limits, taken)
        if not taken:
            return Folded()
        prepared = await prepare(merged.counters, postgres=False)
        async with in_transaction() as tx:
            ids = ", ".join("?" * len(taken))
            deleted, _ = await tx.execute_query(
                f"DELETE FROM ingest_ledger WHERE id IN ({ids})", list(taken)
            )
            if deleted != len(taken):
                raise _RacedError  # rolls back: those rows are another process's
            counted = await add_counters(tx, merged.counters, cap, prepared)
            await add_sketches(tx, merged.sketches)
    if cap is not None and counted.capped is not None:
        cap.remember(counted.capped)
    return Folded(len(taken), len(merged.counters), saturated=Counter(counted.saturated))


async def _take(client: BaseDBAsyncClient, limits: _Limits, taken: list[int]) -> ledger.Merged:
    """The oldest rows merged, taken in groups sized from the keys of those already read, while
    the pass has fewer than `limits.rows` rows and the next would not bring it past
    `limits.keys` merged keys (the first row is always taken, and merged whole)."""
    merged = ledger.Merged()
    postgres = is_postgres(client)
    after = read_keys = 0
    while len(taken) < limits.rows and len(merged.counters) < limits.keys:
        if limits.only is not None:
            sql = _TAKE_ONE_POSTGRES if postgres else _TAKE_ONE_SQLITE
            arguments: list[Any] = [limits.only]
            wanted = 1
        else:
            wanted = _group(limits, len(taken), len(merged.counters), read_keys)
            if wanted <= 0:
                break
            arguments = [after, wanted]
            sql = _TAKE_POSTGRES if postgres else _TAKE_SQLITE
        found = await client.execute_query_dict(sql, arguments)
        for row in found:
            taken.append(row["id"])
            rows, sketches = ledger.decode_row(row["counters"])
            read_keys += len(rows)
            await _merge(merged, rows)
            await _merge_sketches(merged, sketches)
        if len(found) < wanted or limits.only is not None:
            break
        after = found[-1]["id"]
    return merged


def _group(limits: _Limits, rows: int, merged_keys: int, read_keys: int) -> int:
    """How many rows to take next: one at first, then as many as the keys left allow at the
    rows' average so far (0: the next row would pass the bound)."""
    if not rows:
        return 1
    per_row = max(1, read_keys // rows)
    return min(limits.rows - rows, (limits.keys - merged_keys) // per_row)


async def _merge(merged: ledger.Merged, rows: list[Any]) -> None:
    for start in range(0, len(rows), MERGE_SLICE):
        merged.add(rows[start : start + MERGE_SLICE])
        await asyncio.sleep(0)  # a ledger row of a 16 MiB batch holds ~100 000 keys


async def _merge_sketches(merged: ledger.Merged, sketches: list[Any]) -> None:
    for start in range(0, len(sketches), SKETCH_SLICE):
        merged.add_sketches(sketches[start : start + SKETCH_SLICE])
        await asyncio.sleep(0)


async def _is_waiting() -> bool:
    # A read first: an idle folder never takes SQLite's write lock.
    _, found = await connection().execute_query("SELECT id FROM ingest_ledger LIMIT 1")
    return bool(found)
