"""Schema migrations: a fresh database gets them all, a v0.1.0 one is upgraded with its data intact,
processes starting at once apply them once, and `usage-metrics migrate` tells what it did."""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest
from tortoise import Tortoise
from tortoise.migrations.executor import MigrationExecutor

from app.auth.tokens import create_token
from app.config import Settings
from app.main import create_app
from app.storage.database import close_database, open_database, tortoise_config
from app.storage.migrator import scripts_from_empty, sql_script
from app.storage.partitions import OPEN_FILLFACTOR as PARTITIONED
from app.webanalytics.store import save_analytics
from tests.helpers import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    NDJSON,
    TABLES,
    V0_1_0_TABLES,
    caller_rows,
    graphql_data,
    line_on,
    ndjson,
)
from tests.server_processes import POSTGRES_ADMIN_URL

PARTITIONED_BY_MONTH = importlib.import_module("app.storage.migrations.0019_monthly_partitions")
DAILY_DIMENSIONS = importlib.import_module("app.storage.migrations.0020_daily_dimensions")

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data"
MIGRATIONS = [
    "0001_initial",
    "0002_ingest_batches_received_at",
    "0003_ingest_ledger",
    "0004_revoked_sessions",
    "0005_resources_title_folded",
    "0006_owners",
    "0007_ingest_quarantine",
    "0008_ip_referers",
    "0009_subscriptions",
    "0010_consumer_sketches",
    "0011_consumer_rollups",
    "0012_caller_dimensions",
    "0013_dataset_owner_index",
    "0014_summary_rebuilds",
    "0015_status_summary",
    "0016_kept_answers",
    "0017_kept_sums",
    "0018_fewer_blocks",
    "0019_monthly_partitions",
    "0020_daily_dimensions",
]
RECEIVED_AT_INDEX = "idx_ingest_batc_receive_1a62e3"
FIGURES = """query($period: PeriodInput!) {
  usage(period: $period) {
    apiCalls { current previous } downloads { current previous }
    breakdown(by: USER_GROUP) { edges { node { key apiCalls { current } } } }
    domains: breakdown(by: DOMAIN) { totalCount nodes { key apiCalls { current } } }
    categories: breakdown(by: CATEGORY) { nodes { key downloads { current } } }
  }
  owned: usage(period: $period, owner: {type: ORGANIZATION, id: "org1"}) {
    breakdown(by: DOMAIN) { nodes { key apiCalls { current previous } } }
  }
  datasets(first: 10) { totalCount edges { node { id title owner { type id } } } }
}"""
PERIOD = {"start": "2024-01-08", "end": "2024-01-14"}
# The figure columns of each table whose sums the upgrade must keep.
SUMS = {
    "usage_daily": ("requests", "bytes", "duration_ms"),
    "usage_by_dataset": ("api_calls", "downloads", "downloaded_bytes", "app_opens"),
    "usage_by_owner": ("api_calls", "downloads", "downloaded_bytes", "app_opens"),
    "usage_by_caller": ("api_calls", "downloads", "downloaded_bytes", "app_opens"),
}

NewDatabase = Callable[[], Awaitable[str]]


