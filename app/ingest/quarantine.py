"""The quarantine: ledger rows that cannot be folded, set aside whole until an operator puts them
back (docs/ingest.md#when-a-batch-cannot-be-folded).

A row moves between ingest_ledger and ingest_quarantine in one transaction that deletes it from
one table and inserts it in the other, keeping its id: it is never lost, never in both, and put
back it folds first, as the oldest.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from app.core.records import FoldFailure
from app.storage.database import connection, is_postgres

_MOVE_POSTGRES = (
    "WITH moved AS (DELETE FROM ingest_ledger WHERE id = (SELECT id FROM ingest_ledger "
    "WHERE id = $1 FOR UPDATE SKIP LOCKED) RETURNING id, received_at, lines, counters) "
    "INSERT INTO ingest_quarantine (id, received_at, lines, counters, reason, quarantined_at) "
    "SELECT id, received_at, lines, counters, $2, $3 FROM moved"
)
_TAKE_SQLITE = "DELETE FROM ingest_ledger WHERE id = ? RETURNING id, received_at, lines, counters"
_INSERT_SQLITE = (
    "INSERT INTO ingest_quarantine (id, received_at, lines, counters, reason, quarantined_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# One statement on PostgreSQL: a row set aside meanwhile is either moved or left, never dropped.
_PUT_BACK_POSTGRES = (
    "WITH moved AS (DELETE FROM ingest_quarantine RETURNING id, received_at, lines, counters) "
    "INSERT INTO ingest_ledger (id, received_at, lines, counters) "
    "SELECT id, received_at, lines, counters FROM moved RETURNING 1"
)
# SQLite's first statement takes its single write lock: nothing is set aside in between.
_PUT_BACK_SQLITE = (
    "INSERT INTO ingest_ledger (id, received_at, lines, counters) "
    "SELECT id, received_at, lines, counters FROM ingest_quarantine"
)


async def set_aside(ledger_id: int, failure: FoldFailure, now: datetime) -> int | None:
    """Move ledger row `ledger_id` to the quarantine with `failure` as its reason; its lines, or
    None when another pass took the row meanwhile (it is theirs, folded or set aside)."""
    async with in_transaction() as tx:
        if is_postgres(tx):
            moved = await tx.execute_query_dict(
                f"{_MOVE_POSTGRES} RETURNING lines", [ledger_id, failure.value, now]
            )
            return int(moved[0]["lines"]) if moved else None
        taken = await tx.execute_query_dict(_TAKE_SQLITE, [ledger_id])
        if not taken:
            return None
        row = taken[0]
        values = [row["id"], row["received_at"], row["lines"], row["counters"]]
        await tx.execute_query(_INSERT_SQLITE, [*values, failure.value, now.isoformat()])
        return int(row["lines"])


async def put_back() -> int:
    """Move every quarantined row back to the ledger, for the folder to try again; how many."""
    async with in_transaction() as tx:
        if is_postgres(tx):
            return len(await tx.execute_query_dict(_PUT_BACK_POSTGRES))
        await tx.execute_query(_PUT_BACK_SQLITE)
        moved, _ = await tx.execute_query("DELETE FROM ingest_quarantine")
    return moved


async def count() -> int:
    """The rows waiting in the quarantine."""
    _, rows = await connection().execute_query("SELECT COUNT(*) AS n FROM ingest_quarantine")
    return int(rows[0]["n"])
