"""What a database holds after a fault: sums per dataset and operation, the batches' keys."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from app.storage.database import database
from tests.helpers import sent_key, stored_summaries, summaries_of_usage_daily

Sums = dict[tuple[str, str], tuple[int, int]]  # (resource_id, operation) -> (requests, bytes)


@dataclass(frozen=True)
class Counted:
    sums: Sums
    keys: list[str]  # the Idempotency-Keys in ingest_batches, sorted
    summaries_add_up: bool  # every summary table equals usage_daily added up


async def read_counted(database_url: str) -> Counted:
    """Open the database in this process (the servers may be dead), read it, close it."""
    async with database(database_url) as client:
        rows = await client.execute_query_dict(
            "SELECT resource_id, operation, SUM(requests) AS requests, SUM(bytes) AS bytes "
            "FROM usage_daily GROUP BY resource_id, operation"
        )
        batches = await client.execute_query_dict("SELECT idempotency_key FROM ingest_batches")
        add_up = await stored_summaries() == await summaries_of_usage_daily()
    sums = {
        (row["resource_id"], row["operation"]): (int(row["requests"]), int(row["bytes"]))
        for row in rows
    }
    keys = sorted(sent_key(row["idempotency_key"]) for row in batches)
    return Counted(dict(sorted(sums.items())), keys, add_up)


def sums_of(lines: Iterable[tuple[str, str, int]]) -> Sums:
    """The sums that (dataset, operation, bytes) lines, each one request with status 200, make."""
    requests: Counter[tuple[str, str]] = Counter()
    sent: Counter[tuple[str, str]] = Counter()
    for dataset, operation, bytes_sent in lines:
        requests[dataset, operation] += 1
        sent[dataset, operation] += bytes_sent
    return {key: (requests[key], sent[key]) for key in sorted(requests)}


async def ledger_rows(database_url: str) -> int:
    """Ledger rows not folded yet."""
    async with database(database_url) as client:
        rows = await client.execute_query_dict("SELECT COUNT(*) AS n FROM ingest_ledger")
    return int(rows[0]["n"])