@pytest.fixture(params=["sqlite", "postgres"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases of one dialect (PostgreSQL ones are dropped after the test)."""
    made: list[str] = []
    if request.param == "postgres":
        request.getfixturevalue("postgres_url")  # fails in CI, skips elsewhere, without a server

    async def make() -> str:
        if request.param == "sqlite":
            return f"sqlite://{tmp_path / f'db-{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"usage_metrics_migrations_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"

    yield make
    for name in made:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_fresh_database_gets_every_migration_and_the_models_schema(
    new_database: NewDatabase,
) -> None:
    migrated, from_models = await new_database(), await new_database()
    await open_database(migrated)
    await close_database()
    await _generate_schemas(from_models)

    assert await _history(migrated) == MIGRATIONS
    assert await _catalog(migrated) == await _catalog(from_models)
    catalog = await _catalog(migrated)
    assert sorted(catalog["tables"]) == sorted(TABLES)
    assert RECEIVED_AT_INDEX in catalog["indexes"]
    if migrated.startswith("postgres"):
        # Partitioned by month (none yet: rows would wait in the default partitions).
        assert catalog["partitions"] == [
            (table, f"{table}_default", "DEFAULT") for table in sorted(PARTITIONED)
        ]
        assert catalog["fillfactor"] == {
            "usage_by_caller_default": ["fillfactor=70"],
            "usage_by_dataset_default": ["fillfactor=70"],
            "usage_by_owner_default": ["fillfactor=70"],
            "usage_by_status_default": ["fillfactor=70"],
            "usage_facts_default": ["fillfactor=100"],
        }


async def test_a_fresh_database_runs_each_migrations_own_sql(new_database: NewDatabase) -> None:
    """The scripts an empty database runs, made in one pass over the model states, are
    migration by migration what tortoise's collect_sql (`sqlmigrate`) gives for each one."""
    url = await new_database()
    config = tortoise_config(url)
    await Tortoise.init(config=config)
    try:
        [name] = config["connections"]
        executor = MigrationExecutor(Tortoise.get_connection(name), config["apps"])
        plan = await executor.plan()
        assert [step.migration.name for step in plan] == MIGRATIONS
        each = [
            sql_script(await executor.collect_sql(step.migration.app_label, step.migration.name))
            for step in plan
        ]
        assert await scripts_from_empty(executor, plan) == each
        assert each[0].startswith("CREATE TABLE")
    finally:
        await Tortoise.close_connections()


async def test_migrate_upgrades_a_v0_1_0_database_keeping_every_count(
    new_database: NewDatabase,
) -> None:
    scratch, old = await new_database(), await new_database()
    figures = await _fill_with_the_app(scratch)
    await _load_schema_v0_1_0(old)
    await _copy_rows(scratch, old)
    before_columns = {table: await _columns(old, table) for table in V0_1_0_TABLES}
    before = await _rows(old, before_columns)
    assert {table: len(rows) for table, rows in before.items()} == {
        "ingest_batches": 2,
        "resources": 2,
        "settings": 1,
        "tokens": 1,
        "usage_by_caller": 18,
        "usage_by_dataset": 11,
        "usage_by_owner": 10,
        "usage_daily": 5,
    }
    sums = await _sums(old)
    assert sums["usage_daily"] == (7, 7000, 70)  # 7 lines of 1000 bytes and 10 ms
    assert RECEIVED_AT_INDEX not in (await _catalog(old))["indexes"]

    first = await _migrate_command(old)
    assert (first.returncode, first.stdout) == (
        0,
        "applied 0001_initial (recorded: the tables of usage-metrics 0.1.0 are there)\n"
        "applied 0002_ingest_batches_received_at\n"
        "applied 0003_ingest_ledger\n"
        "applied 0004_revoked_sessions\n"
        "applied 0005_resources_title_folded\n"
        "applied 0006_owners\n"
        "applied 0007_ingest_quarantine\n"
        "applied 0008_ip_referers\n"
        "applied 0009_subscriptions\n"
        "applied 0010_consumer_sketches\n"
        "applied 0011_consumer_rollups\n"
        "applied 0012_caller_dimensions\n"
        "applied 0013_dataset_owner_index\n"
        "applied 0014_summary_rebuilds\n"
        "applied 0015_status_summary\n"
        "applied 0016_kept_answers\n"
        "applied 0017_kept_sums\n"
        "applied 0018_fewer_blocks\n"
        "applied 0019_monthly_partitions\n"
        "applied 0020_daily_dimensions\n",
    ), first.stderr

    assert await _rows(old, before_columns) == before
    if old.startswith("postgres"):
        # 0019: the rows in their months' partitions (January 2024's, closed: packed).
        months = {(table, name) for table, name, _ in (await _catalog(old))["partitions"]}
        assert months == {
            (table, f"{table}_{month}") for table in PARTITIONED for month in ("202401", "default")
        }
        assert await _query(
            old, "SELECT obj_description('usage_facts_202401'::regclass, 'pg_class')"
        ) == [("packed",)]
    # 0005 folded the titles that were there: accents and case ignored.
    folded = await _query(old, "SELECT resource_id, title_folded FROM resources")
    assert sorted(folded) == [("rivers", "rivieres"), ("roads", "ecoles et routes")]
    assert await _sums(old) == sums
    assert await _history(old) == MIGRATIONS
    assert RECEIVED_AT_INDEX in (await _catalog(old))["indexes"]
    again = await _migrate_command(old)
    assert (again.returncode, again.stdout) == (0, "already up to date\n")
    async with _client(old) as client:
        assert await graphql_data(client, FIGURES, period=PERIOD) == figures
        await _ingest(client, "after-upgrade", line_on("2024-01-09"))
        after = await graphql_data(client, FIGURES, period=PERIOD)
    assert after["usage"]["apiCalls"] == {"current": 6, "previous": 1}


async def test_app_start_upgrades_a_v0_1_0_database_to_the_models_schema(
    new_database: NewDatabase,
) -> None:
    old, from_models = await new_database(), await new_database()
    await _load_schema_v0_1_0(old)
    async with _client(old) as client:
        await _ingest(client, "first", line_on("2024-01-08"))
        figures = await graphql_data(client, FIGURES, period=PERIOD)
    assert figures["usage"]["apiCalls"] == {"current": 1, "previous": 0}
    assert await _history(old) == MIGRATIONS
    await _generate_schemas(from_models)
    assert await _catalog(old) == await _catalog(from_models)


async def test_migrate_refuses_tables_that_are_not_those_of_v0_1_0(
    new_database: NewDatabase,
) -> None:
    url = await new_database()
    await _load_schema_v0_1_0(url)
    await _execute(url, 'DROP TABLE "settings"', 'DROP INDEX "idx_resources_owner_t_527caa"')
    tables_before = (await _catalog(url))["tables"]

    result = await _migrate_command(url)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "usage-metrics: the database has tables but no migration history, and they are not those "
        "of usage-metrics 0.1.0: table resources: no index on (owner_type, owner_id); table "
        "settings is missing. Restore a backup made by 0.1.0, or migrate this database by hand "
        "to the schema of 0001_initial"
    )
    assert await _history(url) == []
    assert (await _catalog(url))["tables"] == tables_before


async def test_migrate_check_lists_pending_migrations(new_database: NewDatabase) -> None:
    url = await new_database()
    if url.startswith("sqlite"):  # an empty file: `migrate --check` makes none (docs/storage.md)
        await anyio.Path(_sqlite_path(url)).touch()
    pending = await _migrate_command(url, "--check")
    assert (pending.returncode, pending.stdout) == (
        1,
        "pending 0001_initial\npending 0002_ingest_batches_received_at\n"
        "pending 0003_ingest_ledger\n"
        "pending 0004_revoked_sessions\n"
        "pending 0005_resources_title_folded\n"
        "pending 0006_owners\n"
        "pending 0007_ingest_quarantine\n"
        "pending 0008_ip_referers\n"
        "pending 0009_subscriptions\n"
        "pending 0010_consumer_sketches\n"
        "pending 0011_consumer_rollups\n"
        "pending 0012_caller_dimensions\n"
        "pending 0013_dataset_owner_index\n"
        "pending 0014_summary_rebuilds\n"
        "pending 0015_status_summary\n"
        "pending 0016_kept_answers\n"
        "pending 0017_kept_sums\n"
        "pending 0018_fewer_blocks\n"
        "pending 0019_monthly_partitions\n"
        "pending 0020_daily_dimensions\n",
    )
    assert (await _migrate_command(url)).returncode == 0
    done = await _migrate_command(url, "--check")
    assert (done.returncode, done.stdout) == (0, "up to date\n")


async def test_processes_starting_at_once_apply_each_migration_once(
    new_database: NewDatabase,
) -> None:
    url = await new_database()
    results: list[Any] = []

    async def run() -> None:
        results.append(await _migrate_command(url))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(run)

    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    outputs = sorted(r.stdout for r in results)
    assert outputs == [
        *["already up to date\n"] * 3,
        "applied 0001_initial\napplied 0002_ingest_batches_received_at\n"
        "applied 0003_ingest_ledger\n"
        "applied 0004_revoked_sessions\n"
        "applied 0005_resources_title_folded\n"
        "applied 0006_owners\n"
        "applied 0007_ingest_quarantine\n"
        "applied 0008_ip_referers\n"
        "applied 0009_subscriptions\n"
        "applied 0010_consumer_sketches\n"
        "applied 0011_consumer_rollups\n"
        "applied 0012_caller_dimensions\n"
        "applied 0013_dataset_owner_index\n"
        "applied 0014_summary_rebuilds\n"
        "applied 0015_status_summary\n"
        "applied 0016_kept_answers\n"
        "applied 0017_kept_sums\n"
        "applied 0018_fewer_blocks\n"
        "applied 0019_monthly_partitions\n"
        "applied 0020_daily_dimensions\n",
    ]
    assert await _history(url) == MIGRATIONS


async def test_migrate_waits_while_another_process_migrates(new_database: NewDatabase) -> None:
    url = await new_database()
    async with _migration_lock_held(url):
        process = await anyio.open_process(_command("migrate"), env=_env(url))
        with anyio.move_on_after(3):
            await process.wait()
        assert process.returncode is None, "migrate did not wait for the lock"
        assert await _history(url) == []
    with anyio.fail_after(30):
        code = await process.wait()
    assert process.stdout is not None
    output = (await process.stdout.receive()).decode()
    assert (code, output) == (
        0,
        "applied 0001_initial\napplied 0002_ingest_batches_received_at\n"
        "applied 0003_ingest_ledger\n"
        "applied 0004_revoked_sessions\n"
        "applied 0005_resources_title_folded\n"
        "applied 0006_owners\n"
        "applied 0007_ingest_quarantine\n"
        "applied 0008_ip_referers\n"
        "applied 0009_subscriptions\n"
        "applied 0010_consumer_sketches\n"
        "applied 0011_consumer_rollups\n"
        "applied 0012_caller_dimensions\n"
        "applied 0013_dataset_owner_index\n"
        "applied 0014_summary_rebuilds\n"
        "applied 0015_status_summary\n"
        "applied 0016_kept_answers\n"
        "applied 0017_kept_sums\n"
        "applied 0018_fewer_blocks\n"
        "applied 0019_monthly_partitions\n"
        "applied 0020_daily_dimensions\n",
    )
    await process.aclose()


# --- databases through the app -------------------------------------------------------------


@asynccontextmanager
async def _client(url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on `url` (its lifespan migrates the database), with a client on it."""
    settings = Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        secret_key="test-secret-key",
        fold_interval_s=0,  # counted in the request: read right after
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):  # ASGITransport does not run it
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _ingest(client: httpx.AsyncClient, key: str, *lines: Any) -> None:
    headers = {**NDJSON, "Idempotency-Key": key}
    response = await client.post("/ingest", content=ndjson(*lines), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(lines)


async def _fill_with_the_app(url: str) -> Any:
    """Rows in every table, written by today's app; returns what FIGURES answers on them."""
    roads = {"type": "datasets", "id": "roads", "title": "Écoles et Routes"}
    rivers = {"type": "datasets", "id": "rivers", "title": "Rivières"}
    async with _client(url) as client:
        await _ingest(
            client,
            "batch-1",
            *[
                line_on("2024-01-08", resource=roads, referer="https://a.example/")
                for _ in range(3)
            ],
            line_on("2024-01-02", resource=roads, referer="https://a.example/"),
        )
        await _ingest(
            client,
            "batch-2",
            line_on("2024-01-10", resource=rivers),
            line_on(
                "2024-01-10", resource=rivers, track="readDataFiles", referer="http://b.example/"
            ),
            line_on("2024-01-11", resource=rivers, user_agent="Googlebot/2.1"),
        )
        await create_token("owner:organization:org1", "org1")
        await save_analytics({"provider": "none"})
        figures = await graphql_data(client, FIGURES, period=PERIOD)
    assert figures["usage"]["apiCalls"] == {"current": 5, "previous": 1}
    assert figures["owned"]["breakdown"]["nodes"] == [
        {"key": "a.example", "apiCalls": {"current": 3, "previous": 1}},
        {"key": "none", "apiCalls": {"current": 2, "previous": 0}},
        {"key": "b.example", "apiCalls": {"current": 0, "previous": 0}},
    ]
    return figures


async def _generate_schemas(url: str) -> None:
    """What v0.1.0 did on start: the models' tables, and the summary tables' fill factor; then
    on PostgreSQL the usage tables partitioned as 0019 partitions them, and the view usage_daily
    0020 made (the models cannot say)."""
    await Tortoise.init(config=tortoise_config(url))
    await Tortoise.generate_schemas(safe=False)
    await Tortoise.close_connections()
    if url.startswith("postgres"):
        await _execute(
            url,
            *[f"ALTER TABLE {t} SET (fillfactor = 70)" for t in TABLES if t.startswith("usage_by")],
            # 0020 moved usage_daily's rows to usage_facts, partitioned alike.
            PARTITIONED_BY_MONTH.PARTITION.replace("'usage_daily'", "'usage_facts'"),
        )
    await _execute(url, DAILY_DIMENSIONS.VIEW)


# --- raw access to the databases ------------------------------------------------------------


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite://")


async def _query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite"):
        with sqlite3.connect(_sqlite_path(url)) as connection:
            return [tuple(row) for row in connection.execute(sql, args)]
    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql, *args)]
    finally:
        await connection.close()


