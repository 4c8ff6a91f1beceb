"""usage_by_status (app/storage/status_days.py): usage_daily's counters per owner, day, resource
type, operation and status class, every status included, which `_agg` reads when it splits by
day (or not at all) and filters on nothing but operation, status and resource type. Written by
every writer of counters, filled by its migration from the rows already stored, purged with
them; its sums saturate as every sum does. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from tortoise.transactions import in_transaction

from app.core.records import UsageKey
from app.ingest.counting import add_counters
from app.storage.database import connection, is_postgres, migrate_database
from app.storage.sql import BIGINT_MAX
from tests.helpers import (
    ADMIN,
    DAILY_DIMENSIONS,
    FEWER_BLOCKS,
    KEPT_ANSWERS,
    KEPT_SUMS,
    MONTHLY_PARTITIONS,
    STATUS_SUMMARY,
    dataset,
    ingest,
    line_on,
    stored_summaries,
    summaries_of_usage_daily,
    undo_daily_dimensions,
)

pytestmark = pytest.mark.anyio

ROADS = dataset("roads", "Roads")
LAKES = dataset("lakes")
WEEK = {"start": "2024-01-08", "end": "2024-01-14"}


async def ask(client: httpx.AsyncClient, *params: tuple[str, str]) -> dict[str, Any]:
    response = await client.get(
        "/api/daily-api-metrics/_agg",
        params=[*WEEK.items(), ("owner", "organization:org1"), *params],
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def days_of(answer: dict[str, Any]) -> dict[str, int]:
    return {
        day: figures["nbRequests"]
        for serie in answer["series"]
        for day, figures in serie["days"].items()
    }


async def test_agg_by_day_reads_the_summary_every_status_included(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        *(line_on("2024-01-08", resource=ROADS) for _ in range(2)),
        line_on("2024-01-08", resource=ROADS, status=404),
        line_on("2024-01-08", resource=LAKES, status=503),
        line_on("2024-01-09", resource=LAKES, track="readDataFiles", bytes_sent=5000),
        line_on("2024-01-09", resource=ROADS, owner={"type": "user", "id": "alice"}),
        line_on("2024-01-20", resource=ROADS),  # outside the week
    )
    stored = (await stored_summaries())["usage_by_status"]
    assert stored == (await summaries_of_usage_daily())["usage_by_status"]
    assert len(stored) == 6  # org1: 01-08 api ok, 4xx, 5xx; 01-09 download; 01-20; alice

    by_day = await ask(client, ("split", "day"))
    assert (by_day["nbRequests"], by_day["bytes"]) == (5, 9000)
    assert days_of(by_day) == {"2024-01-08": 4, "2024-01-09": 1}
    errors = await ask(client, ("split", "day"), ("statusClass", "clientError"))
    assert days_of(errors) == {"2024-01-08": 1}
    files = await ask(client, ("operationTrack", "readDataFiles"), ("resourceType", "datasets"))
    assert (files["nbRequests"], files["bytes"]) == (1, 5000)
    by_resource = await ask(client, ("split", "resource"))
    assert by_resource["nbRequests"] == 5

    # With usage_daily emptied behind the service's back, what the summary answers is the same;
    # a split by resource, which needs usage_daily, finds nothing: the days came from the summary.
    await connection().execute_script("DELETE FROM usage_facts")
    assert await ask(client, ("split", "day")) == by_day
    assert await ask(client, ("split", "day"), ("statusClass", "clientError")) == errors
    assert (await ask(client, ("split", "resource")))["nbRequests"] == 0


def _download(resource_id: str) -> UsageKey:
    return UsageKey(
        *("organization", "org1", date(2024, 1, 10), "datasets", resource_id, "download"),
        *("ok", "anonymous", "none", "none", ""),
    )


async def test_a_sum_past_the_ceiling_saturates_when_written_and_when_migrated(
    client: httpx.AsyncClient,
) -> None:
    # Three datasets of one owner and day at 2^62 bytes each: their status row passes 2^63.
    await ingest(client, line_on("2024-01-08", resource=ROADS, status=404), line_on("2024-01-09"))
    huge = {_download(name): [2, 2**62, 10] for name in ("a", "b", "c")}
    async with in_transaction() as tx:
        counted = await add_counters(tx, huge, None)
    assert counted.saturated["usage_by_status"] == 1
    written = (await stored_summaries())["usage_by_status"]
    saturated = ("organization", "org1", "2024-01-10", "datasets", "download", "ok")
    assert (*saturated, 6, BIGINT_MAX, 30) in written
    expected = [
        (*row[:6], row[6], min(row[7], BIGINT_MAX), row[8])
        for row in (await summaries_of_usage_daily())["usage_by_status"]
    ]
    assert written == expected

    # A database from before the summary: its migration adds up the rows already stored.
    # (tortoise plans nothing under an applied later migration: the next one is undone too.)
    await undo_daily_dimensions()
    db = connection()
    mark = "$1" if is_postgres(db) else "?"
    for migration, *tables in (
        MONTHLY_PARTITIONS,
        FEWER_BLOCKS,
        KEPT_SUMS,
        KEPT_ANSWERS,
        STATUS_SUMMARY,
    ):
        for name in tables:
            await db.execute_script(f"DROP TABLE {name}")
        await db.execute_query(
            f"DELETE FROM tortoise_migrations WHERE name = {mark}",  # noqa: S608
            [migration],
        )
    assert await migrate_database() == [
        STATUS_SUMMARY[0],
        KEPT_ANSWERS[0],
        KEPT_SUMS[0],
        FEWER_BLOCKS[0],
        MONTHLY_PARTITIONS[0],
        DAILY_DIMENSIONS[0],
    ]
    table = STATUS_SUMMARY[1]
    assert (await stored_summaries())["usage_by_status"] == written
    assert days_of(await ask(client, ("split", "day"))) == {
        "2024-01-08": 1,
        "2024-01-09": 1,
        "2024-01-10": 6,
    }
    if not is_postgres(db):  # never a REAL
        kinds = await db.execute_query_dict(
            f"SELECT DISTINCT typeof(bytes) AS kind FROM {table}"  # noqa: S608
        )
        assert [row["kind"] for row in kinds] == ["integer"]
