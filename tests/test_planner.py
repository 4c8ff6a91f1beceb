"""Planner statistics: the service runs ANALYZE (PostgreSQL) or PRAGMA optimize (SQLite) after
migrations and after each purge round, and a freshly filled PostgreSQL database then plans a
breakdown through the summary table's index."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app.config import Settings
from app.ingest.rebuilds import defer, rebuild
from app.storage.database import connection, is_postgres
from app.storage.retention import purge
from tests.helpers import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    OWNER_INDEX,
    app_client,
    dataset,
    graphql_data,
    ingest,
    line_on,
)
from tests.server_processes import postgres_database

pytestmark = pytest.mark.anyio

OWNERS, DAYS, DOMAINS = 200, 120, 4  # 96 000 days of usage_by_caller, and their blocks
BREAKDOWN = """{
  usage(period: {start: "2024-01-01", end: "2024-04-29"}, owner: {type: ORGANIZATION, id: "o7"}) {
    breakdown(by: DOMAIN) { totalCount nodes { key apiCalls { current } } }
  }
}"""
FILL = f"""
INSERT INTO owner_keys (owner_type, owner_id)
SELECT 'organization', 'o' || o FROM generate_series(0, {OWNERS - 1}) o;
INSERT INTO user_groups (user_group) VALUES ('ANONYMOUS');
INSERT INTO categories (referer_category) VALUES ('external');
INSERT INTO domains (referer_domain)
SELECT 'd' || n || '.example' FROM generate_series(0, {DOMAINS - 1}) n;
INSERT INTO usage_by_caller (resource_type, span, day, owner_key, group_key, domain_key,
                             category_key, api_calls, downloads, downloaded_bytes, app_opens)
SELECT 'datasets', 1, DATE '2024-01-01' + d, o.id, g.id, n.id, c.id, 1, 0, 0, 0
FROM generate_series(0, {DAYS - 1}) d, owner_keys o, user_groups g, domains n, categories c;
"""  # noqa: S608 (constants only)
# The blocks the ingest keeps beside single days (app/storage/summaries.py): calendar months,
# added up from the days, so that every figure stays exact.
BLOCKS = """
INSERT INTO usage_by_caller (resource_type, span, day, owner_key, group_key, domain_key,
                             category_key, api_calls, downloads, downloaded_bytes, app_opens)
SELECT resource_type, 0, date_trunc('month', day)::date, owner_key, group_key, domain_key,
       category_key, SUM(api_calls), SUM(downloads), SUM(downloaded_bytes), SUM(app_opens)
FROM usage_by_caller
GROUP BY resource_type, date_trunc('month', day), owner_key, group_key, domain_key, category_key
"""


class _Statements(logging.Handler):
    """The statements (SQL and parameters) the database layer runs, as tortoise logs them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.found: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.args, tuple) and len(record.args) == 2:
            sql, values = record.args
            if isinstance(sql, str) and isinstance(values, list):
                self.found.append((sql, values))


@contextmanager
def statements() -> Iterator[list[tuple[str, list[Any]]]]:
    logger, handler = logging.getLogger("tortoise.db_client"), _Statements()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.found
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _plan_nodes(child)


async def _scans(root: dict[str, Any], table: str) -> list[tuple[str, str | None]]:
    """(node type, index of `table`) of each scan of one of its partitions that holds rows
    (PostgreSQL partitions the usage tables by month, docs/storage.md#monthly-partitions: an
    empty one is rightly read without an index). Analyzed first."""
    rows = await connection().execute_query_dict(
        "SELECT c.relname AS name, p.relname AS parent, c.reltuples AS n FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
    )
    parents = {row["name"]: row["parent"] for row in rows}
    holding = {row["name"] for row in rows if row["parent"] == table and row["n"] > 0}
    found = []
    for node in _plan_nodes(root):
        if node.get("Relation Name") in holding:
            index = node.get("Index Name")
            found.append((node["Node Type"], parents.get(index, index) if index else None))
    return found


async def _analyze_count(table: str) -> int:
    rows = await connection().execute_query_dict(
        "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = $1", [table]
    )
    return int(rows[0]["analyze_count"])


async def test_a_purge_round_refreshes_the_planner_statistics(settings: Settings) -> None:
    async with app_client(replace(settings, keep_days=30)) as client:
        await ingest(client, *[line_on("2024-01-08", resource=dataset(f"d{n}")) for n in range(3)])
        db = connection()
        before = await _analyze_count("usage_facts") if is_postgres(db) else 0
        await purge(replace(settings, keep_days=30), datetime(2024, 1, 20, tzinfo=UTC))
        if is_postgres(db):
            assert await _analyze_count("usage_facts") == before + 1
            counted = await db.execute_query_dict(
                "SELECT reltuples FROM pg_class WHERE relname = 'usage_facts'"
            )
            assert counted[0]["reltuples"] == 3  # ANALYZE read the whole small table
        else:
            # PRAGMA optimize analyzed the tables the purge read (usage_facts by its index).
            stats = await db.execute_query_dict("SELECT tbl, stat FROM sqlite_stat1")
            assert "usage_facts" in {row["tbl"] for row in stats}