async def _execute(url: str, *statements: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(_sqlite_path(url)) as connection:
            connection.executescript(";\n".join(statements))
        return
    connection = await asyncpg.connect(url)
    try:
        for sql in statements:
            await connection.execute(sql)
    finally:
        await connection.close()


async def _load_schema_v0_1_0(url: str) -> None:
    dialect = "sqlite" if url.startswith("sqlite") else "postgres"
    await _execute(url, (DATA / f"schema_v0_1_0.{dialect}.sql").read_text())


async def _copy_rows(source: str, target: str) -> None:
    """Every row of the app's tables, copied into a v0.1.0 database (the columns it has)."""
    if source.startswith("sqlite"):
        with sqlite3.connect(_sqlite_path(target)) as connection:
            connection.execute("ATTACH DATABASE ? AS source", (_sqlite_path(source),))
            for table in V0_1_0_TABLES:
                names = ", ".join(
                    row[1] for row in connection.execute(f"PRAGMA table_info({table})")
                )
                rows = caller_rows("source.") if table == "usage_by_caller" else f"source.{table}"
                connection.execute(
                    f"INSERT INTO {table} ({names}) SELECT {names} FROM {rows} t"  # noqa: S608
                )
        return
    reader, writer = await asyncpg.connect(source), await asyncpg.connect(target)
    try:
        for table in V0_1_0_TABLES:
            names = ", ".join(await _columns(target, table))
            rows = await reader.fetch(f"SELECT {names} FROM {await _named(source, table)} t")  # noqa: S608
            if rows:
                await writer.copy_records_to_table(
                    table, records=rows, columns=list(rows[0].keys())
                )
            if "id" in (rows[0].keys() if rows else ()):
                # As a v0.1.0 server would have left them: sequences past the ids in use.
                await writer.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # noqa: S608
                )
    finally:
        await reader.close()
        await writer.close()


