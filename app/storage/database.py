"""The database: Tortoise config from Settings, opening it migrated, and the SQL dialect."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import DBConnectionError, OperationalError, TransactionManagementError

from app.errors import ConfigError, DatabaseUnavailableError
from app.storage.migrator import apply_migrations, pending_migrations
from app.storage.opening import (
    CONNECT_TIMEOUT_S,
    check_folder,
    check_opens,
    connect_failure,
    sqlite_file,
)

MODELS = ["app.storage.models"]
# Errors that mean "the database did not answer or did not take the statement": callers answer
# 503 (DatabaseUnavailableError), never 500, and nothing half-done is kept.
DATABASE_ERRORS = (
    OperationalError,
    DBConnectionError,
    TransactionManagementError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # A failed COMMIT (SQLite's "database or disk is full") reaches us untranslated: tortoise
    # translates the errors of statements only (docs/ingest.md#whole-batch-errors).
    sqlite3.Error,
)
# What opening a connection may raise (asyncio's TimeoutError is an OSError).
CONNECT_ERRORS = (*DATABASE_ERRORS, sqlite3.Error)
MIGRATIONS = "app.storage.migrations"
# Several processes share one SQLite file: a writer waits for the lock instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
_active = "sqlite"  # the connection name of the open database, set by connect_database()


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
        connection["credentials"].setdefault("timeout", CONNECT_TIMEOUT_S)
        # No JIT: our statements are short, and their cost estimates (a block's rows guessed
        # from averages) went past jit_above_cost, so ranking every dataset over ten years spent
        # 226 ms compiling for 90 ms of work.
        server = connection["credentials"].setdefault("server_settings", {})
        server.setdefault("jit", "off")
        # A plan for each run's own values: asyncpg prepares every statement, and after five runs
        # PostgreSQL may switch to a generic plan, which misestimates a large owner's rows as one
        # (its top 100 datasets took 2.4 s instead of 86 ms: docs/storage.md). Our statements
        # are few and their planning takes a millisecond or two.
        server.setdefault("plan_cache_mode", "force_custom_plan")
        # Room to sort and hash a whole portal's year of callers (~10⁵ groups) in memory: at
        # the default 4 MB the admin's breakdowns spilled to disk in 25 batches. A statement
        # uses a few such nodes, on at most `maxsize` connections.
        server.setdefault("work_mem", "32MB")
    else:
        raise ConfigError("USAGE_METRICS_DATABASE_URL must be sqlite://... or postgres://...")
    # One connection name per dialect: tortoise caches each model's SQL by connection name, and a
    # process (the test suite) that opens SQLite then PostgreSQL must not reuse SQLite's SQL.
    name = _connection_name(connection["engine"])
    return {
        "connections": {name: connection},
        "apps": _apps(name),
        "use_tz": True,
        "timezone": "UTC",
    }


def database_file(database_url: str) -> Path | None:
    """The SQLite file `database_url` names (absolute), None for PostgreSQL or `:memory:`."""
    return sqlite_file(next(iter(tortoise_config(database_url)["connections"].values())))


async def open_database(database_url: str) -> None:
    """Connect and apply the pending migrations (once, when several processes start at once)."""
    await connect_database(database_url)
    await migrate_database()


async def connect_database(database_url: str) -> None:
    """Connect, leaving the schema as it is; a database that cannot be opened raises at once
    (ConfigError: a SQLite path in a missing folder; DatabaseUnavailableError: any other)."""
    config = tortoise_config(database_url)
    name, connection_config = next(iter(config["connections"].items()))
    path = sqlite_file(connection_config)
    if path is not None:
        check_folder(path)
        _create_private(str(path))
        check_opens(path)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    global _active
    _active = name
    try:
        # Connected here rather than by the first statement: tortoise keeps the lock of a
        # connection that failed to open (the next statement then waits forever), and its
        # migration recorder reads a failure as "no migration applied yet".
        await connections.get(name).create_connection(with_db=True)
    except CONNECT_ERRORS as exc:
        await close_database()
        raise DatabaseUnavailableError(connect_failure(exc, connection_config)) from exc


async def migrate_database() -> list[str]:
    """Apply the open database's pending migrations; the names of those applied."""
    return await apply_migrations(connection(), _apps(_active))


async def pending_database_migrations() -> list[str]:
    """The open database's migrations not applied yet, in order."""
    return await pending_migrations(connection(), _apps(_active))


def _create_private(path: str) -> None:
    """Create the SQLite file readable by its owner only (0600), before SQLite creates it with
    the umask (0644: any local user could read the tokens' hashes); its journal files take the
    same mode. An existing file keeps the mode it has."""
    if path == ":memory:" or os.path.exists(path):
        return
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return
    except OSError:
        return  # an unwritable folder: SQLite's own error, in one line, says it
    os.close(descriptor)


def _apps(connection_name: str) -> dict[str, dict[str, Any]]:
    return {
        "models": {
            "models": MODELS,
            "default_connection": connection_name,
            "migrations": MIGRATIONS,
        }
    }


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
