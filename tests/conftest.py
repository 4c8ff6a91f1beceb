"""Fixtures: the real app on a real SQLite file and on a real PostgreSQL database.

Async test modules set `pytestmark = pytest.mark.anyio` (anyio's pytest plugin, asyncio backend).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.main import create_app
from app.storage.database import connection, is_postgres
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN, empty_tables
from tests.server_processes import postgres_database


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with postgres_database() as url:
        yield url


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
        # Each batch counted in its request: a test reads right after posting. The folder's
        # tests (tests/ingest/test_fold.py) set an interval.
        fold_interval_s=0,
        # Reports and alerts are sent when a test asks (tests/notify set an interval).
        notify_interval_s=0,
        webhook_allow_private=True,
        notify_retry_delays_s=(0.0, 0.0),
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):  # ASGITransport skips it
        # The folder's round at start runs beside the first requests; over before the test
        # begins, none of its statements lands in a test's count of a request's statements.
        await application.state.folder.started.wait()
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
        await empty_tables(client)


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
