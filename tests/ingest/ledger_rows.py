"""Ledger rows as a poisoned batch or a bug leaves them, and the rows a saturated sum leaves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.storage.database import connection, is_postgres, placeholders
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.models.usage import COUNTER_COLUMNS
from app.storage.sql import BIGINT_MAX
from app.storage.summaries import SUMMARIES
from tests.helpers import table_rows

# Every table of counters, with its counter columns.
COUNTERS = {
    "usage_daily": COUNTER_COLUMNS,
    "usage_by_status": COUNTER_COLUMNS,
    **{s.table: FIGURE_COLUMNS for s in SUMMARIES},
}


async def insert_ledger_row(text: str, lines: int) -> int:
    """A ledger row holding `text` as its counters, received now; its id."""
    db = connection()
    received: Any = datetime.now(UTC) if is_postgres(db) else datetime.now(UTC).isoformat()
    values = placeholders(db, 3)
    sql = f"INSERT INTO ingest_ledger (received_at, lines, counters) VALUES ({values})"  # noqa: S608
    rows = await db.execute_query_dict(f"{sql} RETURNING id", [received, lines, text])
    return int(rows[0]["id"])


async def rows_at_ceiling() -> dict[str, int]:
    """Per table of counters, the rows with a counter at BIGINT_MAX."""
    found = {}
    for table, columns in COUNTERS.items():
        rows = await table_rows(table)
        found[table] = sum(1 for row in rows if any(row[c] == BIGINT_MAX for c in columns))
    return found