def test_migrating_a_postgresql_database_analyzes_it() -> None:
    async def check(url: str) -> int:
        settings = Settings(database_url=url, admin_token=ADMIN_TOKEN)
        async with app_client(settings):
            return await _analyze_count("usage_by_caller")

    with postgres_database() as url:
        assert asyncio.run(check(url)) == 1


def test_a_freshly_filled_postgresql_database_plans_a_breakdown_through_the_index() -> None:
    async def plan(url: str) -> tuple[Any, list[tuple[str, str | None]]]:
        settings = Settings(database_url=url, admin_token=ADMIN_TOKEN)
        async with app_client(settings) as client:
            await connection().execute_script(FILL)
            await connection().execute_script(BLOCKS)
            await purge(settings, datetime(2024, 5, 1, tzinfo=UTC))  # the service's own ANALYZE
            # It gathered the big table's statistics: its size, and its columns' values.
            known = await connection().execute_query_dict(
                "SELECT reltuples, (SELECT COUNT(*) FROM pg_stats "
                "WHERE tablename = 'usage_by_caller') AS columns "
                "FROM pg_class WHERE relname = 'usage_by_caller'"
            )
            assert known[0]["reltuples"] > 90_000, known  # 96 000 days, 3 200 months
            assert known[0]["columns"] == 12, known
            with statements() as found:
                data = await graphql_data(client, BREAKDOWN)
            [(sql, values)] = [s for s in found if "usage_by_caller" in s[0]]
            explained = await connection().execute_query(f"EXPLAIN (FORMAT JSON) {sql}", values)
            plan = json.loads(explained[1][0]["QUERY PLAN"])[0]["Plan"]
            return data, await _scans(plan, "usage_by_caller")

    with postgres_database() as url:
        data, scans = asyncio.run(plan(url))
    breakdown = data["usage"]["breakdown"]
    assert breakdown["totalCount"] == DOMAINS
    assert breakdown["nodes"][0]["apiCalls"] == {"current": DAYS}  # one call a day per domain
    assert scans
    assert all(kind != "Seq Scan" for kind, _ in scans), scans
    assert all(name is not None for _, name in scans), scans


RANKING = """query($owner: OwnerInput) {
  datasets(first: 2, orderBy: API_CALLS, owner: $owner,
           period: {start: "2024-01-01", end: "2024-01-31"}) {
    nodes { id usage(period: {start: "2024-01-01", end: "2024-01-31"}) { apiCalls { current } } }
  }
}"""


async def test_a_ranking_run_ten_times_keeps_a_plan_of_its_own_values(settings: Settings) -> None:
    """asyncpg prepares each statement; after five runs PostgreSQL may plan it once for any
    value (a generic plan), which misjudged a large owner's rows as one: our connections ask
    for a plan of each run's own values (docs/storage.md)."""
    async with app_client(settings) as client:
        await ingest(client, *[line_on("2024-01-08", resource=dataset(f"d{n}")) for n in range(3)])
        if not is_postgres(connection()):
            return  # SQLite plans each statement when it is prepared, from its values
        async with in_transaction():  # one connection: its prepared statements are its own
            for _ in range(10):
                ranked = await graphql_data(client, RANKING, owner=None)
                assert [
                    node["usage"]["apiCalls"]["current"] for node in ranked["datasets"]["nodes"]
                ] == [1, 1]
            rows = await connection().execute_query_dict(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%MATERIALIZED%' "
                "AND statement NOT LIKE '%pg_prepared_statements%'"
            )
            setting = await connection().execute_query_dict("SHOW plan_cache_mode")
    assert setting == [{"plan_cache_mode": "force_custom_plan"}]
    assert rows, "the ranking statement was not prepared on this connection"
    assert all(row["generic_plans"] == 0 for row in rows), rows
    assert sum(row["custom_plans"] for row in rows) >= 10, rows


# 300 owners of 20 datasets with a call a day in January 2024, and their month rows.
DATASET_FILL = """
INSERT INTO usage_by_dataset (resource_type, span, day, resource_id, owner_type, owner_id,
                              api_calls, downloads, downloaded_bytes, app_opens)
SELECT 'datasets', span, first, 'o' || o || '-d' || n, 'organization', 'o' || o, calls, 0, 0, 0
FROM generate_series(0, 299) o, generate_series(0, 19) n,
     (SELECT 1 AS span, DATE '2024-01-01' + d AS first, 1 AS calls FROM generate_series(0, 30) d
      UNION ALL SELECT 0, DATE '2024-01-01', 31) blocks
"""


