"""Fixtures: the real app on a real SQLite file and on a real PostgreSQL database.

Async test modules set `pytestmark = pytest.mark.anyio` (anyio's pytest plugin, asyncio backend).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.db import connection, is_postgres
from app.main import create_app
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN

# The server that tests create their PostgreSQL databases on (trust auth on this machine).
POSTGRES_ADMIN_URL = os.environ.get(
    "USAGE_METRICS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
TABLES = (
    "usage_daily",
    "usage_by_dataset",
    "usage_by_owner",
    "usage_by_caller",
    "resources",
    "ingest_batches",
    "tokens",
    "settings",
)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    import asyncio

    name = f"usage_metrics_test_{uuid.uuid4().hex[:12]}"
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable ({exc}); set USAGE_METRICS_TEST_POSTGRES_URL")
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage test runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'metrics.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        secret_key="test-secret-key",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):  # ASGITransport skips it
        await _empty_tables()
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _empty_tables() -> None:
    # The PostgreSQL database is shared by the session's tests; each starts from empty tables.
    client = connection()
    if is_postgres(client):
        await client.execute_script(f"TRUNCATE {', '.join(TABLES)}")


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
