"""Dimension ids (docs/storage.md#dimensions): a batch adds only the values it is the first to
use, and every figure reads back through the ids, on both databases; the large writes that
PostgreSQL stages by COPY (upserts.rows_from) count as exactly as the small ones."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from tortoise.transactions import in_transaction

from app.storage.database import connection, is_postgres
from app.storage.facts import add_facts
from app.storage.sql import BIGINT_MAX
from app.storage.upserts import STAGED_ROWS
from tests.helpers import (
    PERIOD_WEEK,
    dataset,
    graphql_data,
    ingest,
    line_on,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"
DOMAINS = """query($period: PeriodInput!) { usage(period: $period) {
  breakdown(by: DOMAIN) { totalCount nodes { key apiCalls { current } } }
} }"""


async def test_a_batch_adds_only_the_values_it_is_first_to_use(client: httpx.AsyncClient) -> None:
    await ingest(
        client, line_on(DAY, referer="http://a.example/"), line_on(DAY, referer="http://b.example/")
    )
    await ingest(
        client,
        *[line_on(DAY, referer="http://a.example/") for _ in range(3)],
        line_on(DAY, referer="http://c.example/"),
    )

    domains = {row["referer_domain"]: row["id"] for row in await table_rows("domains")}
    assert sorted(domains) == ["a.example", "b.example", "c.example"]
    # c.example took the next id: the second batch did not try a.example again (PostgreSQL
    # draws a sequence number for every row an INSERT ... ON CONFLICT tries, kept or not).
    assert domains["c.example"] == domains["b.example"] + 1 == domains["a.example"] + 2
    if is_postgres(connection()):
        [sequence] = await connection().execute_query_dict("SELECT last_value FROM domains_id_seq")
        assert sequence["last_value"] == domains["c.example"]
    owners = {(row["owner_type"], row["owner_id"]) for row in await table_rows("owner_keys")}
    assert owners == {("", ""), ("organization", "org1")}  # every owner's rows have theirs
    assert [row["user_group"] for row in await table_rows("user_groups")] == ["ANONYMOUS"]
    assert [row["referer_category"] for row in await table_rows("categories")] == ["external"]

    breakdown = (await graphql_data(client, DOMAINS, period=PERIOD_WEEK))["usage"]["breakdown"]
    assert breakdown == {
        "totalCount": 3,
        "nodes": [
            {"key": "a.example", "apiCalls": {"current": 4}},
            {"key": "b.example", "apiCalls": {"current": 1}},
            {"key": "c.example", "apiCalls": {"current": 1}},
        ],
    }


async def test_usage_facts_store_ids_and_the_view_names_them(client: httpx.AsyncClient) -> None:
    """usage_daily's rows are usage_facts' with the owner, dataset, user group, domain and
    category as ids (0020_daily_dimensions); the view usage_daily reads them back as values."""
    await ingest(client, line_on(DAY, referer="http://a.example/"))
    await ingest(
        client,
        line_on(DAY, referer="http://a.example/"),
        line_on(DAY, resource=dataset("rivers"), referer="http://b.example/"),
    )

    resources = {row["resource_id"]: row["id"] for row in await table_rows("resource_keys")}
    assert sorted(resources) == ["rivers", "roads"]
    assert resources["rivers"] == resources["roads"] + 1  # roads' id was not drawn again
    facts = await connection().execute_query_dict(
        "SELECT resource_key, requests FROM usage_facts ORDER BY resource_key"
    )
    assert [(row["resource_key"], row["requests"]) for row in facts] == [
        (resources["roads"], 2),
        (resources["rivers"], 1),
    ]
    stored_types = {
        column: kind
        for column, kind in (await _column_types("usage_facts")).items()
        if column.endswith("_key")
    }
    assert len(stored_types) == 5
    assert all("int" in kind.lower() for kind in stored_types.values()), stored_types
    named = await connection().execute_query_dict(
        "SELECT owner_type, owner_id, resource_id, user_group, referer_domain, referer_category, "
        "requests FROM usage_daily ORDER BY resource_id"
    )
    assert [tuple(row.values()) for row in named] == [
        ("organization", "org1", "rivers", "ANONYMOUS", "b.example", "external", 1),
        ("organization", "org1", "roads", "ANONYMOUS", "a.example", "external", 2),
    ]


async def _column_types(table: str) -> dict[str, str]:
    db = connection()
    sql = (
        "SELECT column_name AS name, data_type AS type FROM information_schema.columns "
        "WHERE table_name = $1"
        if is_postgres(db)
        else "SELECT name, type FROM pragma_table_info(?)"
    )
    return {row["name"]: row["type"] for row in await db.execute_query_dict(sql, [table])}


async def test_one_transaction_writes_usage_facts_small_and_large_and_saturates(
    client: httpx.AsyncClient,
) -> None:
    """A write of STAGED_ROWS rows or more reads them from a temporary table (PostgreSQL: filled
    by COPY, dropped after the write); a smaller one from arrays. Both in one transaction, a
    second large write finding the name free, and the saturating retry of a large write (its
    table undone with the plain sums, staged again) count exactly."""
    key = ("organization", "org1", date(2024, 1, 8), "datasets", "roads", "api", "ok")
    many = [
        (*key, "ANONYMOUS", f"d{n:05}.example", "external", "", 1, 10, 100)
        for n in range(STAGED_ROWS)
    ]
    ceiling = (*key, "OWNER", "b.example", "external", "", 1, BIGINT_MAX - 1, 1)
    async with in_transaction() as tx:
        assert await add_facts(tx, many[:2]) == 0
        assert await add_facts(tx, [*many, ceiling]) == 0
        # Past the ceiling: the plain sums are undone and written again saturating.
        assert await add_facts(tx, [*many, ceiling]) == 1

    rows = await connection().execute_query_dict(
        "SELECT referer_domain, requests, bytes, duration_ms FROM usage_daily "
        "ORDER BY referer_domain"
    )
    found = [tuple(row.values()) for row in rows]
    assert len(found) == STAGED_ROWS + 1
    assert found[:3] == [
        ("b.example", 2, BIGINT_MAX, 2),
        ("d00000.example", 3, 30, 300),
        ("d00001.example", 3, 30, 300),
    ]
    assert found[3:] == [(f"d{n:05}.example", 2, 20, 200) for n in range(2, STAGED_ROWS)]


async def test_a_batch_of_many_keys_writes_every_table_exactly(client: httpx.AsyncClient) -> None:
    """A batch whose facts, status rows and summary days each pass STAGED_ROWS (a dataset and an
    owner per line), twice: every summary equals usage_daily added up, on both databases."""
    lines = [
        line_on(
            DAY,
            owner={"type": "organization", "id": f"org{n:04}"},
            resource=dataset(f"set{n:04}"),
            referer=f"http://d{n % 7}.example/",
        )
        for n in range(STAGED_ROWS + 50)
    ]
    await ingest(client, *lines)
    await ingest(client, *lines)

    daily = await usage_rows()
    assert len(daily) == STAGED_ROWS + 50
    assert {(row["requests"], row["bytes"]) for row in daily} == {(2, 2000)}
    stored = await stored_summaries()
    assert stored == await summaries_of_usage_daily()
    assert len(stored["usage_by_status"]) == STAGED_ROWS + 50
    # resources: a plain upsert() of as many rows, staged alike.
    resources = sorted(
        (row["resource_id"], row["owner_id"], str(row["first_day"]), str(row["last_day"]))
        for row in await table_rows("resources")
    )
    assert resources == [(f"set{n:04}", f"org{n:04}", DAY, DAY) for n in range(STAGED_ROWS + 50)]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite stages nothing
async def test_rows_are_staged_in_a_transaction_only(client: httpx.AsyncClient) -> None:
    """A staged table is dropped at commit: outside a transaction a large write is refused with
    a clear error before anything is written."""
    key = ("organization", "org1", date(2024, 1, 8), "datasets", "roads", "api", "ok")
    many = [
        (*key, "ANONYMOUS", f"d{n:05}.example", "external", "", 1, 10, 100)
        for n in range(STAGED_ROWS)
    ]
    with pytest.raises(RuntimeError, match="staged in a transaction only"):
        await add_facts(connection(), many)
    assert await usage_rows() == []
