"""The fold's mutual exclusion takes a bounded number of PostgreSQL locks, whatever the number of
datasets: a batch touching 10 000 datasets folds on PostgreSQL's default lock table (64 locks
per connection), where one lock per dataset ran out of shared memory (docs/storage.md#locks).

The fold is caught holding its locks by a blocker on its last bucket, and pg_locks is read then;
nothing waits on a timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.ingest.counting import LOCK_BUCKETS, lock_bucket
from app.ingest.domain_cap import DomainCap
from app.ingest.fold import Folded, fold_pass
from tests.helpers import (
    ADMIN_TOKEN,
    HELD_BACK_S,
    INGEST_TOKEN,
    NDJSON,
    app_client,
    dataset,
    line_on,
    ndjson,
    stored_summaries,
    summaries_of_usage_daily,
    usage_rows,
)

pytestmark = pytest.mark.anyio

DATASETS = 10_000
_DATASET_LOCKS = 0x666F6C64  # app/ingest/counting.py's first key


@pytest.fixture
async def client(postgres_url: str) -> AsyncIterator[httpx.AsyncClient]:
    held_back = Settings(
        database_url=postgres_url,
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        fold_interval_s=HELD_BACK_S,  # only the test folds
    )
    async with app_client(held_back) as http:
        yield http


async def test_a_batch_of_10_000_datasets_folds_holding_a_bounded_number_of_locks(
    client: httpx.AsyncClient, postgres_url: str
) -> None:
    lines = [line_on("2024-01-08", resource=dataset(f"d{n}")) for n in range(DATASETS)]
    answer = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert answer.json()["accepted"] == DATASETS
    buckets = {lock_bucket("datasets", f"d{n}") for n in range(DATASETS)}
    assert buckets == set(range(LOCK_BUCKETS))  # every bucket: the most locks a write takes

    observer = await asyncpg.connect(postgres_url)
    try:
        assert await observer.fetchval("SHOW max_locks_per_transaction") == "64"
        # The last bucket held elsewhere: the fold takes the others, in order, then waits.
        await observer.execute("SELECT pg_advisory_lock($1, $2)", _DATASET_LOCKS, LOCK_BUCKETS - 1)
        folding = asyncio.ensure_future(fold_pass(DomainCap(200), keys=2 * DATASETS))
        held = await _advisory_locks_of_the_waiting_fold(observer, folding)
        await observer.execute(
            "SELECT pg_advisory_unlock($1, $2)", _DATASET_LOCKS, LOCK_BUCKETS - 1
        )
        folded = await folding
    finally:
        await observer.close()
    assert held == LOCK_BUCKETS - 1
    assert folded == Folded(batches=1, keys=DATASETS)
    rows = await usage_rows()
    assert (len(rows), sum(row["requests"] for row in rows)) == (DATASETS, DATASETS)
    assert await stored_summaries() == await summaries_of_usage_daily()


async def _advisory_locks_of_the_waiting_fold(
    observer: asyncpg.Connection, folding: asyncio.Future[Folded]
) -> int:
    """The advisory locks granted to the session that waits for our blocker's lock."""
    deadline = time.monotonic() + 120.0  # a broken fold only; the machine may be busy
    while True:
        assert not folding.done(), folding.result()
        pid = await observer.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = $1 AND objid = $2",
            _DATASET_LOCKS,
            LOCK_BUCKETS - 1,
        )
        if pid is not None:
            held: int = await observer.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = $1",
                pid,
            )
            return held
        assert time.monotonic() < deadline, "the fold never waited for the last bucket"
        await asyncio.sleep(0.05)
