"""Monthly partitions of the usage tables (PostgreSQL; SQLite keeps single tables and every step
is a no-op there): rows of a month without a partition wait in the default partitions, place()
moves them into their months, pack() rewrites a closed month full, the retention drops whole
months, and every figure and row stays the same through each step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.storage.database import connection, is_postgres
from app.storage.partitions import OPEN_FILLFACTOR, pack, place, place_around
from tests.helpers import (
    app_client,
    dataset,
    graphql_data,
    ingest,
    line_on,
    stored_summaries,
    summaries_of_usage_daily,
    usage_rows,
)

pytestmark = pytest.mark.anyio

FIGURES = """query($period: PeriodInput!) {
  usage(period: $period) {
    apiCalls { current previous } downloads { current previous }
    daily { day apiCalls downloads }
    breakdown(by: DOMAIN) { edges { node { key apiCalls { current previous } } } }
  }
  datasets(period: $period, orderBy: API_CALLS) {
    edges { node { id usage(period: $period) { apiCalls { current } } } }
  }
}"""
PERIOD = {"start": "2024-02-01", "end": "2024-03-31"}  # previous: 2023-12-03..2024-01-31
LINES = (
    *[line_on("2024-01-15", referer="https://a.example/") for _ in range(2)],
    line_on("2024-01-31", track="readDataFiles"),
    *[line_on("2024-02-01", referer="https://b.example/") for _ in range(3)],
    line_on("2024-03-10", resource=dataset("bridges")),
)


async def partitions() -> dict[str, list[tuple[str, Any, Any]]]:
    """Each partitioned table's partitions: (name, fill factor, comment); {} on SQLite."""
    client = connection()
    if not is_postgres(client):
        return {}
    rows = await client.execute_query_dict(
        "SELECT p.relname AS parent, c.relname AS name, c.reloptions AS options, "
        "obj_description(c.oid, 'pg_class') AS comment FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE c.relkind = 'r' ORDER BY 1, 2"
    )
    found: dict[str, list[tuple[str, Any, Any]]] = {}
    for row in rows:
        found.setdefault(row["parent"], []).append(
            (row["name"], (row["options"] or [None])[0], row["comment"])
        )
    return found


async def default_rows() -> dict[str, int]:
    found = {}
    for table in OPEN_FILLFACTOR:
        sql = f"SELECT COUNT(*) AS n FROM {table}_default"  # noqa: S608
        found[table] = (await connection().execute_query_dict(sql))[0]["n"]
    return found


async def index_counts(table: str) -> tuple[int, int]:
    """The table's indexes, and how many of them back a unique constraint."""
    rows = await connection().execute_query_dict(
        "SELECT COUNT(*) AS n, COUNT(c.oid) AS keys FROM pg_index i LEFT JOIN pg_constraint c "
        "ON c.conindid = i.indexrelid AND c.contype = 'u' WHERE i.indrelid = $1::regclass",
        [table],
    )
    return rows[0]["n"], rows[0]["keys"]


async def month_partitions() -> list[str]:
    """The month partitions there are: none at a test's start (app_client drops those an
    earlier test made, tests/helpers.py's empty_tables)."""
    return [
        name for rows in (await partitions()).values() for name, _, _ in rows
        if not name.endswith("_default")
    ]  # fmt: skip


async def snapshot(client: httpx.AsyncClient) -> Any:
    return (
        await graphql_data(client, FIGURES, period=PERIOD),
        await usage_rows(),
        await stored_summaries(),
    )


@asynccontextmanager
async def seeded(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app with LINES counted, no month partition made yet; its snapshot."""
    async with app_client(settings) as client:
        assert await month_partitions() == []
        await ingest(client, *LINES)
        yield client, await snapshot(client)


async def test_rows_wait_in_the_default_partitions_until_their_months_are_placed(
    settings: Settings,
) -> None:
    async with seeded(settings) as (client, before):
        assert before[0]["usage"]["apiCalls"] == {"current": 4, "previous": 2}
        postgres = is_postgres(connection())
        if postgres:
            assert (await default_rows())["usage_facts"] == 4  # one row per day and dataset

        made = await place(connection(), [date(2024, 1, 20), date(2024, 2, 1)])

        assert await snapshot(client) == before
        assert await stored_summaries() == await summaries_of_usage_daily()
        if not postgres:
            assert (made, await partitions()) == ([], {})
            return
        assert made == [f"{t}_{m}" for t in OPEN_FILLFACTOR for m in ("202401", "202402")]
        # March has no partition yet: its row waits in the default partition.
        assert (await default_rows())["usage_facts"] == 1
        assert (await partitions())["usage_by_caller"] == [
            ("usage_by_caller_202401", "fillfactor=70", None),
            ("usage_by_caller_202402", "fillfactor=70", None),
            ("usage_by_caller_default", "fillfactor=70", None),
        ]
        assert await place(connection(), [date(2024, 1, 1)]) == []  # there already

        # A late line of a placed month goes to its partition, added to the rows there.
        await ingest(client, line_on("2024-02-01", referer="https://b.example/"))
        assert (await default_rows())["usage_facts"] == 1
        figures = await graphql_data(client, FIGURES, period=PERIOD)
        assert figures["usage"]["apiCalls"] == {"current": 5, "previous": 2}
        assert await stored_summaries() == await summaries_of_usage_daily()


async def test_the_round_places_every_waiting_month_and_packs_the_closed_ones(
    settings: Settings,
) -> None:
    async with seeded(settings) as (client, before):
        today = date(2024, 3, 1)  # February's last day is yesterday: still live

        made = await place_around(connection(), today)
        packed = await pack(connection(), today)

        assert await snapshot(client) == before
        if not is_postgres(connection()):
            assert (made, packed, await partitions()) == ([], [], {})
            return
        # The months of the rows waiting, and the previous, this and the next month.
        assert made == [
            f"{t}_{m}" for t in OPEN_FILLFACTOR for m in ("202401", "202402", "202403", "202404")
        ]
        assert await default_rows() == dict.fromkeys(OPEN_FILLFACTOR, 0)
        assert packed == [f"{t}_202401" for t in OPEN_FILLFACTOR]
        assert (await partitions())["usage_by_dataset"] == [
            ("usage_by_dataset_202401", "fillfactor=100", "packed"),
            ("usage_by_dataset_202402", "fillfactor=70", None),
            ("usage_by_dataset_202403", "fillfactor=70", None),
            ("usage_by_dataset_202404", "fillfactor=70", None),
            ("usage_by_dataset_default", "fillfactor=70", None),
        ]
        # The copy's keys and indexes became the partitions of the table's: none built twice.
        assert await index_counts("usage_facts_202401") == await index_counts("usage_facts")
        assert await index_counts("usage_by_dataset_202401") == (2, 1)
        assert await pack(connection(), today) == []  # once
        assert await pack(connection(), date(2024, 3, 2)) == [
            f"{t}_202402" for t in OPEN_FILLFACTOR
        ]

        # A packed month keeps its keys: a late line adds to its rows, none is doubled.
        await ingest(client, line_on("2024-01-15", referer="https://a.example/"))
        await ingest(client, line_on("2024-02-01", referer="https://b.example/"))
        figures = await graphql_data(client, FIGURES, period=PERIOD)
        assert figures["usage"]["apiCalls"] == {"current": 5, "previous": 3}
        assert await stored_summaries() == await summaries_of_usage_daily()
        assert (await default_rows())["usage_facts"] == 0