async def _rows(url: str, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows, of the columns given (those a v0.1.0 database had)."""
    return {
        table: sorted(
            await _query(
                url,
                f"SELECT {', '.join(columns[table])} FROM {await _named(url, table)} t",  # noqa: S608
            ),
            key=repr,
        )
        for table in V0_1_0_TABLES
    }


async def _named(url: str, table: str) -> str:
    """The table as v0.1.0 had it: usage_by_caller's ids, where it has them, replaced by their
    values."""
    if table == "usage_by_caller" and "owner_key" in await _columns(url, table):
        return caller_rows()
    return table


async def _columns(url: str, table: str) -> list[str]:
    if url.startswith("sqlite"):
        return [row[1] for row in await _query(url, f"PRAGMA table_info({table})")]
    sql = (
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
        "ORDER BY ordinal_position"
    )
    return [row[0] for row in await _query(url, sql, table)]


async def _sums(url: str) -> dict[str, tuple[int, ...]]:
    found = {}
    for table, columns in SUMS.items():
        sql = f"SELECT {', '.join(f'sum({c})' for c in columns)} FROM {await _named(url, table)} t"  # noqa: S608
        found[table] = tuple(int(value) for value in (await _query(url, sql))[0])
    return found


async def _history(url: str) -> list[str]:
    try:
        rows = await _query(url, "SELECT name FROM tortoise_migrations ORDER BY id")
    except (sqlite3.OperationalError, asyncpg.UndefinedTableError):
        return []
    return [row[0] for row in rows]


async def _catalog(url: str) -> dict[str, Any]:
    """Tables, columns, indexes and constraints (and fill factors), as the database has them."""
    if url.startswith("sqlite"):
        tables = [
            row[0]
            for row in await _query(
                url,
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT IN ('tortoise_migrations', 'sqlite_sequence') ORDER BY name",
            )
        ]
        indexes = await _query(
            url,
            'SELECT l.name, m.name, l."unique", l.origin, i.seqno, i.name FROM sqlite_master AS m '
            "JOIN pragma_index_list(m.name) AS l JOIN pragma_index_info(l.name) AS i "
            "WHERE m.type = 'table' AND m.name != 'tortoise_migrations' ORDER BY 1, 5",
        )
        columns = {
            table: await _query(url, "SELECT * FROM pragma_table_info(?)", table)
            for table in tables
        }
        return {
            "tables": tables,
            "columns": columns,
            "indexes": {row[0]: row[1:] for row in indexes},
            "index_columns": indexes,
        }
    tables = [
        row[0]
        for row in await _query(
            url,
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'p') AND NOT relispartition "
            "AND relname != 'tortoise_migrations' ORDER BY 1",
        )
    ]
    partitions = await _query(
        url,
        "SELECT p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE c.relkind = 'r' ORDER BY 1, 2",
    )
    column_rows = await _query(
        url,
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
        "column_default FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name != 'tortoise_migrations' ORDER BY table_name, ordinal_position",
    )
    indexes = await _query(
        url,
        "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "AND tablename != 'tortoise_migrations' ORDER BY 1",
    )
    constraints = await _query(
        url,
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'public'::regnamespace "
        "AND conrelid::regclass::text != 'tortoise_migrations' ORDER BY 1, 2",
    )
    options = await _query(
        url,
        "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r' "
        "AND relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL",
    )
    return {
        "tables": tables,
        "columns": column_rows,
        "indexes": {row[0]: row[1:] for row in indexes},
        "constraints": constraints,
        "fillfactor": {name: list(values) for name, values in options},
        "partitions": partitions,
    }


# --- the command, as a real process ---------------------------------------------------------


def _command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *arguments]


def _env(url: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")},
        "USAGE_METRICS_DATABASE_URL": url,
    }


class _Result:
    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout.decode()
        self.stderr = stderr.decode()


async def _migrate_command(url: str, *arguments: str) -> _Result:
    done = await anyio.run_process(_command("migrate", *arguments), env=_env(url), check=False)
    return _Result(done.returncode, done.stdout, done.stderr)


@asynccontextmanager
async def _migration_lock_held(url: str) -> AsyncIterator[None]:
    """Hold the lock a migrating process holds (PostgreSQL advisory lock, SQLite lock file)."""
    if url.startswith("sqlite"):
        with open(f"{_sqlite_path(url)}.lock", "a") as lock_file:  # noqa: ASYNC230
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
        return
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", 0x75736167)
        yield
    finally:
        await connection.close()