def test_an_owners_ranking_reads_its_own_rows_through_the_owner_index() -> None:
    """usage_by_dataset's key puts datasets before owners: without the owner index an owner's
    ranking read every dataset of each block (docs/storage.md)."""

    async def plan(url: str) -> tuple[Any, list[tuple[str, str | None]]]:
        settings = Settings(database_url=url, admin_token=ADMIN_TOKEN, ingest_token=INGEST_TOKEN)
        async with app_client(settings) as client:
            await ingest(
                client,
                *[line_on("2024-01-08", resource=dataset("roads")) for _ in range(3)],
                line_on("2024-01-09", resource=dataset("bridges")),
            )
            await connection().execute_script(DATASET_FILL)
            await purge(settings, datetime(2024, 5, 1, tzinfo=UTC))  # the service's own ANALYZE
            with statements() as found:
                data = await graphql_data(client, RANKING, owner=OWNER)
            # The ranking (the page's usage figures, read by dataset id, come after it).
            [(sql, values)] = [s for s in found if "MATERIALIZED" in s[0]]
            explained = await connection().execute_query(f"EXPLAIN (FORMAT JSON) {sql}", values)
            plan = json.loads(explained[1][0]["QUERY PLAN"])[0]["Plan"]
            return data, await _scans(plan, "usage_by_dataset")

    with postgres_database() as url:
        data, scans = asyncio.run(plan(url))
    assert [(n["id"], n["usage"]["apiCalls"]["current"]) for n in data["datasets"]["nodes"]] == [
        ("roads", 3),
        ("bridges", 1),
    ]
    assert scans and all(name == OWNER_INDEX[1] for _, name in scans), scans


OWNER = {"type": "ORGANIZATION", "id": "org1"}  # line_on's owner


# 200 owners of 10 datasets with a call a day from January to March 2024: 182 000 daily rows.
DAILY_FILL = """
INSERT INTO owner_keys (owner_type, owner_id)
SELECT 'organization', 'o' || o FROM generate_series(0, 199) o;
INSERT INTO resource_keys (resource_type, resource_id)
SELECT 'datasets', 'o' || o || '-d' || n FROM generate_series(0, 199) o, generate_series(0, 9) n;
INSERT INTO user_groups (user_group) VALUES ('anonymous') ON CONFLICT DO NOTHING;
INSERT INTO domains (referer_domain) VALUES ('none') ON CONFLICT DO NOTHING;
INSERT INTO categories (referer_category) VALUES ('none') ON CONFLICT DO NOTHING;
INSERT INTO usage_facts (owner_key, day, resource_type, resource_key, operation, status_class,
                         group_key, domain_key, category_key, referer_app, requests, bytes,
                         duration_ms)
SELECT ok.id, DATE '2024-01-01' + d, 'datasets', r.id, 'api', 'ok',
       (SELECT id FROM user_groups WHERE user_group = 'anonymous'),
       (SELECT id FROM domains WHERE referer_domain = 'none'),
       (SELECT id FROM categories WHERE referer_category = 'none'), '', 1, 10, 1
FROM generate_series(0, 199) o CROSS JOIN generate_series(0, 9) n
CROSS JOIN generate_series(0, 90) d
JOIN owner_keys ok ON ok.owner_type = 'organization' AND ok.owner_id = 'o' || o
JOIN resource_keys r ON r.resource_type = 'datasets' AND r.resource_id = 'o' || o || '-d' || n;
ANALYZE usage_facts
"""


def test_a_rebuild_reads_its_months_rows_by_owner_through_the_key() -> None:
    """The summaries of a month an import wrote are rebuilt from that month's daily rows,
    found owner by owner through usage_facts' unique key: never a scan of every dataset's
    entries, which made the cost of a month grow with the table (docs/storage.md)."""

    async def run(url: str) -> tuple[list[dict[str, Any]], list[tuple[str, str | None]]]:
        settings = Settings(database_url=url, admin_token=ADMIN_TOKEN, ingest_token=INGEST_TOKEN)
        async with app_client(settings):
            await connection().execute_script(DAILY_FILL)
            async with in_transaction() as tx:
                await defer(tx, [("datasets", date(2024, 2, 1))])
            with statements() as found:
                assert await rebuild() == [("datasets", date(2024, 2, 1))]
            [(sql, values)] = [s for s in found if s[0].startswith("CREATE TEMP TABLE")]
            select = sql[sql.index(" AS WITH RECURSIVE ") + len(" AS ") :]
            explained = await connection().execute_query(f"EXPLAIN (FORMAT JSON) {select}", values)
            months = await connection().execute_query_dict(
                "SELECT day, api_calls FROM usage_by_owner "
                "WHERE span = 0 AND owner_type = '' ORDER BY day"
            )
            plan = json.loads(explained[1][0]["QUERY PLAN"])[0]["Plan"]
            return months, await _scans(plan, "usage_facts")

    with postgres_database() as url:
        months, scans = asyncio.run(run(url))
    # February alone was rebuilt (January and March have no summary rows: nothing wrote them).
    assert [(str(m["day"]), m["api_calls"]) for m in months] == [("2024-02-01", 200 * 10 * 29)]
    assert scans
    assert all(
        kind in ("Index Scan", "Index Only Scan") and (name or "").startswith("uid_usage_fact")
        for kind, name in scans
    ), scans
