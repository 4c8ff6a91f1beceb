"""Schema migrations: apply the pending ones once, however many processes start at the same time.

Processes migrating one database take turns: on PostgreSQL behind an advisory lock held by the
transaction that applies every pending migration (one fails: none is applied), on SQLite behind
a lock on the file `<database>.lock` (Python's sqlite3 commits before each DDL script, so tortoise
cannot keep SQLite DDL in one transaction). The next in turn finds them recorded and applies none.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.migrations.executor import MigrationExecutor, PlanStep
from tortoise.migrations.schema_editor import AsyncpgSchemaEditor, SqliteSchemaEditor
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.transactions import in_transaction

from app.storage.first_release import INITIAL, adopt_first_release
from app.storage.kept_answers import forget_before
from app.storage.partitions import OPEN_FILLFACTOR, vacuum
from app.storage.planner import refresh_statistics

log = logging.getLogger(__name__)

# The migration that copies the usage tables into monthly partitions: VACUUM after it.
PARTITIONED_NOW = "0019_monthly_partitions"
_MIGRATIONS_LOCK_ID = 0x75736167  # "usag": the advisory lock id that v0.1.0 took around its schema
# (dialect, migration names) -> each migration's SQL script from an empty database, made once a
# process: replaying tortoise's model states costs ~40 ms a database, and the tests make hundreds.
_SQL_FROM_EMPTY: dict[tuple[str, tuple[str, ...]], list[str]] = {}


async def apply_migrations(
    client: BaseDBAsyncClient, apps: Mapping[str, dict[str, Any]]
) -> list[str]:
    """Apply the pending migrations of `apps` (Tortoise app configs); their names, in order.

    A v0.1.0 database gets 0001_initial recorded, not run (listed as "0001_initial (recorded...)").
    """
    if not await MigrationExecutor(client, dict(apps)).plan():
        return []  # up to date: the usual start, without waiting for a lock
    async with _migrating(client) as locked:
        executor = MigrationExecutor(locked, dict(apps))
        await executor.recorder.ensure_schema(_editor(locked))
        done = [
            f"{INITIAL} (recorded: the tables of usage-metrics 0.1.0 are there)"
            for label, app in apps.items()
            if await adopt_first_release(locked, executor.recorder, app["migrations"], label)
        ]
        plan = await executor.plan()
        if not done and len(plan) == len(executor.loader.graph.nodes) and _reduce_to_sql(plan):
            done += await _migrate_empty(locked, executor, plan)
        else:
            done += await _migrate(executor)
    if PARTITIONED_NOW in done:  # PostgreSQL only: vacuum() does nothing on SQLite
        await vacuum(client, OPEN_FILLFACTOR, analyze=False)  # the rows it copied
    await refresh_statistics(client)  # the tables changed: plan from their new statistics
    await _forget_kept_answers(client)
    for name in done:
        log.info("applied migration %s", name)
    return done


async def _forget_kept_answers(client: BaseDBAsyncClient) -> None:
    """A migration may change the rows kept answers were read from: none is kept past it."""
    if client.capabilities.dialect != "postgres":
        return
    found = await client.execute_query_dict("SELECT to_regclass('kept_answers') IS NOT NULL AS t")
    if found[0]["t"]:
        await forget_before(client, date.max)


async def pending_migrations(
    client: BaseDBAsyncClient, apps: Mapping[str, dict[str, Any]]
) -> list[str]:
    """The names of the migrations not applied yet, in the order they would run."""
    plan = await MigrationExecutor(client, dict(apps)).plan()
    return [step.migration.name for step in plan if not step.backward]


async def _migrate(executor: MigrationExecutor) -> list[str]:
    done: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            done.append(name)

    await executor.migrate(progress=progress)
    return done


async def _migrate_empty(
    client: BaseDBAsyncClient, executor: MigrationExecutor, plan: list[PlanStep]
) -> list[str]:
    """Run every migration on an empty database from its SQL (the same `sqlmigrate` shows)."""
    cache_key = (client.capabilities.dialect, tuple(step.migration.name for step in plan))
    if cache_key not in _SQL_FROM_EMPTY:
        _SQL_FROM_EMPTY[cache_key] = await scripts_from_empty(executor, plan)
    for step, script in zip(plan, _SQL_FROM_EMPTY[cache_key], strict=True):
        if script:  # a data migration has nothing to do on an empty database (asyncpg refuses "")
            await client.execute_script(script)
        await executor.recorder.record_applied(step.migration.app_label, step.migration.name)
    return [step.migration.name for step in plan]


async def scripts_from_empty(executor: MigrationExecutor, plan: list[PlanStep]) -> list[str]:
    """Each migration's SQL script from an empty database, as `collect_sql` (`sqlmigrate`)
    gives it, in one pass over the model states: `collect_sql` replays every earlier migration
    for each one (20 migrations, 210 replays: ~2.5 s of a first start, ~0.8 s this way)."""
    state = await executor._project_state(set())  # empty
    scripts = []
    for step in plan:
        editor = executor._schema_editor(atomic=False, collect_sql=True)
        state = await step.migration.apply(state, schema_editor=editor, collect_sql=True)
        scripts.append(sql_script(editor.collected_sql))
    return scripts


def sql_script(collected: list[str]) -> str:
    # collect_sql's items: "-- Create model ..." headers, and statements with or without a ";".
    statements = (sql.rstrip().removesuffix(";") for sql in collected if not sql.startswith("--"))
    return "".join(f"{sql};\n" for sql in statements)


def _reduce_to_sql(plan: list[PlanStep]) -> bool:
    return all(op.reduces_to_sql for step in plan for op in step.migration.operations)


@asynccontextmanager
async def _migrating(client: BaseDBAsyncClient) -> AsyncIterator[BaseDBAsyncClient]:
    """The client to migrate with, while no other process migrates the same database."""
    if client.capabilities.dialect == "postgres":
        async with in_transaction(client.connection_name) as locked:
            await locked.execute_query("SELECT pg_advisory_xact_lock($1)", [_MIGRATIONS_LOCK_ID])
            yield locked
    elif isinstance(client, SqliteClient) and client.filename != ":memory:":
        with open(f"{client.filename}.lock", "a") as lock_file:  # noqa: ASYNC230 (it exists)
            await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
            yield client  # closing the file releases the lock
    else:
        yield client


def _editor(client: BaseDBAsyncClient) -> BaseSchemaEditor:
    if client.capabilities.dialect == "postgres":
        return AsyncpgSchemaEditor(client, atomic=False)
    return SqliteSchemaEditor(client, atomic=False)
