"""The folder of a server process: an outage logs one line when its passes start failing and one
when they work again, never a traceback per pass, and keeps every row; /readyz answers 503
FOLDER_STALLED once every pass has failed longer than the folder allows; the folder's rows set
aside and sums saturated are in /metrics (docs/operations.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import date
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.auth.tokens import TokenChecker
from app.config import Settings
from app.core.records import UsageKey
from app.errors import UsageMetricsError
from app.ingest import ledger
from app.ingest.domain_cap import DomainCap
from app.ingest.folder import Folder, Stall
from app.main import render_error
from app.observability.endpoints import observability_routes
from app.observability.metrics import COUNTER_TABLES, Metrics
from app.storage.models.usage import KEY_COLUMNS
from app.storage.sql import BIGINT_MAX
from tests.helpers import (
    ADMIN_TOKEN,
    HELD_BACK_S,
    INGEST_TOKEN,
    NDJSON,
    app_client,
    graphql_data,
    line_on,
    ndjson,
    table_rows,
    usage_rows,
)
from tests.ingest.ledger_rows import insert_ledger_row, rows_at_ceiling
from tests.observability.scrape import scrape, value
from tests.relay import TcpRelay, through

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"
METRICS_TOKEN = "fold-metrics-token-5e1c"
FRESHNESS = "{ freshness { waitingBatches quarantinedBatches } }"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def post(client: httpx.AsyncClient, *lines: Any) -> None:
    response = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert response.status_code == 200, response.text


def probes(settings: Settings, folder: Folder, metrics: Metrics) -> httpx.AsyncClient:
    """/readyz and /metrics of `folder`, with the app's error handler."""
    app = Starlette(
        routes=observability_routes(settings, TokenChecker(settings), metrics, folder),
        exception_handlers={UsageMetricsError: render_error},
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_an_outage_logs_once_as_it_starts_and_once_as_it_ends_and_stalls_readyz(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    relay = TcpRelay("127.0.0.1", 5432)
    await relay.start()
    settings = Settings(
        database_url=through(postgres_url, relay.port),
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        metrics_token=METRICS_TOKEN,
        fold_interval_s=HELD_BACK_S,  # the app's own folder stays out of the way
    )
    clock, metrics, stop = Clock(), Metrics(), asyncio.Event()
    folder = Folder(1.0, DomainCap(200), metrics, clock=clock)
    failed: list[bool] = []
    stalls: list[Stall | None] = []
    try:
        async with app_client(settings) as client, probes(settings, folder, metrics) as probe:
            await post(client, line_on(DAY), line_on(DAY))
            await relay.stop()
            with caplog.at_level(logging.INFO, logger="app.ingest"):
                for _ in range(32):  # a pass a second for 32 s, the database away
                    failed.append(not await folder.fold_round(stop))
                    stalls.append(folder.stall())
                    clock.now += 1.0
                await relay.start()  # the same port: the database is back
                stalled = await probe.get("/readyz")
                worked = await folder.fold_round(stop)
                ready = await probe.get("/readyz")
            samples = await scrape(probe, METRICS_TOKEN)
            requests = sum(row["requests"] for row in await usage_rows())
            quarantined = await table_rows("ingest_quarantine")
    finally:
        await relay.stop()
    assert failed == [True] * 32
    # Failing since the first pass: the folder allows max(30 s, 3 intervals), then stalls.
    assert stalls[:31] == [None] * 31
    assert stalls[31] == Stall("database_unavailable", 31.0)
    assert (stalled.status_code, stalled.json()["error"]) == (503, "FOLDER_STALLED")
    assert int(stalled.headers["retry-after"]) > 0
    assert (worked, ready.status_code) == (True, 200)
    records = [r for r in caplog.records if r.name.startswith("app.ingest")]
    assert [r.levelname for r in records] == ["ERROR", "INFO"]
    assert records[0].getMessage().startswith("folding the ledger fails (database_unavailable: ")
    assert (
        records[1].getMessage() == "folding the ledger works again after 32 s and 32 failed passes"
    )
    assert all(r.exc_info is None for r in records)  # no traceback
    assert value(samples, "usage_metrics_fold_failures_total", kind="database_unavailable") == 32
    assert (requests, quarantined) == (2, [])  # kept in the ledger meanwhile, then counted once


async def test_the_server_s_folder_sets_aside_a_bad_row_and_counts_saturated_rows(
    settings: Settings,
) -> None:
    quick = replace(settings, fold_interval_s=0.05, metrics_token=METRICS_TOKEN)
    async with app_client(quick) as client:
        await post(client, line_on(DAY))
        await until(client, lambda found: found["waitingBatches"] == 0)
        row = (await usage_rows())[0]
        key = UsageKey(**{**{c: row[c] for c in KEY_COLUMNS}, "day": date.fromisoformat(DAY)})
        # Alone in its pass: the database adds it past the ceiling of every row it touches.
        await insert_ledger_row(ledger.encode({key: [BIGINT_MAX, BIGINT_MAX, BIGINT_MAX]}), 1)
        await insert_ledger_row('{"v": 1, "rows": [[', 1)
        await post(client, line_on(DAY, track="readDataFiles"))
        await until(client, lambda found: found == {"waitingBatches": 0, "quarantinedBatches": 1})
        samples = await wait_for_gauge(client)
        at_ceiling = await rows_at_ceiling()
    assert value(samples, "usage_metrics_fold_failures_total", kind="bad_ledger_row") == 1
    assert value(samples, "usage_metrics_fold_failures_total", kind="database_unavailable") == 0
    for table in COUNTER_TABLES:
        saturated = value(samples, "usage_metrics_saturated_rows_total", table=table)
        assert saturated == at_ceiling[table], table
    assert at_ceiling["usage_daily"] == 1


async def until(client: httpx.AsyncClient, condition: Any) -> None:
    deadline = time.monotonic() + 60.0  # a broken folder only; the machine may be busy
    while True:
        found = (await graphql_data(client, FRESHNESS))["freshness"]
        if condition(found):
            return
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


async def wait_for_gauge(client: httpx.AsyncClient) -> Any:
    """The metrics once the folder's round after the set-aside has counted the quarantine."""
    deadline = time.monotonic() + 60.0
    while True:
        samples = await scrape(client, METRICS_TOKEN)
        if value(samples, "usage_metrics_fold_quarantined_batches") == 1:
            return samples
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
