"""How fresh the figures are: what still waits in the ingest ledger (app/ingest/fold.py).

For GraphQL's `freshness` and the dashboard's "updated N s ago": the figures hold every batch
received before `folded_until`; `waiting_batches` (holding `waiting_lines`) are counted, answered,
and not in the figures yet. `quarantined_batches` (holding `quarantined_lines`) could not be
folded and wait, set aside, for an operator (docs/ingest.md#when-a-batch-cannot-be-folded): they
are not in the figures whatever their reception time, and do not hold `folded_until` back.
Read on the request's source: a read replica answers for its own position, never later than
its last replayed commit (docs/deploy.md#past-one-machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.storage.reading import read_position, read_rows

_WAITING = (
    "SELECT COUNT(*) AS batches, COALESCE(SUM(lines), 0) AS lines, MIN(received_at) AS oldest, "
    "(SELECT COUNT(*) FROM ingest_quarantine) AS quarantined_batches, "
    "(SELECT COALESCE(SUM(lines), 0) FROM ingest_quarantine) AS quarantined_lines "
    "FROM ingest_ledger"
)


@dataclass(frozen=True)
class Freshness:
    folded_until: datetime  # every batch received before this is in the figures
    waiting_batches: int
    waiting_lines: int  # their accepted lines
    quarantined_batches: int = 0
    quarantined_lines: int = 0

    def age_seconds(self, now: datetime) -> float:
        """How old the figures are at `now`: 0 when nothing waits."""
        return max(0.0, (now - self.folded_until).total_seconds())


async def freshness(now: datetime) -> Freshness:
    """What waits in the ledger now; `now` is the answer's folded_until when nothing does (on a
    replica behind the primary, the time up to which it holds the primary's commits)."""
    row = (await read_rows(_WAITING))[0]
    held = await read_position(now)
    oldest = row["oldest"]
    if isinstance(oldest, str):  # SQLite keeps datetimes as ISO text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    folded_until = held if oldest is None else min(oldest, held)
    return Freshness(
        folded_until,
        int(row["batches"]),
        int(row["lines"]),
        int(row["quarantined_batches"]),
        int(row["quarantined_lines"]),
    )
