"""usage_by_caller's dimension ids (docs/storage.md#dimensions): a batch adds only the values it
is the first to use, and every figure reads back through the ids, on both databases."""

from __future__ import annotations

import httpx
import pytest

from app.storage.database import connection, is_postgres
from tests.helpers import PERIOD_WEEK, graphql_data, ingest, line_on, table_rows

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
