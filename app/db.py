"""The database: Tortoise config from Settings, opening with the schema, and the SQL dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url

from app.errors import ConfigError
from app.summaries import SUMMARIES

MODELS = ["app.models"]
# Several processes share one SQLite file: a writer waits for the lock instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
_active = "sqlite"  # the connection name of the open database, set by open_database()
_SCHEMA_LOCK_ID = 0x75736167  # "usag": serialises schema creation across processes on PostgreSQL
# Nearly every batch updates the summary rows of its days: free room on their pages keeps the
# new row versions there (HOT updates: no index entry to add, a block's rows stay together).
SUMMARY_FILLFACTOR = 70


def tortoise_config(database_url: str) -> dict[str, Any]:
    try:
        connection = expand_db_url(database_url)
    except Exception as exc:
        raise ConfigError(
            f"USAGE_METRICS_DATABASE_URL is not a database URL we can open ({exc}); "
            "use sqlite://PATH or postgres://user:password@host:5432/db"
        ) from exc
    if connection["engine"] == "tortoise.backends.sqlite":
        connection["credentials"].setdefault("busy_timeout", SQLITE_BUSY_TIMEOUT_MS)
    elif connection["engine"] == "tortoise.backends.asyncpg":
        connection["credentials"].setdefault("minsize", 1)
        connection["credentials"].setdefault("maxsize", 10)
    else:
        raise ConfigError("USAGE_METRICS_DATABASE_URL must be sqlite://... or postgres://...")
    # One connection name per dialect: tortoise caches each model's SQL by connection name, and a
    # process (the test suite) that opens SQLite then PostgreSQL must not reuse SQLite's SQL.
    name = _connection_name(connection["engine"])
    return {
        "connections": {name: connection},
        "apps": {"models": {"models": MODELS, "default_connection": name}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_database(database_url: str) -> None:
    """Connect and create the tables that are missing (safe when several processes start)."""
    config = tortoise_config(database_url)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    global _active
    _active = next(iter(config["connections"]))
    client = connection()
    if is_postgres(client):
        async with client.acquire_connection() as raw:
            await raw.execute("SELECT pg_advisory_lock($1)", _SCHEMA_LOCK_ID)
            try:
                await Tortoise.generate_schemas(safe=True)
                for summary in SUMMARIES:
                    await raw.execute(
                        f"ALTER TABLE {summary.table} SET (fillfactor = {SUMMARY_FILLFACTOR})"
                    )
            finally:
                await raw.execute("SELECT pg_advisory_unlock($1)", _SCHEMA_LOCK_ID)
    else:
        await Tortoise.generate_schemas(safe=True)


async def close_database() -> None:
    await Tortoise.close_connections()


@asynccontextmanager
async def database(database_url: str) -> AsyncIterator[BaseDBAsyncClient]:
    """Open the database for a command-line action, and close it after."""
    await open_database(database_url)
    try:
        yield connection()
    finally:
        await close_database()


def connection() -> BaseDBAsyncClient:
    """The open database's client (one database per process)."""
    client: BaseDBAsyncClient = connections.get(_active)
    return client


def _connection_name(engine: str) -> str:
    return "postgres" if engine == "tortoise.backends.asyncpg" else "sqlite"


def is_postgres(client: BaseDBAsyncClient) -> bool:
    return client.capabilities.dialect == "postgres"


def placeholders(client: BaseDBAsyncClient, count: int, start: int = 1) -> str:
    """`?, ?, ?` for SQLite, `$1, $2, $3` for asyncpg."""
    if is_postgres(client):
        return ", ".join(f"${i}" for i in range(start, start + count))
    return ", ".join("?" * count)
