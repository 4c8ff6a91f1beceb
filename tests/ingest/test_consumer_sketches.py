"""Sketches in the ledger (what a row holds, what is refused) and in usage_consumers (concurrent
writers of one key on PostgreSQL keep both their consumers)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
import orjson
import pytest
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.records import UsageKey
from app.core.sketches import Sketch, as_sketch, consumer_hash, merge_bytes
from app.ingest import ledger
from app.ingest.aggregate import SketchKey
from app.ingest.ledger import LedgerRowError
from app.ingest.sketching import add_sketches
from tests.helpers import ADMIN_TOKEN, HELD_BACK_S, INGEST_TOKEN, app_client, table_rows

DAY = date(2024, 1, 8)
KEY = SketchKey(DAY, "datasets", "roads", "organization", "org1", "ANONYMOUS", "api")
USAGE = UsageKey(
    "organization", "org1", DAY, "datasets", "roads", "api", "ok", "ANONYMOUS", "none", "none", ""
)
SECRET = b"\x05" * 32


def sketch_of(*consumers: str) -> Sketch:
    return Sketch.of_hashes(consumer_hash(c, SECRET) for c in consumers)


def test_a_ledger_row_carries_its_sketches_and_merges_them() -> None:
    first = ledger.encode({USAGE: [2, 20, 2]}, {KEY: sketch_of("a", "b").to_bytes()})
    second = ledger.encode({USAGE: [1, 10, 1]}, {KEY: sketch_of("b", "c").to_bytes()})
    merged = ledger.merge_all([first, second, first])
    assert merged.counters == {USAGE: [5, 50, 5]}
    assert merged.sketches == {KEY: sketch_of("a", "b", "c")}
    assert as_sketch(merged.sketches[KEY]).estimate() == 3
    # A key seen once keeps its stored form: no 16 KiB of registers per sketch of a big batch.
    assert ledger.merge_all([second]).sketches == {KEY: sketch_of("b", "c").to_bytes()}


def test_a_row_from_before_consumers_has_no_sketches() -> None:
    text = orjson.dumps({"v": 1, "rows": [[*USAGE[:2], "2024-01-08", *USAGE[3:], 1, 2, 3]]})
    merged = ledger.merge_all([text.decode()])
    assert merged.sketches == {}
    assert merged.counters == {USAGE: [1, 2, 3]}
    assert "sketches" not in ledger.encode({USAGE: [1, 2, 3]})


def _row(sketches: Any) -> str:
    return orjson.dumps({"v": 1, "rows": [], "sketches": sketches}).decode()


GOOD = base64.b64encode(sketch_of("a").to_bytes()).decode()
FIELDS = ["2024-01-08", "datasets", "roads", "organization", "org1", "ANONYMOUS", "api"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_row({"a": 1}), id="not-a-list"),
        pytest.param(_row([[*FIELDS]]), id="no-sketch"),
        pytest.param(_row([[*FIELDS[:6], 7, GOOD]]), id="field-not-text"),
        pytest.param(_row([["2024-13-01", *FIELDS[1:], GOOD]]), id="bad-day"),
        pytest.param(_row([[*FIELDS, "not base64!"]]), id="bad-base64"),
        pytest.param(_row([[*FIELDS, base64.b64encode(b"\x09zz").decode()]]), id="bad-version"),
        pytest.param(
            _row([[*FIELDS, base64.b64encode(b"\x01" + b"x" * 20).decode()]]), id="bad-zlib"
        ),
    ],
)
def test_a_ledger_row_with_a_broken_sketch_is_refused(text: str) -> None:
    with pytest.raises(LedgerRowError):
        ledger.merge_all([text])


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[None]:
    settings = Settings(
        database_url=postgres_url,
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        fold_interval_s=HELD_BACK_S,
    )
    async with app_client(settings):
        yield


@pytest.mark.anyio
@pytest.mark.parametrize("stored_first", [False, True])
async def test_concurrent_writers_of_one_key_keep_both_their_consumers(
    postgres: None, postgres_url: str, stored_first: bool
) -> None:
    """A writer holds its transaction open over the key while a second one comes: the second
    waits for it (on the new row's insert, or on the stored row's lock) and merges its sketch
    into what the first wrote, so nobody is lost whatever the order."""
    if stored_first:
        async with in_transaction() as tx:
            await add_sketches(tx, {KEY: sketch_of("stored")})
    written, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with in_transaction() as tx:
            await add_sketches(tx, {KEY: sketch_of("a", "b")})
            written.set()
            await release.wait()

    async def second() -> None:
        async with in_transaction() as tx:
            await add_sketches(tx, {KEY: sketch_of("b", "c", "d")})

    holder = asyncio.create_task(first())
    await written.wait()  # the first holds its row (new or stored) before the second starts
    waiter = asyncio.create_task(second())
    observer = await asyncpg.connect(postgres_url.replace("postgres://", "postgresql://", 1))
    try:
        while not await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() AND query LIKE '%usage_consumers%'"
        ):
            assert not waiter.done(), "the second writer did not wait for the first"
            await asyncio.sleep(0.01)  # polling a condition, not timing it
    finally:
        await observer.close()
    release.set()
    await asyncio.gather(holder, waiter)
    rows = await table_rows("usage_consumers")
    assert len(rows) == 1
    union = merge_bytes([bytes(rows[0]["sketch"])])
    expected = ("stored",) if stored_first else ()
    assert union == sketch_of(*expected, "a", "b", "c", "d")
    # The owner's and every owner's day and month: both writers' consumers in each.
    unions = await table_rows("usage_consumers_by_owner")
    assert len(unions) == 4
    for row in unions:
        assert merge_bytes([bytes(row["sketch"])]) == union
